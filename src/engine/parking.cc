#include "engine/parking.h"

#include <google/protobuf/unknown_field_set.h>

#include <algorithm>
#include <cctype>

#include "base/key_encoding.h"
#include "events/cloudevents.h"
#include "events/validation.h"

namespace lok::engine {
namespace {

std::string ClientPart(std::string_view client_id) {
  std::string part;
  AppendEscapedString(part, client_id);
  return part;
}

std::string PositionPart(int32_t partition, int64_t offset) {
  std::string part;
  AppendBigEndian32(part, static_cast<uint32_t>(partition));
  AppendBigEndian64(part, static_cast<uint64_t>(offset));
  return part;
}

// The smallest key greater than every key that starts with `prefix`.
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty() && static_cast<unsigned char>(prefix.back()) == 0xff) prefix.pop_back();
  if (!prefix.empty())
    prefix.back() = static_cast<char>(static_cast<unsigned char>(prefix.back()) + 1);
  return prefix;
}

// The smallest field number of Event's payload oneof (20 today).
int32_t FirstPayloadFieldNumber() {
  static const int32_t first = [] {
    const google::protobuf::OneofDescriptor* payload =
        lok::v1::Event::descriptor()->FindOneofByName("payload");
    int32_t smallest = INT32_MAX;
    for (int index = 0; index < payload->field_count(); ++index) {
      smallest = std::min(smallest, payload->field(index)->number());
    }
    return smallest;
  }();
  return first;
}

StatusOr<int64_t> CounterOrZero(const store::KeyValueReader& reader, std::string_view key) {
  LOK_ASSIGN_OR_RETURN(std::optional<std::string> stored, reader.Get(key));
  if (!stored) return int64_t{0};
  return store::DecodeCounter(*stored);
}

// Visits the ParkedEvents stored under `prefix` from `begin` on.
Status ScanParked(const store::KeyValueReader& reader, const std::string& prefix,
                  const std::string& begin, size_t limit, std::vector<lok::v1::ParkedEvent>& out) {
  const std::string end = PrefixEnd(prefix);
  Status corrupt = Status::Ok();
  LOK_RETURN_IF_ERROR(
      reader.ScanRange(begin, end, [&](std::string_view key, std::string_view value) {
        if (!key.starts_with(prefix)) return false;
        if (out.size() >= limit) return false;
        lok::v1::ParkedEvent parked;
        if (!parked.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
          corrupt = DataLossError("parking: unreadable parked event");
          return false;
        }
        out.push_back(std::move(parked));
        return true;
      }));
  return corrupt;
}

}  // namespace

std::string ParkedClientKey(std::string_view client_id) {
  return std::string(kParkedClientPrefix) + ClientPart(client_id);
}

std::string ParkedEventPrefix(std::string_view client_id) {
  return std::string(kParkedEventPrefix) + ClientPart(client_id);
}

std::string ParkedEventKey(std::string_view client_id, int32_t partition, int64_t offset) {
  return ParkedEventPrefix(client_id) + PositionPart(partition, offset);
}

std::string SkippedEventKey(std::string_view client_id, int32_t partition, int64_t offset) {
  return std::string(kParkedSkippedPrefix) + ClientPart(client_id) +
         PositionPart(partition, offset);
}

bool IsInfrastructureFailure(const Status& projection_error, const Status& read_error) {
  if (!read_error.ok()) return true;
  switch (projection_error.code()) {
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
    case StatusCode::kCancelled:
      return true;
    default:
      return false;
  }
}

std::optional<int32_t> UnknownPayloadField(const lok::v1::Event& event) {
  if (event.payload_case() != lok::v1::Event::PAYLOAD_NOT_SET) return std::nullopt;
  const google::protobuf::UnknownFieldSet& unknown = event.GetReflection()->GetUnknownFields(event);
  for (int index = 0; index < unknown.field_count(); ++index) {
    const google::protobuf::UnknownField& field = unknown.field(index);
    if (field.type() == google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED &&
        field.number() >= FirstPayloadFieldNumber()) {
      return field.number();
    }
  }
  return std::nullopt;
}

std::string UnknownEventTypeReason(const lok::v1::Event& event, int32_t field_number) {
  if (const std::string type = events::UnknownCloudEventType(event); !type.empty()) {
    return "unknown event type '" + type + "' (ce_type); upgrade lokd";
  }
  return "unknown event type (field " + std::to_string(field_number) + "); upgrade lokd";
}

Status ValidateEnvelope(const lok::v1::Event& event) {
  std::string message;
  for (const events::Violation& violation : events::FindViolations(event)) {
    if (violation.field == "payload") continue;
    if (!message.empty()) message += "; ";
    message += violation.ToString();
  }
  if (message.empty()) return Status::Ok();
  return InvalidArgumentError(std::move(message));
}

StatusOr<ParkedTotals> ReadParkedTotals(const store::KeyValueReader& reader) {
  ParkedTotals totals;
  LOK_ASSIGN_OR_RETURN(totals.events, CounterOrZero(reader, kParkedEventsCounter));
  LOK_ASSIGN_OR_RETURN(totals.clients, CounterOrZero(reader, kParkedClientsCounter));
  return totals;
}

StatusOr<std::vector<ParkedClient>> ListParkedClients(const store::KeyValueReader& reader,
                                                      std::string_view after_client, size_t limit) {
  std::string begin(kParkedClientPrefix);
  if (!after_client.empty()) {
    begin = ParkedClientKey(after_client);
    begin.push_back('\0');  // the smallest key after it
  }
  const std::string end = PrefixEnd(std::string(kParkedClientPrefix));
  std::vector<ParkedClient> clients;
  Status corrupt = Status::Ok();
  LOK_RETURN_IF_ERROR(
      reader.ScanRange(begin, end, [&](std::string_view key, std::string_view value) {
        if (clients.size() >= limit) return false;
        size_t position = kParkedClientPrefix.size();
        std::optional<std::string> client = ReadEscapedString(key, position);
        StatusOr<int64_t> depth = store::DecodeCounter(value);
        if (!client || !depth.ok()) {
          corrupt = DataLossError("parking: unreadable parked client key");
          return false;
        }
        clients.push_back({std::move(*client), *depth, {}});
        return true;
      }));
  LOK_RETURN_IF_ERROR(corrupt);
  for (ParkedClient& client : clients) {
    LOK_ASSIGN_OR_RETURN(std::vector<lok::v1::ParkedEvent> head,
                         ReadParkedEvents(reader, client.client_id, std::nullopt, 1));
    if (head.empty()) {
      return DataLossError("parking: client '" + client.client_id +
                           "' has a depth but no parked event");
    }
    client.head = std::move(head.front());
  }
  return clients;
}

StatusOr<int64_t> ReadParkedDepth(const store::KeyValueReader& reader, std::string_view client_id) {
  return CounterOrZero(reader, ParkedClientKey(client_id));
}

StatusOr<std::vector<lok::v1::ParkedEvent>> ReadParkedEvents(
    const store::KeyValueReader& reader, std::string_view client_id,
    std::optional<std::pair<int32_t, int64_t>> after, size_t limit) {
  const std::string prefix = ParkedEventPrefix(client_id);
  std::string begin = prefix;
  if (after) {
    begin += PositionPart(after->first, after->second);
    begin.push_back('\0');
  }
  std::vector<lok::v1::ParkedEvent> events;
  LOK_RETURN_IF_ERROR(ScanParked(reader, prefix, begin, limit, events));
  return events;
}

StatusOr<std::vector<lok::v1::ParkedEvent>> ReadSkippedEvents(const store::KeyValueReader& reader,
                                                              std::string_view client_id,
                                                              size_t limit) {
  const std::string prefix = std::string(kParkedSkippedPrefix) + ClientPart(client_id);
  std::vector<lok::v1::ParkedEvent> events;
  LOK_RETURN_IF_ERROR(ScanParked(reader, prefix, prefix, limit, events));
  return events;
}

std::string CauseName(lok::v1::ParkedEvent::Cause cause) {
  std::string name = lok::v1::ParkedEvent::Cause_Name(cause);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char letter) { return static_cast<char>(std::tolower(letter)); });
  return name;
}

}  // namespace lok::engine
