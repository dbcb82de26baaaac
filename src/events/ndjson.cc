#include "events/ndjson.h"

#include "events/event_codec.h"
#include "events/validation.h"

namespace lok::events {

std::string EventTooLargeReason(size_t bytes, size_t max_event_bytes) {
  return "event: " + std::to_string(bytes) + " bytes, more than the limit of " +
         std::to_string(max_event_bytes) + " bytes per event (--max-event-bytes)";
}

ParsedBatch ParseNdjson(std::string_view body, size_t max_event_bytes) {
  ParsedBatch batch;
  size_t line_number = 0;
  while (!body.empty()) {
    const size_t end = body.find('\n');
    std::string_view line = body.substr(0, end);
    body = end == std::string_view::npos ? std::string_view() : body.substr(end + 1);
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    if (line.size() > max_event_bytes) {
      batch.rejected.push_back({line_number, EventTooLargeReason(line.size(), max_event_bytes)});
      continue;
    }
    StatusOr<lok::v1::Event> event = DecodeJson(line);
    Status status = event.ok() ? Validate(*event) : event.status();
    if (!status.ok()) {
      batch.rejected.push_back({line_number, status.message()});
      continue;
    }
    batch.events.push_back(std::move(event).value());
    batch.event_lines.push_back(line_number);
  }
  return batch;
}

}  // namespace lok::events
