// The bodies POST /v1/events accepts, parsed into events (each decoded and
// validated on its own) by one function that lokd and the gateway share.
//
//   content-type                           body                          items numbered by
//   application/x-ndjson (or none,          one lok.v1.Event per line     line (1-based)
//     text/plain, application/json whose      (protobuf JSON mapping)
//     body does not start with '[')
//   application/json (body starts with '[') a JSON array of events        index (0-based)
//   application/x-protobuf,                 a lok.v1.EventBatch           index (0-based)
//     application/protobuf
//   application/cloudevents+json            one structured CloudEvent     index 0
//   application/cloudevents-batch+json      a JSON array of CloudEvents   index (0-based)
//   any, with ce-* headers                  one binary-mode CloudEvent    index 0
//                                           (content-type: its data's)
//
// Thread-safe: all functions are pure.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "base/status.h"
#include "events/cloudevents.h"
#include "events/ndjson.h"

namespace lok::events {

enum class BodyFormat {
  kNdjson,
  kJsonArray,
  kProtobufBatch,
  kCloudEvent,
  kCloudEventBatch,
  kCloudEventBinary,
};

// A short name for logs and answers ("ndjson", "json-array", ...).
std::string_view BodyFormatName(BodyFormat format);

// The format of a body from its content-type (media type parameters such as
// charset are ignored), its first bytes and the request headers (HTTP
// binding: lower-case names).
// Errors: kInvalidArgument "content-type: unsupported '<type>'; ..." listing
// the accepted types (an HTTP handler answers 415).
StatusOr<BodyFormat> BodyFormatOf(std::string_view content_type, std::string_view body,
                                  std::span<const MessageHeader> headers);

struct BatchLimits {
  // Largest accepted event, in the bytes it takes in the body (an NDJSON
  // line, an array element as serialized, a protobuf batch entry). A larger
  // one is rejected on its own, naming the limit.
  size_t max_event_bytes = 64 * 1024;
  // Most events (valid or not) in one body; more fail the whole body.
  size_t max_events = 100000;
};

// Decodes and validates every item of `body`. Items that fail end up in
// `rejected` with the reason, numbered as the table above says
// (ParsedBatch::numbered_by_line).
// Errors (nothing of the body is usable): kResourceExhausted "body: <n>
// events, more than the limit of <m> per request (--max-events-per-request)";
// kInvalidArgument "body: ..." when the body as a whole is malformed (not a
// JSON array, a truncated protobuf batch).
StatusOr<ParsedBatch> ParseBody(BodyFormat format, std::string_view body,
                                std::span<const MessageHeader> headers, const BatchLimits& limits);

}  // namespace lok::events
