#include "events/cloudevents.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/time_util.h>

#include <boost/json.hpp>
#include <limits>
#include <map>
#include <optional>

#include "base/base64.h"
#include "base/utf8.h"
#include "events/event_codec.h"
#include "events/validation.h"

namespace lok::events {
namespace {

using lok::v1::Event;

std::string ToLower(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return lower;
}

// A value quoted for an error message: at most 64 bytes, and bytes that are
// not UTF-8 as \xNN, so that the message stays valid JSON text.
std::string Quoted(std::string_view value) {
  constexpr size_t kMaxQuoted = 64;
  const bool cut = value.size() > kMaxQuoted;
  if (cut) value = value.substr(0, kMaxQuoted);
  std::string text;
  if (IsValidUtf8(value)) {
    text = value;
  } else {
    static constexpr char kDigits[] = "0123456789abcdef";
    for (char c : value) {
      const auto byte = static_cast<unsigned char>(c);
      if (byte >= 0x20 && byte < 0x7F) {
        text.push_back(c);
      } else {
        text += "\\x";
        text.push_back(kDigits[byte >> 4]);
        text.push_back(kDigits[byte & 0xF]);
      }
    }
  }
  return "'" + text + (cut ? "...'" : "'");
}

// "application/JSON; charset=utf-8" -> "application/json".
std::string MediaType(std::string_view content_type) {
  std::string_view type = content_type.substr(0, content_type.find(';'));
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.remove_prefix(1);
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  return ToLower(type);
}

std::optional<DataFormat> FormatOfMediaType(std::string_view media_type) {
  if (media_type == "application/protobuf" || media_type == "application/x-protobuf") {
    return DataFormat::kProtobuf;
  }
  if (media_type == "application/json") return DataFormat::kJson;
  return std::nullopt;
}

std::string_view PrefixOf(Binding binding) { return binding == Binding::kKafka ? "ce_" : "ce-"; }

// The attributes of one CloudEvent and how to name them in errors.
struct Attributes {
  std::map<std::string, std::string, std::less<>> values;  // by attribute name
  std::string prefix;             // "ce_", "ce-", or "" (structured: JSON members)
  std::string content_type_name;  // "content-type" or "datacontenttype"

  std::string Name(std::string_view attribute) const { return prefix + std::string(attribute); }
  std::string_view Get(std::string_view attribute) const {
    auto found = values.find(attribute);
    return found == values.end() ? std::string_view() : std::string_view(found->second);
  }
};

const google::protobuf::OneofDescriptor& PayloadOneof() {
  return *Event::descriptor()->FindOneofByName("payload");
}

std::string KnownTypes() {
  std::string known;
  const google::protobuf::OneofDescriptor& payload = PayloadOneof();
  for (int index = 0; index < payload.field_count(); ++index) {
    if (!known.empty()) known += ", ";
    known += std::string(kCloudEventTypePrefix) + payload.field(index)->name();
  }
  return known;
}

StatusOr<const google::protobuf::FieldDescriptor*> PayloadFieldOf(const Attributes& attributes) {
  const std::string name = attributes.Name("type");
  const std::string_view type = attributes.Get("type");
  if (type.empty()) {
    return InvalidArgumentError(name + ": required: lok.v1.<event type>, e.g. lok.v1.deal_won");
  }
  if (!type.starts_with(kCloudEventTypePrefix)) {
    return InvalidArgumentError(
        name + ": must be lok.v1.<event type> (e.g. lok.v1.deal_won), got " + Quoted(type));
  }
  const google::protobuf::FieldDescriptor* field =
      Event::descriptor()->FindFieldByName(std::string(type.substr(kCloudEventTypePrefix.size())));
  if (field == nullptr || field->containing_oneof() != &PayloadOneof()) {
    return InvalidArgumentError(name + ": unknown event type " + Quoted(type) +
                                "; this lokd knows " + KnownTypes());
  }
  return field;
}

void AppendVarint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

// The event carrying only the payload `data`, decoded through the codec (so
// the upcaster and the codec's UTF-8 checks apply).
StatusOr<Event> DecodePayload(const google::protobuf::FieldDescriptor& field, DataFormat format,
                              std::string_view data, const std::string& data_name) {
  const std::string message_name = field.message_type()->full_name();
  if (format == DataFormat::kProtobuf) {
    std::string wrapped;
    AppendVarint(wrapped, (static_cast<uint64_t>(field.number()) << 3) | 2);  // length-delimited
    AppendVarint(wrapped, data.size());
    wrapped += data;
    StatusOr<Event> event = DecodeBinary(wrapped);
    if (!event.ok() && event.status().message().starts_with("event: not a valid")) {
      return InvalidArgumentError(data_name + ": not a valid " + message_name +
                                  " (protobuf binary), as " + std::string(kCloudEventTypePrefix) +
                                  field.name() + " requires");
    }
    return event;
  }
  std::string_view text = data;
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t' || text.front() == '\r' ||
                           text.front() == '\n')) {
    text.remove_prefix(1);
  }
  if (text.empty()) text = "{}";  // e.g. lead_qualified has no fields
  boost::json::parse_options options;
  options.allow_invalid_utf8 = true;  // the codec names the field instead
  boost::system::error_code error;
  boost::json::value value = boost::json::parse(text, error, {}, options);
  if (error) {
    return InvalidArgumentError(data_name + ": not valid JSON: " + error.message());
  }
  if (!value.is_object()) {
    return InvalidArgumentError(data_name + ": must be a JSON object: the " + message_name +
                                " message in the protobuf JSON mapping");
  }
  // Re-serialized so that the data cannot reach outside the payload field.
  return DecodeJson("{\"" + std::string(field.name()) + "\":" + boost::json::serialize(value) +
                    "}");
}

// One identity given in several places must be the same everywhere.
class Agreement {
 public:
  explicit Agreement(std::string what) : what_(std::move(what)) {}

  Status Offer(std::string_view value, std::string from) {
    if (value.empty()) return Status::Ok();
    if (value_.empty()) {
      value_ = value;
      from_ = std::move(from);
      return Status::Ok();
    }
    if (value_ != value) {
      return InvalidArgumentError(from + ": " + Quoted(value) + " differs from " + from_ + " " +
                                  Quoted(value_) + " (both give the " + what_ + ")");
    }
    return Status::Ok();
  }
  const std::string& value() const { return value_; }

 private:
  std::string what_;
  std::string value_;
  std::string from_;
};

StatusOr<Event> Assemble(const Attributes& attributes, std::string_view key,
                         std::optional<DataFormat> format, std::string_view data,
                         const std::string& data_name) {
  const std::string_view specversion = attributes.Get("specversion");
  if (specversion != "1.0") {
    return InvalidArgumentError(attributes.Name("specversion") +
                                (specversion.empty()
                                     ? std::string(": required: 1.0")
                                     : ": must be 1.0, got " + Quoted(specversion)));
  }
  if (attributes.Get("id").empty()) {
    return InvalidArgumentError(attributes.Name("id") +
                                ": required (a CloudEvent's id becomes the event's event_id)");
  }
  if (attributes.Get("source").empty()) {
    return InvalidArgumentError(attributes.Name("source") +
                                ": required (a CloudEvent's source becomes the event's source)");
  }
  StatusOr<const google::protobuf::FieldDescriptor*> payload_field = PayloadFieldOf(attributes);
  const std::string_view type = attributes.Get("type");
  const bool unknown_type = !payload_field.ok() && type.starts_with(kCloudEventTypePrefix) &&
                            type.size() > kCloudEventTypePrefix.size();
  if (!payload_field.ok() && !unknown_type) return payload_field.status();
  const google::protobuf::FieldDescriptor* field = unknown_type ? nullptr : *payload_field;
  const std::string_view time = attributes.Get("time");
  google::protobuf::Timestamp occurred_at;
  if (time.empty()) {
    return InvalidArgumentError(attributes.Name("time") +
                                ": required (it becomes occurred_at, the business time)");
  }
  if (!google::protobuf::util::TimeUtil::FromString(std::string(time), &occurred_at)) {
    return InvalidArgumentError(
        attributes.Name("time") +
        ": must be an RFC 3339 timestamp such as 2024-05-01T10:00:00Z, got " + Quoted(time));
  }
  if (unknown_type) {
    // A newer publisher's type: the envelope only, for parking (see
    // kUnknownCloudEventTypeField). The client comes from the record key or
    // the clientid extension; the subject's meaning depends on the type.
    Agreement client("client_id");
    LOK_RETURN_IF_ERROR(client.Offer(attributes.Get("clientid"), attributes.Name("clientid")));
    LOK_RETURN_IF_ERROR(client.Offer(key, "the Kafka record key"));
    if (client.value().empty()) {
      return InvalidArgumentError("client_id: required: the Kafka record key or " +
                                  attributes.Name("clientid"));
    }
    Event envelope;
    envelope.set_event_id(std::string(attributes.Get("id")));
    envelope.set_source(std::string(attributes.Get("source")));
    *envelope.mutable_occurred_at() = occurred_at;
    envelope.set_client_id(client.value());
    envelope.GetReflection()->MutableUnknownFields(&envelope)->AddLengthDelimited(
        kUnknownCloudEventTypeField, std::string(type));
    return envelope;
  }
  if (!format) {
    const std::string_view content_type = attributes.Get(attributes.content_type_name);
    return InvalidArgumentError(
        attributes.content_type_name +
        (content_type.empty() ? std::string(": required in binary mode")
                              : ": unsupported " + Quoted(content_type)) +
        ": application/protobuf (the payload message's bytes) or application/json (the "
        "payload message in the protobuf JSON mapping)");
  }

  LOK_ASSIGN_OR_RETURN(Event event, DecodePayload(*field, *format, data, data_name));

  // Envelope from the attributes.
  Event probe;
  probe.GetReflection()->MutableMessage(&probe, field);
  const bool deal_event = IsDealEvent(probe);
  const std::string_view subject = attributes.Get("subject");
  Agreement client("client_id");
  LOK_RETURN_IF_ERROR(client.Offer(attributes.Get("clientid"), attributes.Name("clientid")));
  LOK_RETURN_IF_ERROR(client.Offer(key, "the Kafka record key"));
  if (!deal_event) LOK_RETURN_IF_ERROR(client.Offer(subject, attributes.Name("subject")));
  if (client.value().empty()) {
    return InvalidArgumentError("client_id: required: the Kafka record key, " +
                                attributes.Name("clientid") +
                                (deal_event ? std::string() : " or " + attributes.Name("subject")));
  }
  Agreement deal("deal_id");
  if (deal_event) LOK_RETURN_IF_ERROR(deal.Offer(subject, attributes.Name("subject")));
  LOK_RETURN_IF_ERROR(deal.Offer(attributes.Get("dealid"), attributes.Name("dealid")));
  if (deal_event && deal.value().empty()) {
    return InvalidArgumentError(attributes.Name("subject") + ": required for " +
                                std::string(attributes.Get("type")) +
                                " (a deal event): the deal_id");
  }

  event.set_event_id(std::string(attributes.Get("id")));
  event.set_source(std::string(attributes.Get("source")));
  *event.mutable_occurred_at() = occurred_at;
  event.set_client_id(client.value());
  event.set_deal_id(deal.value());
  event.set_correlation_id(std::string(attributes.Get("correlationid")));
  event.set_causation_id(std::string(attributes.Get("causationid")));
  return event;
}

}  // namespace

std::string UnknownCloudEventType(const lok::v1::Event& event) {
  if (event.payload_case() != Event::PAYLOAD_NOT_SET) return "";
  const google::protobuf::UnknownFieldSet& unknown = event.GetReflection()->GetUnknownFields(event);
  for (int index = 0; index < unknown.field_count(); ++index) {
    const google::protobuf::UnknownField& field = unknown.field(index);
    if (field.number() == kUnknownCloudEventTypeField &&
        field.type() == google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) {
      return field.length_delimited();
    }
  }
  return "";
}

MessageMode ModeOf(std::span<const MessageHeader> headers, Binding binding) {
  const std::string_view prefix = PrefixOf(binding);
  bool binary = false;
  for (const MessageHeader& header : headers) {
    const std::string name = ToLower(header.name);
    if (name == "content-type" && MediaType(header.value) == kCloudEventsJsonType) {
      return MessageMode::kCloudEventStructured;
    }
    if (name.starts_with(prefix)) binary = true;
  }
  return binary ? MessageMode::kCloudEventBinary : MessageMode::kLokProtobuf;
}

StatusOr<Event> DecodeMessage(std::span<const MessageHeader> headers, std::string_view key,
                              std::string_view value, Binding binding) {
  switch (ModeOf(headers, binding)) {
    case MessageMode::kLokProtobuf:
      return DecodeBinary(value);
    case MessageMode::kCloudEventBinary:
      return DecodeBinaryCloudEvent(headers, key, value, binding);
    case MessageMode::kCloudEventStructured:
      return DecodeStructuredCloudEvent(value, key);
  }
  return InternalError("cloudevents: unknown message mode");
}

StatusOr<Event> DecodeBinaryCloudEvent(std::span<const MessageHeader> headers, std::string_view key,
                                       std::string_view data, Binding binding) {
  Attributes attributes;
  attributes.prefix = PrefixOf(binding);
  attributes.content_type_name = "content-type";
  for (const MessageHeader& header : headers) {
    std::string name = ToLower(header.name);
    if (name == "content-type") {
      attributes.values[name] = header.value;
      continue;
    }
    if (!name.starts_with(attributes.prefix)) continue;
    name.erase(0, attributes.prefix.size());
    if (!attributes.values.emplace(name, header.value).second) {
      return InvalidArgumentError(attributes.Name(name) + ": given more than once");
    }
  }
  return Assemble(attributes, key, FormatOfMediaType(MediaType(attributes.Get("content-type"))),
                  data, "data");
}

StatusOr<Event> DecodeStructuredCloudEvent(std::string_view json, std::string_view key) {
  boost::json::parse_options options;
  options.allow_invalid_utf8 = true;  // validation names the attribute instead
  boost::system::error_code error;
  boost::json::value value = boost::json::parse(json, error, {}, options);
  if (error) return InvalidArgumentError("cloudevent: not valid JSON: " + error.message());
  if (!value.is_object()) return InvalidArgumentError("cloudevent: not a JSON object");
  const boost::json::object& object = value.get_object();

  Attributes attributes;
  attributes.content_type_name = "datacontenttype";
  const boost::json::value* data = nullptr;
  const boost::json::value* data_base64 = nullptr;
  for (const auto& member : object) {
    const std::string name(member.key());
    if (name == "data") {
      data = &member.value();
      continue;
    }
    if (name == "data_base64") {
      data_base64 = &member.value();
      continue;
    }
    if (member.value().is_string()) {
      attributes.values[name] = std::string(member.value().get_string());
    } else if (!member.value().is_null() &&
               (name == "specversion" || name == "id" || name == "source" || name == "type" ||
                name == "time" || name == "subject" || name == "datacontenttype" ||
                name == "clientid" || name == "dealid" || name == "correlationid" ||
                name == "causationid")) {
      return InvalidArgumentError(name + ": must be a string");
    }
  }
  if (data != nullptr && data_base64 != nullptr) {
    return InvalidArgumentError("data_base64: not allowed beside data (give one of them)");
  }
  const std::string_view declared = attributes.Get("datacontenttype");
  std::optional<DataFormat> format;
  if (declared.empty()) {
    format = data_base64 != nullptr ? DataFormat::kProtobuf : DataFormat::kJson;
  } else {
    format = FormatOfMediaType(MediaType(declared));
  }
  std::string bytes;
  std::string data_name = "data";
  if (data_base64 != nullptr) {
    data_name = "data_base64";
    if (!data_base64->is_string()) return InvalidArgumentError("data_base64: must be a string");
    StatusOr<std::string> decoded = Base64Decode(std::string_view(data_base64->get_string()));
    if (!decoded.ok()) return decoded.status().WithContext("data_base64");
    bytes = std::move(decoded).value();
  } else if (data != nullptr && !data->is_null()) {
    if (format == DataFormat::kProtobuf) {
      return InvalidArgumentError(
          "data: a protobuf payload goes in data_base64 (datacontenttype is " + Quoted(declared) +
          ")");
    }
    bytes = boost::json::serialize(*data);
  }
  return Assemble(attributes, key, format, bytes, data_name);
}

std::string CloudEventType(const Event& event) {
  const std::string_view payload = PayloadName(event);
  return payload.empty() ? std::string()
                         : std::string(kCloudEventTypePrefix) + std::string(payload);
}

namespace {

// The attributes of `event` by name, without specversion and data.
std::vector<std::pair<std::string, std::string>> AttributesOf(const Event& event) {
  std::vector<std::pair<std::string, std::string>> attributes = {
      {"id", event.event_id()},
      {"source", event.source()},
      {"type", CloudEventType(event)},
      {"time", google::protobuf::util::TimeUtil::ToString(event.occurred_at())},
  };
  if (IsDealEvent(event)) {
    attributes.emplace_back("subject", event.deal_id());
    attributes.emplace_back("clientid", event.client_id());
  } else {
    attributes.emplace_back("subject", event.client_id());
    if (!event.deal_id().empty()) attributes.emplace_back("dealid", event.deal_id());
  }
  if (!event.correlation_id().empty()) {
    attributes.emplace_back("correlationid", event.correlation_id());
  }
  if (!event.causation_id().empty()) attributes.emplace_back("causationid", event.causation_id());
  return attributes;
}

const google::protobuf::Message* PayloadOf(const Event& event) {
  const google::protobuf::FieldDescriptor* field =
      Event::descriptor()->FindFieldByNumber(event.payload_case());
  return field == nullptr ? nullptr : &event.GetReflection()->GetMessage(event, field);
}

}  // namespace

std::vector<std::pair<std::string, std::string>> BinaryModeHeaders(const Event& event,
                                                                   DataFormat format,
                                                                   Binding binding) {
  const std::string prefix(PrefixOf(binding));
  std::vector<std::pair<std::string, std::string>> headers = {{prefix + "specversion", "1.0"}};
  for (auto& [name, value] : AttributesOf(event)) headers.emplace_back(prefix + name, value);
  headers.emplace_back("content-type", format == DataFormat::kProtobuf ? "application/protobuf"
                                                                       : "application/json");
  return headers;
}

std::string BinaryModeData(const Event& event, DataFormat format) {
  const google::protobuf::Message* payload = PayloadOf(event);
  if (payload == nullptr) return "";
  if (format == DataFormat::kProtobuf) return payload->SerializeAsString();
  boost::json::value json = boost::json::parse(EncodeJson(event));
  const std::string name(PayloadName(event));
  return boost::json::serialize(json.as_object().at(name));
}

std::string EncodeStructuredCloudEvent(const Event& event, DataFormat format) {
  boost::json::object object;
  object["specversion"] = "1.0";
  for (auto& [name, value] : AttributesOf(event)) object[name] = value;
  if (format == DataFormat::kProtobuf) {
    object["datacontenttype"] = "application/protobuf";
    object["data_base64"] = Base64Encode(BinaryModeData(event, DataFormat::kProtobuf));
  } else {
    object["datacontenttype"] = "application/json";
    object["data"] = boost::json::parse(BinaryModeData(event, DataFormat::kJson));
  }
  return boost::json::serialize(object);
}

}  // namespace lok::events
