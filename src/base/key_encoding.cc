#include "base/key_encoding.h"

namespace lok {

void AppendBigEndian32(std::string& out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((value >> shift) & 0xFF));
  }
}

void AppendBigEndian64(std::string& out, uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((value >> shift) & 0xFF));
  }
}

std::optional<uint32_t> ReadBigEndian32(std::string_view bytes, size_t position) {
  if (bytes.size() < position + 4) return std::nullopt;
  uint32_t value = 0;
  for (size_t index = 0; index < 4; ++index) {
    value = (value << 8) | static_cast<unsigned char>(bytes[position + index]);
  }
  return value;
}

std::optional<uint64_t> ReadBigEndian64(std::string_view bytes, size_t position) {
  if (bytes.size() < position + 8) return std::nullopt;
  uint64_t value = 0;
  for (size_t index = 0; index < 8; ++index) {
    value = (value << 8) | static_cast<unsigned char>(bytes[position + index]);
  }
  return value;
}

void AppendOrderedInt64(std::string& out, int64_t value) {
  AppendBigEndian64(out, static_cast<uint64_t>(value) ^ (uint64_t{1} << 63));
}

std::optional<int64_t> ReadOrderedInt64(std::string_view bytes, size_t position) {
  std::optional<uint64_t> raw = ReadBigEndian64(bytes, position);
  if (!raw) return std::nullopt;
  return static_cast<int64_t>(*raw ^ (uint64_t{1} << 63));
}

void AppendEscapedString(std::string& out, std::string_view value) {
  for (char byte : value) {
    out.push_back(byte);
    if (byte == '\0') out.push_back('\xFF');
  }
  out.push_back('\0');
  out.push_back('\x01');
}

bool ReadEscapedStringInto(std::string_view bytes, size_t& position, std::string& out) {
  out.clear();
  while (position < bytes.size()) {
    // Copy up to the next 0x00 in one piece (keys are decoded by the
    // thousand per query).
    const size_t zero = bytes.find('\0', position);
    if (zero == std::string_view::npos) {
      position = bytes.size();
      return false;
    }
    out.append(bytes.data() + position, zero - position);
    position = zero + 1;
    if (position >= bytes.size()) return false;
    const char marker = bytes[position++];
    if (marker == '\x01') return true;
    if (marker != '\xFF') return false;
    out.push_back('\0');
  }
  return false;
}

std::optional<std::string> ReadEscapedString(std::string_view bytes, size_t& position) {
  std::string value;
  if (!ReadEscapedStringInto(bytes, position, value)) return std::nullopt;
  return value;
}

}  // namespace lok
