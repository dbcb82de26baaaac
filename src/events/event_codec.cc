#include "events/event_codec.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/unknown_field_set.h>
#include <google/protobuf/util/json_util.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <limits>
#include <optional>

#include "base/utf8.h"
#include "events/upcaster.h"

namespace lok::events {
namespace {

// The path ("deal_lost.reason") of the first string field in `bytes`, read as
// a `descriptor` message, whose value is not UTF-8; nullopt when there is
// none or the bytes are not well-formed protobuf.
std::optional<std::string> FindInvalidUtf8Field(std::string_view bytes,
                                                const google::protobuf::Descriptor& descriptor,
                                                const std::string& prefix, int depth = 0) {
  google::protobuf::UnknownFieldSet fields;
  if (depth > 16 || bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
      !fields.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return std::nullopt;
  }
  for (int index = 0; index < fields.field_count(); ++index) {
    const google::protobuf::UnknownField& field = fields.field(index);
    if (field.type() != google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) continue;
    const google::protobuf::FieldDescriptor* known = descriptor.FindFieldByNumber(field.number());
    if (known == nullptr) continue;
    const std::string path = prefix + known->name();
    if (known->type() == google::protobuf::FieldDescriptor::TYPE_STRING &&
        !IsValidUtf8(field.length_delimited())) {
      return path;
    }
    if (known->type() == google::protobuf::FieldDescriptor::TYPE_MESSAGE) {
      if (auto found = FindInvalidUtf8Field(field.length_delimited(), *known->message_type(),
                                            path + ".", depth + 1)) {
        return found;
      }
    }
  }
  return std::nullopt;
}

// The path ("deal_lost.reason", "items[2]") of the first JSON string (key or
// value) in `value` that is not UTF-8; nullopt when there is none.
std::optional<std::string> FindInvalidUtf8Json(const boost::json::value& value,
                                               const std::string& path) {
  if (value.is_string()) {
    const boost::json::string& text = value.get_string();
    if (!IsValidUtf8(std::string_view(text.data(), text.size()))) return path;
  } else if (value.is_object()) {
    for (const auto& member : value.get_object()) {
      const std::string_view key(member.key().data(), member.key().size());
      const std::string child = path.empty() ? std::string(key) : path + "." + std::string(key);
      if (!IsValidUtf8(key)) return path.empty() ? std::string("(a field name)") : path;
      if (auto found = FindInvalidUtf8Json(member.value(), child)) return found;
    }
  } else if (value.is_array()) {
    const boost::json::array& items = value.get_array();
    for (size_t index = 0; index < items.size(); ++index) {
      if (auto found =
              FindInvalidUtf8Json(items[index], path + "[" + std::to_string(index) + "]")) {
        return found;
      }
    }
  }
  return std::nullopt;
}

}  // namespace

Status CheckJsonUtf8(std::string_view json, std::string_view path_prefix) {
  if (IsValidUtf8(json)) return Status::Ok();
  boost::json::parse_options options;
  options.allow_invalid_utf8 = true;
  boost::system::error_code error;
  boost::json::value value = boost::json::parse(json, error, {}, options);
  std::optional<std::string> path;
  if (!error) path = FindInvalidUtf8Json(value, std::string(path_prefix));
  if (!path || path->empty()) {
    return InvalidArgumentError(path_prefix.empty()
                                    ? std::string("event: must be valid UTF-8")
                                    : std::string(path_prefix) + ": must be valid UTF-8");
  }
  return InvalidArgumentError(*path + ": must be valid UTF-8");
}

StatusOr<lok::v1::Event> DecodeBinary(std::string_view bytes) {
  LOK_ASSIGN_OR_RETURN(std::optional<std::string> upcast, UpcastBinary(bytes));
  if (upcast) bytes = *upcast;
  lok::v1::Event event;
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
      !event.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    if (auto field = FindInvalidUtf8Field(bytes, *lok::v1::Event::descriptor(), "")) {
      return InvalidArgumentError(*field + ": must be valid UTF-8 (a protobuf string field)");
    }
    return InvalidArgumentError("event: not a valid lok.v1.Event (protobuf binary)");
  }
  return event;
}

StatusOr<lok::v1::Event> DecodeJson(std::string_view json) {
  // The protobuf parser's own message for bad UTF-8 names no field and
  // quotes the bad bytes.
  LOK_RETURN_IF_ERROR(CheckJsonUtf8(json, ""));
  LOK_ASSIGN_OR_RETURN(std::optional<std::string> upcast, UpcastJson(json));
  if (upcast) json = *upcast;
  lok::v1::Event event;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &event, options);
  if (!status.ok()) {
    return InvalidArgumentError("event: not valid JSON for lok.v1.Event: " +
                                std::string(status.message()));
  }
  return event;
}

std::string EncodeJson(const lok::v1::Event& event) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string json;
  // Printing a well-formed message cannot fail.
  (void)google::protobuf::util::MessageToJsonString(event, &json, options);
  return json;
}

std::string_view PayloadName(const lok::v1::Event& event) {
  if (event.payload_case() == lok::v1::Event::PAYLOAD_NOT_SET) return "";
  const auto* field = lok::v1::Event::descriptor()->FindFieldByNumber(event.payload_case());
  return field == nullptr ? std::string_view() : std::string_view(field->name());
}

}  // namespace lok::events
