// Decoding and encoding of lok.v1.Event: protobuf binary on the log, the
// protobuf JSON mapping at the HTTP edge and in NDJSON files.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"
#include "lok/v1/events.pb.h"

namespace lok::events {

// Parses the protobuf binary form. Unknown fields are kept (and ignored). An
// event in an old shape is first upcast to the current one (upcaster.h).
// Errors: kInvalidArgument "event: not a valid lok.v1.Event (protobuf binary)",
// "<field>: must be valid UTF-8 (a protobuf string field)", or
// the upcaster's "<field>: <rule>" for an old shape it cannot convert.
StatusOr<lok::v1::Event> DecodeBinary(std::string_view bytes);

// Parses one event in the protobuf JSON mapping (either field-name style:
// "event_id" or "eventId"). Unknown fields are ignored so that newer
// publishers do not break older consumers. An event in an old shape is first
// upcast to the current one (upcaster.h).
// Errors: kInvalidArgument with the parser's description of the problem,
// "<field>: must be valid UTF-8", or
// the upcaster's "<field>: <rule>" for an old shape it cannot convert.
StatusOr<lok::v1::Event> DecodeJson(std::string_view json);

// OK when every string (and field name) in `json` is UTF-8. Otherwise
// kInvalidArgument "<path>: must be valid UTF-8", the path built from the
// JSON's field names after `path_prefix` ("deal_lost.reason").
Status CheckJsonUtf8(std::string_view json, std::string_view path_prefix);

// The protobuf JSON mapping with the proto field names (event_id, ...).
std::string EncodeJson(const lok::v1::Event& event);

// The name of the payload field ("deal_won"), or "" when none is set.
std::string_view PayloadName(const lok::v1::Event& event);

}  // namespace lok::events
