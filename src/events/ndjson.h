// NDJSON batches of events: one lok.v1.Event per line in the protobuf JSON
// mapping. Used by lokd's POST /v1/events and by `lokctl publish`, so both
// apply exactly the same rules.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lok/v1/events.pb.h"

namespace lok::events {

struct RejectedLine {
  // 1-based line number in NDJSON input; the 0-based index of the item in
  // the other body formats (batch.h), see ParsedBatch::numbered_by_line.
  size_t line = 0;
  std::string reason;
};

struct ParsedBatch {
  std::vector<lok::v1::Event> events;  // valid events, in input order
  std::vector<size_t> event_lines;     // the line number (or index) of each valid event
  std::vector<RejectedLine> rejected;  // every invalid line (or item), with why
  // True: items are NDJSON lines numbered from 1 ("line"); false: items of an
  // array or batch numbered from 0 ("index").
  bool numbered_by_line = true;
};

// Decodes and validates every non-blank line. Blank lines are not events and
// are skipped; every other line ends up in `events` or in `rejected`. A line
// longer than `max_event_bytes` is rejected without decoding it.
ParsedBatch ParseNdjson(std::string_view body, size_t max_event_bytes = SIZE_MAX);

// The reason an item of `bytes` bytes is rejected when over `max_event_bytes`.
std::string EventTooLargeReason(size_t bytes, size_t max_event_bytes);

}  // namespace lok::events
