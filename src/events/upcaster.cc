#include "events/upcaster.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/json.hpp>
#include <limits>

namespace lok::events {
namespace {

std::atomic<uint64_t> upcast_count{0};

constexpr uint32_t kDealWonField = 23;  // lok.v1.Event.deal_won
constexpr uint32_t kVarint = 0;
constexpr uint32_t kFixed64 = 1;
constexpr uint32_t kLengthDelimited = 2;
constexpr uint32_t kFixed32 = 5;
constexpr uint64_t kMaxFieldNumber = (uint64_t{1} << 29) - 1;

// An error message quotes at most this much of the offending text.
constexpr size_t kMaxQuotedLength = 40;

std::string Quote(std::string_view text) {
  if (text.size() <= kMaxQuotedLength) return "\"" + std::string(text) + "\"";
  return "\"" + std::string(text.substr(0, kMaxQuotedLength)) + "...\"";
}

void CountUpcast(std::string_view form, std::string_view decimal, std::string_view currency,
                 int64_t minor) {
  upcast_count.fetch_add(1, std::memory_order_relaxed);
  spdlog::debug("events: upcast a pre-Money deal_won ({}): amount {} {} -> {} minor units", form,
                Quote(decimal), currency, minor);
}

// ---- JSON ----

// Converts `deal_won` in place when it has the pre-Money shape. Returns
// whether it did.
StatusOr<bool> UpcastDealWonJson(boost::json::object& deal_won) {
  boost::json::value* amount = deal_won.if_contains("amount");
  if (amount == nullptr) return false;
  if (amount->is_number()) {
    return InvalidArgumentError(
        "deal_won.amount: must be a Money object such as {\"minor\":\"123450\",\"currency\":"
        "\"EUR\"} (or, in the pre-Money shape, a decimal string such as \"1234.50\"); a JSON "
        "number is never exact enough for money");
  }
  if (!amount->is_string()) return false;  // the current shape, or an error the decoder names
  const boost::json::value* currency = deal_won.if_contains("currency");
  if (currency == nullptr || !currency->is_string() || currency->as_string().empty()) {
    return InvalidArgumentError(
        "deal_won.currency: required beside a decimal-string deal_won.amount (the pre-Money "
        "shape), e.g. {\"amount\":\"1234.50\",\"currency\":\"EUR\"}");
  }
  const std::string code(currency->as_string());
  const std::string decimal(amount->as_string());
  LOK_ASSIGN_OR_RETURN(int64_t minor, DecimalToMinorUnits(decimal, code, "deal_won.amount"));
  boost::json::object money;
  money["minor"] = std::to_string(minor);  // int64 is a string in the protobuf JSON mapping
  money["currency"] = code;
  *amount = std::move(money);
  deal_won.erase("currency");  // invalidates `amount`
  CountUpcast("JSON", decimal, code, minor);
  return true;
}

// ---- protobuf binary ----

struct WireField {
  uint64_t number = 0;
  uint32_t wire_type = 0;
  std::string_view raw;      // the whole field: tag, length and value
  std::string_view payload;  // the value of a length-delimited field
};

// Reads the top-level fields of one message's wire bytes without decoding
// them. Groups (never used in proto3) count as malformed.
class WireReader {
 public:
  explicit WireReader(std::string_view bytes) : rest_(bytes) {}

  // The next field; false at the end or when the bytes are malformed.
  bool Next(WireField& field) {
    if (rest_.empty() || malformed_) return false;
    const char* start = rest_.data();
    uint64_t tag = 0;
    if (!ReadVarint(tag)) return Fail();
    field.number = tag >> 3;
    field.wire_type = static_cast<uint32_t>(tag & 7);
    field.payload = {};
    if (field.number == 0 || field.number > kMaxFieldNumber) return Fail();
    uint64_t value = 0;
    switch (field.wire_type) {
      case kVarint:
        if (!ReadVarint(value)) return Fail();
        break;
      case kFixed64:
        if (!Skip(8)) return Fail();
        break;
      case kFixed32:
        if (!Skip(4)) return Fail();
        break;
      case kLengthDelimited:
        if (!ReadVarint(value) || value > rest_.size()) return Fail();
        field.payload = rest_.substr(0, static_cast<size_t>(value));
        rest_.remove_prefix(static_cast<size_t>(value));
        break;
      default:
        return Fail();
    }
    field.raw = std::string_view(start, static_cast<size_t>(rest_.data() - start));
    return true;
  }

  bool malformed() const { return malformed_; }

 private:
  bool ReadVarint(uint64_t& value) {
    value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (rest_.empty()) return false;
      const auto byte = static_cast<uint8_t>(rest_.front());
      rest_.remove_prefix(1);
      value |= uint64_t{byte & 0x7Fu} << shift;
      if ((byte & 0x80u) == 0) return true;
    }
    return false;
  }

  bool Skip(size_t count) {
    if (rest_.size() < count) return false;
    rest_.remove_prefix(count);
    return true;
  }

  bool Fail() {
    malformed_ = true;
    return false;
  }

  std::string_view rest_;
  bool malformed_ = false;
};

void AppendVarint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void AppendTag(std::string& out, uint32_t number, uint32_t wire_type) {
  AppendVarint(out, (uint64_t{number} << 3) | wire_type);
}

bool AllPrintableAscii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char letter) {
    const auto byte = static_cast<unsigned char>(letter);
    return byte >= 0x20 && byte <= 0x7E;
  });
}

// The DealWon payload in the current shape, or std::nullopt when it already
// is (or is malformed: the decoder reports that).
StatusOr<std::optional<std::string>> UpcastDealWonBinary(std::string_view deal_won) {
  std::optional<std::string_view> amount;
  std::optional<std::string_view> currency;
  WireReader reader(deal_won);
  WireField field;
  while (reader.Next(field)) {
    if (field.wire_type != kLengthDelimited) continue;
    if (field.number == 1) amount = field.payload;
    if (field.number == 2) currency = field.payload;
  }
  if (reader.malformed() || !amount || amount->empty() || !AllPrintableAscii(*amount)) {
    return std::optional<std::string>();
  }
  if (!currency || currency->empty()) {
    return InvalidArgumentError(
        "deal_won.currency: required beside a decimal-string deal_won.amount (the pre-Money "
        "shape: string amount = 1; string currency = 2)");
  }
  LOK_ASSIGN_OR_RETURN(int64_t minor, DecimalToMinorUnits(*amount, *currency, "deal_won.amount"));
  std::string money;
  if (minor != 0) {
    AppendTag(money, 1, kVarint);  // Money.minor
    AppendVarint(money, static_cast<uint64_t>(minor));
  }
  AppendTag(money, 2, kLengthDelimited);  // Money.currency
  AppendVarint(money, currency->size());
  money.append(*currency);

  std::string upcast;
  bool money_written = false;
  WireReader rewriter(deal_won);
  while (rewriter.Next(field)) {
    const bool old_field =
        field.wire_type == kLengthDelimited && (field.number == 1 || field.number == 2);
    if (!old_field) {
      upcast.append(field.raw);  // fields this version does not know are kept
    } else if (field.number == 1 && !money_written) {
      AppendTag(upcast, 1, kLengthDelimited);  // DealWon.amount
      AppendVarint(upcast, money.size());
      upcast.append(money);
      money_written = true;
    }
  }
  CountUpcast("binary", *amount, *currency, minor);
  return std::optional<std::string>(std::move(upcast));
}

}  // namespace

StatusOr<std::optional<std::string>> UpcastJson(std::string_view json) {
  // Only deal_won has an old shape; every other event skips the second parse.
  static constexpr std::array<std::string_view, 2> kDealWonKeys = {"deal_won", "dealWon"};
  if (std::none_of(kDealWonKeys.begin(), kDealWonKeys.end(), [json](std::string_view key) {
        return json.find(key) != std::string_view::npos;
      })) {
    return std::optional<std::string>();
  }
  boost::system::error_code error;
  boost::json::value document =
      boost::json::parse(boost::json::string_view(json.data(), json.size()), error);
  if (error || !document.is_object()) return std::optional<std::string>();
  bool changed = false;
  for (std::string_view key : kDealWonKeys) {
    boost::json::value* payload =
        document.as_object().if_contains(boost::json::string_view(key.data(), key.size()));
    if (payload == nullptr || !payload->is_object()) continue;
    LOK_ASSIGN_OR_RETURN(bool upcast, UpcastDealWonJson(payload->as_object()));
    changed = changed || upcast;
  }
  if (!changed) return std::optional<std::string>();
  return std::optional<std::string>(boost::json::serialize(document));
}

StatusOr<std::optional<std::string>> UpcastBinary(std::string_view bytes) {
  // Most events are not deal_won: one pass over the top-level tags decides.
  WireReader scanner(bytes);
  WireField field;
  bool has_deal_won = false;
  while (!has_deal_won && scanner.Next(field)) {
    has_deal_won = field.number == kDealWonField && field.wire_type == kLengthDelimited;
  }
  if (!has_deal_won) return std::optional<std::string>();

  std::string upcast;
  bool changed = false;
  WireReader reader(bytes);
  while (reader.Next(field)) {
    if (field.number == kDealWonField && field.wire_type == kLengthDelimited) {
      LOK_ASSIGN_OR_RETURN(std::optional<std::string> deal_won, UpcastDealWonBinary(field.payload));
      if (deal_won) {
        AppendTag(upcast, kDealWonField, kLengthDelimited);
        AppendVarint(upcast, deal_won->size());
        upcast.append(*deal_won);
        changed = true;
        continue;
      }
    }
    upcast.append(field.raw);
  }
  if (reader.malformed() || !changed) return std::optional<std::string>();
  return std::optional<std::string>(std::move(upcast));
}

uint64_t UpcastCount() { return upcast_count.load(std::memory_order_relaxed); }

int MinorUnitExponent(std::string_view currency) {
  static constexpr std::array<std::string_view, 17> kNoDecimals = {
      "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG",
      "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"};
  static constexpr std::array<std::string_view, 7> kThreeDecimals = {"BHD", "IQD", "JOD", "KWD",
                                                                     "LYD", "OMR", "TND"};
  static constexpr std::array<std::string_view, 2> kFourDecimals = {"CLF", "UYW"};
  auto listed = [currency](const auto& codes) {
    return std::find(codes.begin(), codes.end(), currency) != codes.end();
  };
  if (listed(kNoDecimals)) return 0;
  if (listed(kThreeDecimals)) return 3;
  if (listed(kFourDecimals)) return 4;
  return 2;
}

StatusOr<int64_t> DecimalToMinorUnits(std::string_view decimal, std::string_view currency,
                                      std::string_view field) {
  auto all_digits = [](std::string_view text) {
    return !text.empty() && std::all_of(text.begin(), text.end(),
                                        [](char digit) { return digit >= '0' && digit <= '9'; });
  };
  const size_t point = decimal.find('.');
  const std::string_view whole = decimal.substr(0, point);
  const std::string_view fraction =
      point == std::string_view::npos ? std::string_view() : decimal.substr(point + 1);
  if (!all_digits(whole) || (point != std::string_view::npos && !all_digits(fraction))) {
    return InvalidArgumentError(std::string(field) +
                                ": must be a non-negative decimal number such as \"1234.50\" "
                                "(digits, then optionally '.' and digits), not " +
                                Quote(decimal));
  }
  const auto exponent = static_cast<size_t>(MinorUnitExponent(currency));
  if (fraction.size() > exponent &&
      fraction.substr(exponent).find_first_not_of('0') != std::string_view::npos) {
    return InvalidArgumentError(std::string(field) + ": " + Quote(decimal) +
                                " has more decimal places than the minor unit of " +
                                std::string(currency) + " allows (" + std::to_string(exponent) +
                                "); amounts are never rounded");
  }
  int64_t minor = 0;
  bool overflow = false;
  auto push_digit = [&minor, &overflow](char digit) {
    const int64_t value = digit - '0';
    if (minor > (std::numeric_limits<int64_t>::max() - value) / 10) {
      overflow = true;
      return;
    }
    minor = minor * 10 + value;
  };
  for (char digit : whole) push_digit(digit);
  for (size_t place = 0; place < exponent; ++place) {
    push_digit(place < fraction.size() ? fraction[place] : '0');
  }
  if (overflow) {
    return InvalidArgumentError(std::string(field) + ": " + Quote(decimal) +
                                " is too large: in minor units it must fit in a signed 64-bit "
                                "integer");
  }
  return minor;
}

}  // namespace lok::events
