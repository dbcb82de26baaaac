#include "projections/retention_summary.h"

#include <algorithm>
#include <limits>

#include "base/civil_time.h"

namespace lok::projections::internal {
namespace {

// 1: without the current facts (retention version 2), still decoded.
constexpr uint64_t kFormatDatedOnly = 1;
constexpr uint64_t kFormat = 2;

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

void ClearCurrent(CurrentFacts& current) {
  current.last_day.reset();
  current.last_contact_day.reset();
  current.won_count = 0;
  current.last_win_day = 0;
  current.wins.clear();
  current.twice_median_interval = 0;
  current.revenue.clear();
  current.open_delays.clear();
}

void Clear(RetentionSummary& summary) {
  summary.client_id = {};
  summary.salesperson = {};
  summary.region = {};
  summary.currencies.clear();
  summary.has_current = false;
  ClearCurrent(summary.current);
  summary.has_dated = true;
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

void PutOptionalDay(std::string& out, const std::optional<int64_t>& day) {
  PutVarint(out, day ? 1 : 0);
  if (day) PutSigned(out, *day);
}

bool ReadOptionalDay(Reader& reader, std::optional<int64_t>& day) {
  const uint64_t present = reader.Varint();
  if (present > 1) return false;
  if (present == 1) day = reader.Signed();
  return reader.ok();
}

void PutCurrentFacts(std::string& out, const CurrentFacts& current) {
  PutOptionalDay(out, current.last_day);
  PutOptionalDay(out, current.last_contact_day);
  PutVarint(out, static_cast<uint64_t>(current.won_count));
  if (current.won_count >= 1) PutSigned(out, current.last_win_day);
  if (current.won_count >= 2) PutVarint(out, static_cast<uint64_t>(current.twice_median_interval));
  PutVarint(out, current.revenue.size());
  for (const auto& [currency, minor] : current.revenue) {
    PutVarint(out, currency);
    PutSigned(out, minor);
  }
  PutVarint(out, current.open_delays.size());
  for (const DatedAmount& delay : current.open_delays) {
    PutSigned(out, delay.day);
    PutSigned(out, delay.minor);
    PutVarint(out, delay.currency);
  }
  // Latest first, each as the days before the one printed before it.
  int64_t previous = current.last_win_day;
  for (const DatedAmount& win : current.wins) {
    PutVarint(out, static_cast<uint64_t>(previous - win.day));
    PutSigned(out, win.minor);
    PutVarint(out, win.currency);
    previous = win.day;
  }
}

// Stops after the wins dated after `wins_after` (all of them when the
// dated facts follow).
bool ReadCurrentFacts(Reader& reader, size_t currencies, int64_t wins_after,
                      CurrentFacts& current) {
  if (!ReadOptionalDay(reader, current.last_day) ||
      !ReadOptionalDay(reader, current.last_contact_day)) {
    return false;
  }
  const uint64_t won = reader.Varint();
  if (won > std::numeric_limits<uint32_t>::max()) return false;
  current.won_count = static_cast<int64_t>(won);
  if (won >= 1) current.last_win_day = reader.Signed();
  if (won >= 2) {
    const uint64_t twice = reader.Varint();
    if (twice > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    current.twice_median_interval = static_cast<int64_t>(twice);
  }
  const size_t revenues = reader.Count();
  for (size_t index = 0; index < revenues && reader.ok(); ++index) {
    const uint64_t currency = reader.Varint();
    if (currency >= currencies) return false;
    current.revenue.emplace_back(static_cast<uint32_t>(currency), reader.Signed());
  }
  const size_t delays = reader.Count();
  for (size_t index = 0; index < delays && reader.ok(); ++index) {
    DatedAmount& delay = current.open_delays.emplace_back();
    delay.day = reader.Signed();
    delay.flag = true;
    delay.minor = reader.Signed();
    const uint64_t currency = reader.Varint();
    if (currency >= currencies) return false;
    delay.currency = static_cast<uint32_t>(currency);
  }
  int64_t day = current.last_win_day;
  for (uint64_t index = 0; index < won && reader.ok(); ++index) {
    day -= static_cast<int64_t>(reader.Varint());
    if (day <= wins_after) break;
    DatedAmount& win = current.wins.emplace_back();
    win.day = day;
    win.flag = true;
    win.minor = reader.Signed();
    const uint64_t currency = reader.Varint();
    if (currency >= currencies) return false;
    win.currency = static_cast<uint32_t>(currency);
  }
  return reader.ok();
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

int64_t TwiceMedianInterval(std::vector<int64_t>& days) {
  if (!std::is_sorted(days.begin(), days.end())) std::sort(days.begin(), days.end());
  for (size_t index = 0; index + 1 < days.size(); ++index) {
    days[index] = days[index + 1] - days[index];
  }
  days.pop_back();
  // The middle one (and, for an even count, the one before it) as a full
  // sort would place them.
  const size_t middle = days.size() / 2;
  const auto middle_at = days.begin() + static_cast<std::ptrdiff_t>(middle);
  std::nth_element(days.begin(), middle_at, days.end());
  if (days.size() % 2 == 0) {
    std::nth_element(days.begin(), middle_at - 1, middle_at);
    return days[middle - 1] + days[middle];
  }
  return 2 * days[middle];
}

void CurrentFactsOf(const RetentionSummary& summary, CurrentFacts& current) {
  ClearCurrent(current);
  const auto note_day = [&](int64_t day) {
    current.last_day = current.last_day ? std::max(*current.last_day, day) : day;
  };
  if (!summary.contact_days.empty()) {
    current.last_contact_day = summary.contact_days.back();
    note_day(summary.contact_days.back());
  }
  for (const DatedAmount& outcome : summary.outcomes) note_day(outcome.day);
  for (const DatedAmount& payment : summary.payments) note_day(payment.day);
  // On a day on or after every fact, the latest outcome of a deal and the
  // latest payment event of an invoice are their last ones (mark order).
  uint32_t begin = 0;
  for (uint32_t end : summary.deal_ends) {
    if (end > begin && summary.outcomes[end - 1].flag) {
      DatedAmount win = summary.outcomes[end - 1];
      win.days_overdue = 0;
      current.wins.push_back(win);
      const std::string_view code = summary.currencies[win.currency];
      if (!code.empty()) {
        auto at = std::lower_bound(
            current.revenue.begin(), current.revenue.end(), code,
            [&](const std::pair<uint32_t, int64_t>& entry, std::string_view other) {
              return summary.currencies[entry.first] < other;
            });
        if (at != current.revenue.end() && summary.currencies[at->first] == code) {
          at->second += win.minor;
        } else {
          current.revenue.insert(at, {win.currency, win.minor});
        }
      }
    }
    begin = end;
  }
  std::stable_sort(current.wins.begin(), current.wins.end(),
                   [](const DatedAmount& left, const DatedAmount& right) {
                     return left.day > right.day;
                   });
  current.won_count = static_cast<int64_t>(current.wins.size());
  if (!current.wins.empty()) current.last_win_day = current.wins.front().day;
  if (current.wins.size() >= 2) {
    std::vector<int64_t> days;
    days.reserve(current.wins.size());
    for (const DatedAmount& win : current.wins) days.push_back(win.day);
    current.twice_median_interval = TwiceMedianInterval(days);
  }
  begin = 0;
  for (uint32_t end : summary.invoice_ends) {
    if (end > begin && summary.payments[end - 1].flag) {
      const DatedAmount& delay = summary.payments[end - 1];
      current.open_delays.push_back({.day = delay.day - delay.days_overdue,
                                     .flag = true,
                                     .days_overdue = 0,
                                     .minor = delay.minor,
                                     .currency = delay.currency});
    }
    begin = end;
  }
}

std::string EncodeRetentionSummary(const RetentionSummary& summary) {
  CurrentFacts current;
  CurrentFactsOf(summary, current);
  std::string out;
  out.reserve(64 + 4 * summary.contact_days.size() +
              12 * (summary.outcomes.size() + summary.payments.size() + current.wins.size()));
  PutVarint(out, kFormat);
  PutString(out, summary.client_id);
  PutString(out, summary.salesperson);
  PutString(out, summary.region);
  PutVarint(out, summary.currencies.size());
  for (std::string_view currency : summary.currencies) PutString(out, currency);
  PutCurrentFacts(out, current);
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

namespace {

// `day`: decode the dated facts only when the current facts do not hold on
// it; nullopt: always.
bool Decode(std::string_view bytes, std::optional<int64_t> day, int64_t wins_after,
            RetentionSummary& summary) {
  Clear(summary);
  Reader reader(bytes);
  const uint64_t format = reader.Varint();
  if (!reader.ok() || (format != kFormat && format != kFormatDatedOnly)) return false;
  summary.client_id = reader.String();
  summary.salesperson = reader.String();
  summary.region = reader.String();
  const size_t currencies = reader.Count();
  for (size_t index = 0; index < currencies && reader.ok(); ++index) {
    summary.currencies.push_back(reader.String());
  }
  if (!reader.ok()) return false;
  if (format == kFormat) {
    // The last dated day comes first: it says whether the dated facts are
    // needed, and with them every win.
    Reader peek = reader;
    std::optional<int64_t> last_day;
    if (!ReadOptionalDay(peek, last_day)) return false;
    const bool current_only = day && (!last_day || *day >= *last_day);
    if (!ReadCurrentFacts(reader, summary.currencies.size(),
                          current_only ? wins_after : std::numeric_limits<int64_t>::min(),
                          summary.current)) {
      return false;
    }
    summary.has_current = true;
    if (current_only) {
      summary.has_dated = false;
      return true;
    }
  }
  const size_t days = reader.Count();
  int64_t contact_day = 0;
  for (size_t index = 0; index < days && reader.ok(); ++index) {
    contact_day =
        index == 0 ? reader.Signed() : contact_day + static_cast<int64_t>(reader.Varint());
    summary.contact_days.push_back(contact_day);
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

}  // namespace

bool DecodeRetentionSummary(std::string_view bytes, RetentionSummary& summary) {
  return Decode(bytes, std::nullopt, std::numeric_limits<int64_t>::min(), summary);
}

bool DecodeRetentionSummaryFor(std::string_view bytes, int64_t day, int64_t wins_after,
                               RetentionSummary& summary) {
  return Decode(bytes, day, wins_after, summary);
}

}  // namespace lok::projections::internal
