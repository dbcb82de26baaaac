#include "events/event_codec.h"

#include <google/protobuf/util/json_util.h>

#include <limits>

#include "events/upcaster.h"

namespace lok::events {

StatusOr<lok::v1::Event> DecodeBinary(std::string_view bytes) {
  LOK_ASSIGN_OR_RETURN(std::optional<std::string> upcast, UpcastBinary(bytes));
  if (upcast) bytes = *upcast;
  lok::v1::Event event;
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
      !event.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return InvalidArgumentError("event: not a valid lok.v1.Event (protobuf binary)");
  }
  return event;
}

StatusOr<lok::v1::Event> DecodeJson(std::string_view json) {
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
