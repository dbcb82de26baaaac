// Order-preserving binary encodings for RocksDB keys. Big-endian integers sort
// bytewise in numeric order, so a prefix scan visits offsets in order.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lok {

// Appends `value` as 4 / 8 big-endian bytes.
void AppendBigEndian32(std::string& out, uint32_t value);
void AppendBigEndian64(std::string& out, uint64_t value);

// Reads 4 / 8 big-endian bytes at `position`; nullopt when `bytes` is too short.
std::optional<uint32_t> ReadBigEndian32(std::string_view bytes, size_t position);
std::optional<uint64_t> ReadBigEndian64(std::string_view bytes, size_t position);

// Signed 64-bit values with the sign bit flipped so negatives sort first.
void AppendOrderedInt64(std::string& out, int64_t value);
std::optional<int64_t> ReadOrderedInt64(std::string_view bytes, size_t position);

// Appends a string that may contain any byte, terminated so that no encoded
// string is a prefix of another: 0x00 becomes 0x00 0xFF, the end is 0x00 0x01.
void AppendEscapedString(std::string& out, std::string_view value);
// Decodes a string written by AppendEscapedString starting at `position`,
// advancing it past the terminator; nullopt when the bytes are malformed.
std::optional<std::string> ReadEscapedString(std::string_view bytes, size_t& position);
// The same into `out` (replacing its contents, reusing its buffer: for loops
// that decode thousands of keys). False when malformed; `out` is then
// unspecified.
bool ReadEscapedStringInto(std::string_view bytes, size_t& position, std::string& out);

}  // namespace lok
