// NDJSON batches of events: one lok.v1.Event per line in the protobuf JSON
// mapping. Used by lokd's POST /v1/events and by `lokctl publish`, so both
// apply exactly the same rules.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "lok/v1/events.pb.h"

namespace lok::events {

struct RejectedLine {
  size_t line = 0;  // 1-based line number in the input
  std::string reason;
};

struct ParsedBatch {
  std::vector<lok::v1::Event> events;  // valid events, in input order
  std::vector<size_t> event_lines;     // the line number of each valid event
  std::vector<RejectedLine> rejected;  // every invalid line, with why
};

// Decodes and validates every non-blank line. Blank lines are not events and
// are skipped; every other line ends up in `events` or in `rejected`.
ParsedBatch ParseNdjson(std::string_view body);

}  // namespace lok::events
