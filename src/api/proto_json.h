// Protobuf messages as JSON, byte for byte what
// google::protobuf::util::MessageToJsonString prints with
// always_print_primitive_fields (lower-camel names, 64-bit integers as
// strings, enums by name, every scalar and repeated field, set messages
// only), several times faster: the library serialises the message, then
// re-reads the bytes through a type resolver and a tree of default values,
// which cost a fifth to two fifths of a query's time.
//
// The fast path covers what Lok's answers hold: scalars, strings of
// printable ASCII, enums with a name, nested messages, repeated fields,
// maps, and google.protobuf.Timestamp. Anything else (non-ASCII or control
// characters in a string, bytes, other well-known types, an unknown enum
// value, a timestamp out of range) falls back to the library for the whole
// message, so the output never differs. lok.v1.RetentionResponse (the
// largest answer) is printed through its generated accessors instead of
// reflection, by the same rules, while its messages have the fields that
// printer knows (a field added to them sends it back to the reflection
// printer).
//
// Thread-safe (no state).
#pragma once

#include <google/protobuf/message.h>

#include <string>

namespace lok::api {

// Appends `message` as JSON to `out`. False when the library cannot print
// it either (only on the fallback path); `out` is then unchanged.
[[nodiscard]] bool AppendProtoJson(const google::protobuf::Message& message, std::string& out);

namespace internal {
// The fast path alone (for tests): false, with `out` unchanged, when the
// message holds something only the library prints.
[[nodiscard]] bool AppendProtoJsonFastPath(const google::protobuf::Message& message,
                                           std::string& out);
}  // namespace internal

}  // namespace lok::api
