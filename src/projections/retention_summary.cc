#include "projections/retention_summary.h"

#include <algorithm>

#include "base/civil_time.h"

namespace lok::projections::internal {
namespace {

constexpr uint64_t kFormat = 1;

void PutVarint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void PutSigned(std::string& out, int64_t value) {
  PutVarint(out, (static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63));
}

void PutString(std::string& out, std::string_view value) {
  PutVarint(out, value.size());
  out.append(value);
}

// Reads the encoding front to back; any failure sticks.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  uint64_t Varint() {
    // Most values (days apart, flags, indexes) fit in one byte.
    if (position_ < bytes_.size() && static_cast<uint8_t>(bytes_[position_]) < 0x80) {
      return static_cast<uint8_t>(bytes_[position_++]);
    }
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (position_ >= bytes_.size()) break;
      const auto byte = static_cast<uint8_t>(bytes_[position_++]);
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return value;
    }
    ok_ = false;
    return 0;
  }

  int64_t Signed() {
    const uint64_t value = Varint();
    return static_cast<int64_t>(value >> 1) ^ -static_cast<int64_t>(value & 1);
  }

  std::string_view String() {
    const uint64_t size = Varint();
    if (!ok_ || size > bytes_.size() - position_) {
      ok_ = false;
      return {};
    }
    std::string_view value = bytes_.substr(position_, size);
    position_ += size;
    return value;
  }

  // A count of items each at least one byte long (guards against a corrupt
  // count reserving gigabytes).
  size_t Count() {
    const uint64_t count = Varint();
    if (count > bytes_.size() - position_) ok_ = false;
    return ok_ ? static_cast<size_t>(count) : 0;
  }

  bool ok() const { return ok_; }
  bool done() const { return position_ == bytes_.size(); }

 private:
  std::string_view bytes_;
  size_t position_ = 0;
  bool ok_ = true;
};

uint32_t CurrencyIndex(std::string_view currency, RetentionSummary& summary) {
  auto found = std::find(summary.currencies.begin(), summary.currencies.end(), currency);
  if (found != summary.currencies.end()) {
    return static_cast<uint32_t>(found - summary.currencies.begin());
  }
  summary.currencies.push_back(currency);
  return static_cast<uint32_t>(summary.currencies.size() - 1);
}

void Clear(RetentionSummary& summary) {
  summary.client_id = {};
  summary.salesperson = {};
  summary.region = {};
  summary.currencies.clear();
  summary.contact_days.clear();
  summary.outcomes.clear();
  summary.deal_ends.clear();
  summary.payments.clear();
  summary.invoice_ends.clear();
}

void PutDated(std::string& out, const DatedAmount& dated, bool with_days_overdue) {
  PutSigned(out, dated.day);
  PutVarint(out, dated.flag ? 1 : 0);
  if (with_days_overdue) PutSigned(out, dated.days_overdue);
  PutSigned(out, dated.minor);
  PutVarint(out, dated.currency);
}

void PutGroups(std::string& out, const std::vector<DatedAmount>& items,
               const std::vector<uint32_t>& ends, bool with_days_overdue) {
  PutVarint(out, ends.size());
  uint32_t begin = 0;
  for (uint32_t end : ends) {
    PutVarint(out, end - begin);
    for (uint32_t index = begin; index < end; ++index) {
      PutDated(out, items[index], with_days_overdue);
    }
    begin = end;
  }
}

bool ReadGroups(Reader& reader, size_t currencies, bool with_days_overdue,
                std::vector<DatedAmount>& items, std::vector<uint32_t>& ends) {
  const size_t groups = reader.Count();
  for (size_t group = 0; group < groups && reader.ok(); ++group) {
    const size_t count = reader.Count();
    for (size_t index = 0; index < count && reader.ok(); ++index) {
      DatedAmount& dated = items.emplace_back();
      dated.day = reader.Signed();
      dated.flag = reader.Varint() != 0;
      if (with_days_overdue) dated.days_overdue = reader.Signed();
      dated.minor = reader.Signed();
      const uint64_t currency = reader.Varint();
      if (currency >= currencies) return false;
      dated.currency = static_cast<uint32_t>(currency);
    }
    ends.push_back(static_cast<uint32_t>(items.size()));
  }
  return reader.ok();
}

}  // namespace

void SummarizeRetention(const lok::v1::RetentionClient& client, RetentionSummary& summary) {
  Clear(summary);
  summary.client_id = client.client_id();
  summary.salesperson = client.salesperson();
  summary.region = client.region();
  summary.contact_days.assign(client.contact_days().begin(), client.contact_days().end());
  for (const auto& deal : client.deals()) {
    for (const auto& terminal : deal.terminals()) {
      summary.outcomes.push_back(
          {.day = DayOfSeconds(terminal.mark().occurred_at().seconds()),
           .flag = terminal.won(),
           .days_overdue = 0,
           .minor = terminal.amount().minor(),
           .currency = CurrencyIndex(terminal.amount().currency(), summary)});
    }
    summary.deal_ends.push_back(static_cast<uint32_t>(summary.outcomes.size()));
  }
  for (const auto& invoice : client.invoices()) {
    for (const auto& payment : invoice.payments()) {
      summary.payments.push_back({.day = DayOfSeconds(payment.mark().occurred_at().seconds()),
                                  .flag = payment.delayed(),
                                  .days_overdue = payment.days_overdue(),
                                  .minor = payment.amount().minor(),
                                  .currency = CurrencyIndex(payment.amount().currency(), summary)});
    }
    summary.invoice_ends.push_back(static_cast<uint32_t>(summary.payments.size()));
  }
}

std::string EncodeRetentionSummary(const RetentionSummary& summary) {
  std::string out;
  out.reserve(64 + 4 * summary.contact_days.size() +
              12 * (summary.outcomes.size() + summary.payments.size()));
  PutVarint(out, kFormat);
  PutString(out, summary.client_id);
  PutString(out, summary.salesperson);
  PutString(out, summary.region);
  PutVarint(out, summary.currencies.size());
  for (std::string_view currency : summary.currencies) PutString(out, currency);
  PutVarint(out, summary.contact_days.size());
  int64_t previous = 0;
  for (size_t index = 0; index < summary.contact_days.size(); ++index) {
    const int64_t day = summary.contact_days[index];
    if (index == 0) {
      PutSigned(out, day);
    } else {
      PutVarint(out, static_cast<uint64_t>(day - previous));
    }
    previous = day;
  }
  PutGroups(out, summary.outcomes, summary.deal_ends, /*with_days_overdue=*/false);
  PutGroups(out, summary.payments, summary.invoice_ends, /*with_days_overdue=*/true);
  return out;
}

bool DecodeRetentionSummary(std::string_view bytes, RetentionSummary& summary) {
  Clear(summary);
  Reader reader(bytes);
  if (reader.Varint() != kFormat || !reader.ok()) return false;
  summary.client_id = reader.String();
  summary.salesperson = reader.String();
  summary.region = reader.String();
  const size_t currencies = reader.Count();
  for (size_t index = 0; index < currencies && reader.ok(); ++index) {
    summary.currencies.push_back(reader.String());
  }
  const size_t days = reader.Count();
  int64_t day = 0;
  for (size_t index = 0; index < days && reader.ok(); ++index) {
    day = index == 0 ? reader.Signed() : day + static_cast<int64_t>(reader.Varint());
    summary.contact_days.push_back(day);
  }
  if (!reader.ok()) return false;
  if (!ReadGroups(reader, summary.currencies.size(), false, summary.outcomes, summary.deal_ends)) {
    return false;
  }
  if (!ReadGroups(reader, summary.currencies.size(), true, summary.payments,
                  summary.invoice_ends)) {
    return false;
  }
  return reader.done();
}

}  // namespace lok::projections::internal
