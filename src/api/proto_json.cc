#include "api/proto_json.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/timestamp.pb.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <string_view>
#include <utility>
#include <vector>

#include "lok/v1/retention.pb.h"

namespace lok::api {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// The range google.protobuf.Timestamp allows in JSON (0001-01-01 to 9999-12-31).
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;

// Prints one message; false at the first value the fast path does not cover
// (the caller then discards `out` and falls back to the library).
class Printer {
 public:
  explicit Printer(std::string& out) : out_(out) {}

  bool PrintMessage(const Message& message) {
    const Descriptor* descriptor = message.GetDescriptor();
    if (descriptor->file()->name().starts_with("google/protobuf/")) {
      if (descriptor->full_name() != "google.protobuf.Timestamp") return false;
      return PrintTimestamp(message);
    }
    const Reflection* reflection = message.GetReflection();
    out_.push_back('{');
    bool first = true;
    // The library's order: fields in declaration order, except that a set
    // Timestamp or a set member of a oneof (proto3 `optional` too) comes
    // after all of them, by field number (its tree of defaults has no slot
    // for those, so it appends them as it meets them in the serialised bytes).
    std::vector<const FieldDescriptor*> appended;
    for (int index = 0; index < descriptor->field_count(); ++index) {
      const FieldDescriptor* field = descriptor->field(index);
      if (!field->is_repeated() && field->has_presence()) {
        if (!reflection->HasField(message, field)) continue;
        const bool timestamp = field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
                               field->message_type()->full_name() == "google.protobuf.Timestamp";
        const bool oneof_scalar = field->containing_oneof() != nullptr &&
                                  field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE;
        if (timestamp || oneof_scalar) {
          appended.push_back(field);
          continue;
        }
      }
      if (!PrintField(message, *reflection, field, first)) return false;
    }
    std::sort(appended.begin(), appended.end(),
              [](const FieldDescriptor* left, const FieldDescriptor* right) {
                return left->number() < right->number();
              });
    for (const FieldDescriptor* field : appended) {
      if (!PrintField(message, *reflection, field, first)) return false;
    }
    out_.push_back('}');
    return true;
  }

  // lok.v1.RetentionResponse through the generated accessors: the queue's
  // answer is the largest Lok prints (~60 fields and ~20 doubles per entry,
  // each reached through reflection in ~75 ns). The same bytes as
  // PrintMessage, by its rules: declaration order, every scalar, set
  // messages only, 64-bit integers quoted, map keys in numeric order.
  // REQUIRES: RetentionLayoutIsKnown().
  bool PrintRetention(const lok::v1::RetentionResponse& response) {
    out_.append("{\"asOf\":");
    if (!AppendString(response.as_of())) return false;
    out_.append(",\"currency\":");
    if (!AppendString(response.currency())) return false;
    out_.append(",\"entries\":[");
    for (int index = 0; index < response.entries_size(); ++index) {
      if (index > 0) out_.push_back(',');
      if (!PrintRetentionEntry(response.entries(index))) return false;
    }
    out_.append("],\"candidates\":");
    AppendQuotedInteger(response.candidates());
    out_.append(",\"complete\":");
    out_.append(response.complete() ? "true" : "false");
    out_.append(",\"offsets\":{");
    std::vector<std::pair<int32_t, int64_t>> offsets(response.offsets().begin(),
                                                     response.offsets().end());
    std::sort(offsets.begin(), offsets.end());
    for (size_t index = 0; index < offsets.size(); ++index) {
      if (index > 0) out_.push_back(',');
      AppendQuotedInteger(offsets[index].first);
      out_.push_back(':');
      AppendQuotedInteger(offsets[index].second);
    }
    out_.append("}}");
    return true;
  }

  // Whether the retention messages have the fields PrintRetention prints
  // (a field added to them sends the answer to PrintMessage until
  // PrintRetention prints it too).
  static bool RetentionLayoutIsKnown() {
    static const bool known = [] {
      const auto names = [](const Descriptor* descriptor) {
        std::string joined;
        for (int index = 0; index < descriptor->field_count(); ++index) {
          joined.append(descriptor->field(index)->json_name()).push_back(' ');
        }
        return joined;
      };
      return names(lok::v1::RetentionResponse::descriptor()) ==
                 "asOf currency entries candidates complete offsets " &&
             names(lok::v1::RetentionEntry::descriptor()) ==
                 "clientId salesperson region score reasons nextContactDue lastContact revenue "
                 "overdue wonDeals " &&
             names(lok::v1::RetentionReason::descriptor()) ==
                 "term value weight contribution days thresholdDays amount baselineAmount share " &&
             names(lok::v1::Money::descriptor()) == "minor currency ";
    }();
    return known;
  }

 private:
  bool PrintRetentionEntry(const lok::v1::RetentionEntry& entry) {
    out_.append("{\"clientId\":");
    if (!AppendString(entry.client_id())) return false;
    out_.append(",\"salesperson\":");
    if (!AppendString(entry.salesperson())) return false;
    out_.append(",\"region\":");
    if (!AppendString(entry.region())) return false;
    out_.append(",\"score\":");
    AppendDouble(entry.score());
    out_.append(",\"reasons\":[");
    for (int index = 0; index < entry.reasons_size(); ++index) {
      if (index > 0) out_.push_back(',');
      if (!PrintRetentionReason(entry.reasons(index))) return false;
    }
    out_.append("],\"nextContactDue\":");
    if (!AppendString(entry.next_contact_due())) return false;
    out_.append(",\"lastContact\":");
    if (!AppendString(entry.last_contact())) return false;
    out_.append(",\"revenue\":");
    if (!PrintMoneyList(entry.revenue())) return false;
    out_.append(",\"overdue\":");
    if (!PrintMoneyList(entry.overdue())) return false;
    out_.append(",\"wonDeals\":");
    AppendQuotedInteger(entry.won_deals());
    out_.push_back('}');
    return true;
  }

  bool PrintRetentionReason(const lok::v1::RetentionReason& reason) {
    out_.append("{\"term\":");
    if (!AppendString(reason.term())) return false;
    out_.append(",\"value\":");
    AppendDouble(reason.value());
    out_.append(",\"weight\":");
    AppendDouble(reason.weight());
    out_.append(",\"contribution\":");
    AppendDouble(reason.contribution());
    out_.append(",\"days\":");
    AppendQuotedInteger(reason.days());
    out_.append(",\"thresholdDays\":");
    AppendDouble(reason.threshold_days());
    if (reason.has_amount()) {
      out_.append(",\"amount\":");
      if (!PrintMoney(reason.amount())) return false;
    }
    if (reason.has_baseline_amount()) {
      out_.append(",\"baselineAmount\":");
      if (!PrintMoney(reason.baseline_amount())) return false;
    }
    out_.append(",\"share\":");
    AppendDouble(reason.share());
    out_.push_back('}');
    return true;
  }

  bool PrintMoneyList(const google::protobuf::RepeatedPtrField<lok::v1::Money>& list) {
    out_.push_back('[');
    for (int index = 0; index < list.size(); ++index) {
      if (index > 0) out_.push_back(',');
      if (!PrintMoney(list.Get(index))) return false;
    }
    out_.push_back(']');
    return true;
  }

  bool PrintMoney(const lok::v1::Money& money) {
    out_.append("{\"minor\":");
    AppendQuotedInteger(money.minor());
    out_.append(",\"currency\":");
    if (!AppendString(money.currency())) return false;
    out_.push_back('}');
    return true;
  }

  template <typename Integer>
  void AppendQuotedInteger(Integer value) {
    out_.push_back('"');
    AppendInteger(value);
    out_.push_back('"');
  }

 private:
  // `"name":value`, after a comma unless `first`. `reflection` is the
  // message's (looked up once per message: GetReflection() costs a
  // once-flag check through thread-local storage on every call).
  bool PrintField(const Message& message, const Reflection& reflection,
                  const FieldDescriptor* field, bool& first) {
    if (!first) out_.push_back(',');
    first = false;
    out_.push_back('"');
    out_.append(field->json_name());  // lower camel case: ASCII letters and digits
    out_.append("\":");
    if (field->is_map()) return PrintMap(message, field);
    if (!field->is_repeated()) return PrintValue(message, reflection, field, -1);
    out_.push_back('[');
    const int size = reflection.FieldSize(message, field);
    for (int item = 0; item < size; ++item) {
      if (item > 0) out_.push_back(',');
      if (!PrintValue(message, reflection, field, item)) return false;
    }
    out_.push_back(']');
    return true;
  }

  // The value of `field` (item `index` of a repeated field; -1: singular).
  bool PrintValue(const Message& message, const Reflection& reflection,
                  const FieldDescriptor* field, int index) {
    const bool repeated = index >= 0;
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        AppendInteger(repeated ? reflection.GetRepeatedInt32(message, field, index)
                               : reflection.GetInt32(message, field));
        return true;
      case FieldDescriptor::CPPTYPE_UINT32:
        AppendInteger(repeated ? reflection.GetRepeatedUInt32(message, field, index)
                               : reflection.GetUInt32(message, field));
        return true;
      case FieldDescriptor::CPPTYPE_INT64:
        out_.push_back('"');
        AppendInteger(repeated ? reflection.GetRepeatedInt64(message, field, index)
                               : reflection.GetInt64(message, field));
        out_.push_back('"');
        return true;
      case FieldDescriptor::CPPTYPE_UINT64:
        out_.push_back('"');
        AppendInteger(repeated ? reflection.GetRepeatedUInt64(message, field, index)
                               : reflection.GetUInt64(message, field));
        out_.push_back('"');
        return true;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        AppendDouble(repeated ? reflection.GetRepeatedDouble(message, field, index)
                              : reflection.GetDouble(message, field));
        return true;
      case FieldDescriptor::CPPTYPE_FLOAT:
        AppendFloat(repeated ? reflection.GetRepeatedFloat(message, field, index)
                             : reflection.GetFloat(message, field));
        return true;
      case FieldDescriptor::CPPTYPE_BOOL:
        out_.append((repeated ? reflection.GetRepeatedBool(message, field, index)
                              : reflection.GetBool(message, field))
                        ? "true"
                        : "false");
        return true;
      case FieldDescriptor::CPPTYPE_ENUM: {
        const int number = repeated ? reflection.GetRepeatedEnumValue(message, field, index)
                                    : reflection.GetEnumValue(message, field);
        const auto* value = field->enum_type()->FindValueByNumber(number);
        if (value == nullptr) return false;
        return AppendString(value->name());
      }
      case FieldDescriptor::CPPTYPE_STRING: {
        if (field->type() == FieldDescriptor::TYPE_BYTES) return false;  // base64: the library
        std::string scratch;
        const std::string& value =
            repeated ? reflection.GetRepeatedStringReference(message, field, index, &scratch)
                     : reflection.GetStringReference(message, field, &scratch);
        return AppendString(value);
      }
      case FieldDescriptor::CPPTYPE_MESSAGE:
        return PrintMessage(repeated ? reflection.GetRepeatedMessage(message, field, index)
                                     : reflection.GetMessage(message, field));
    }
    return false;
  }

  // A map, by key. (The library prints the map's hash order, which changes
  // from one message to the next; JSON objects have no order.)
  bool PrintMap(const Message& message, const FieldDescriptor* field) {
    const Reflection* reflection = message.GetReflection();
    const FieldDescriptor* key_field = field->message_type()->map_key();
    const FieldDescriptor* value_field = field->message_type()->map_value();
    const int size = reflection->FieldSize(message, field);
    std::vector<std::pair<std::string, const Message*>> entries;
    entries.reserve(static_cast<size_t>(size));
    for (int index = 0; index < size; ++index) {
      const Message& entry = reflection->GetRepeatedMessage(message, field, index);
      const Reflection* entry_reflection = entry.GetReflection();
      std::string key;
      switch (key_field->cpp_type()) {
        case FieldDescriptor::CPPTYPE_INT32:
          key = std::to_string(entry_reflection->GetInt32(entry, key_field));
          break;
        case FieldDescriptor::CPPTYPE_INT64:
          key = std::to_string(entry_reflection->GetInt64(entry, key_field));
          break;
        case FieldDescriptor::CPPTYPE_UINT32:
          key = std::to_string(entry_reflection->GetUInt32(entry, key_field));
          break;
        case FieldDescriptor::CPPTYPE_UINT64:
          key = std::to_string(entry_reflection->GetUInt64(entry, key_field));
          break;
        case FieldDescriptor::CPPTYPE_BOOL:
          key = entry_reflection->GetBool(entry, key_field) ? "true" : "false";
          break;
        case FieldDescriptor::CPPTYPE_STRING:
          key = entry_reflection->GetString(entry, key_field);
          break;
        default:
          return false;
      }
      entries.emplace_back(std::move(key), &entry);
    }
    const bool numeric = key_field->cpp_type() != FieldDescriptor::CPPTYPE_STRING &&
                         key_field->cpp_type() != FieldDescriptor::CPPTYPE_BOOL;
    std::sort(entries.begin(), entries.end(), [numeric](const auto& left, const auto& right) {
      if (numeric && left.first.size() != right.first.size()) {
        // Decimal integers: shorter first unless negative.
        const bool left_negative = left.first[0] == '-';
        const bool right_negative = right.first[0] == '-';
        if (left_negative != right_negative) return left_negative;
        return left_negative ? left.first.size() > right.first.size()
                             : left.first.size() < right.first.size();
      }
      if (numeric && left.first[0] == '-' && right.first[0] == '-') return left.first > right.first;
      return left.first < right.first;
    });
    out_.push_back('{');
    bool first = true;
    for (const auto& [key, entry] : entries) {
      if (!first) out_.push_back(',');
      first = false;
      if (!AppendString(key)) return false;
      out_.push_back(':');
      if (!PrintValue(*entry, *entry->GetReflection(), value_field, -1)) return false;
    }
    out_.push_back('}');
    return true;
  }

  bool PrintTimestamp(const Message& message) {
    google::protobuf::Timestamp timestamp;
    if (const auto* generated = dynamic_cast<const google::protobuf::Timestamp*>(&message)) {
      timestamp = *generated;
    } else {
      timestamp.CopyFrom(message);
    }
    if (timestamp.seconds() < kMinTimestampSeconds || timestamp.seconds() > kMaxTimestampSeconds ||
        timestamp.nanos() < 0 || timestamp.nanos() > 999'999'999) {
      return false;
    }
    out_.push_back('"');
    out_.append(google::protobuf::util::TimeUtil::ToString(timestamp));
    out_.push_back('"');
    return true;
  }

  template <typename Integer>
  void AppendInteger(Integer value) {
    char buffer[24];
    const auto [end, error] = std::to_chars(buffer, buffer + sizeof(buffer), value);
    out_.append(buffer, end);
  }

  // As the library: NaN and infinities as quoted names, the rest with
  // SimpleDtoa (15 significant digits, 17 when 15 do not round-trip).
  void AppendDouble(double value) {
    if (std::isnan(value)) {
      out_.append("\"NaN\"");
    } else if (std::isinf(value)) {
      out_.append(value > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    } else {
      AppendShortest(value, 15, 17);
    }
  }

  // printf's "%.<digits>g", widened to `wide` digits when it does not read
  // back as `value`: protobuf's DoubleToBuffer / FloatToBuffer, with
  // std::to_chars (defined as printf's %g) instead of snprintf and strtod.
  //
  // "%.<digits>g reads back" is decided without parsing: for a normal value
  // it holds exactly when the shortest representation that reads back has at
  // most `digits` significant digits. (If it has, that decimal D lies within
  // half an ulp of `value`, under 2^-53 (float 2^-24) of it relatively, while
  // the `digits`-digit grid D sits on is spaced more than 10^-15 (10^-6)
  // relatively, so rounding `value` to `digits` digits gives D. If it has not,
  // no decimal of `digits` digits reads back.) Subnormals keep the parse.
  template <typename Float>
  void AppendShortest(Float value, int digits, int wide) {
    char buffer[48];
    int precision = digits;
    if (std::isnormal(value)) {
      if (ShortestDigits(value) > digits) precision = wide;
    } else if (value != 0) {
      auto printed = std::to_chars(buffer, buffer + sizeof(buffer), value,
                                   std::chars_format::general, digits);
      Float parsed{};
      std::from_chars(buffer, printed.ptr, parsed);
      if (parsed != value) precision = wide;
    }
    const auto printed = std::to_chars(buffer, buffer + sizeof(buffer), value,
                                       std::chars_format::general, precision);
    out_.append(buffer, printed.ptr);
  }

  // The significant digits of the shortest decimal that reads back as
  // `value` (std::to_chars without a precision).
  template <typename Float>
  static int ShortestDigits(Float value) {
    char buffer[48];
    const auto printed =
        std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::scientific);
    int significant = 0;
    for (const char* at = buffer; at < printed.ptr && *at != 'e'; ++at) {
      if (*at >= '0' && *at <= '9') ++significant;
    }
    return significant;
  }

  void AppendFloat(float value) {
    if (std::isnan(value)) {
      out_.append("\"NaN\"");
    } else if (std::isinf(value)) {
      out_.append(value > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    } else {
      AppendShortest(value, 6, 9);
    }
  }

  // Printable ASCII only: the library escapes control characters, '<', '>',
  // DEL and some Unicode ranges in its own way, so those go to it.
  bool AppendString(const std::string& value) {
    out_.push_back('"');
    size_t run = 0;  // the start of the characters not yet appended
    for (size_t at = 0; at < value.size(); ++at) {
      const char c = value[at];
      const auto byte = static_cast<unsigned char>(c);
      if (byte < 0x20 || byte >= 0x7f || c == '<' || c == '>') return false;
      if (c == '"' || c == '\\') {
        out_.append(value, run, at - run);
        out_.push_back('\\');
        run = at;
      }
    }
    out_.append(value, run, value.size() - run);
    out_.push_back('"');
    return true;
  }

  std::string& out_;
};

}  // namespace

namespace internal {

bool AppendProtoJsonFastPath(const Message& message, std::string& out) {
  const size_t start = out.size();
  Printer printer(out);
  if (const auto* retention = dynamic_cast<const lok::v1::RetentionResponse*>(&message);
      retention != nullptr && Printer::RetentionLayoutIsKnown()) {
    if (printer.PrintRetention(*retention)) return true;
    out.resize(start);
    return false;
  }
  if (printer.PrintMessage(message)) return true;
  out.resize(start);
  return false;
}

}  // namespace internal

bool AppendProtoJson(const Message& message, std::string& out) {
  if (internal::AppendProtoJsonFastPath(message, out)) return true;
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string printed;
  if (!google::protobuf::util::MessageToJsonString(message, &printed, options).ok()) return false;
  out.append(printed);
  return true;
}

}  // namespace lok::api
