#include "base/base64.h"

#include <openssl/evp.h>

#include <limits>

namespace lok {

std::string Base64Encode(std::string_view bytes) {
  if (bytes.empty()) return "";
  std::string encoded(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  // EVP_EncodeBlock takes an int length; larger inputs go in slices of a
  // multiple of 3 bytes so that no padding appears in the middle.
  constexpr size_t kSlice = size_t{3} << 28;
  size_t written = 0;
  for (size_t start = 0; start < bytes.size(); start += kSlice) {
    const size_t length = std::min(kSlice, bytes.size() - start);
    written += static_cast<size_t>(EVP_EncodeBlock(
        reinterpret_cast<unsigned char*>(encoded.data() + written),
        reinterpret_cast<const unsigned char*>(bytes.data() + start), static_cast<int>(length)));
  }
  encoded.resize(written);
  return encoded;
}

StatusOr<std::string> Base64Decode(std::string_view text) {
  if (text.empty()) return std::string();
  if (text.size() % 4 != 0) {
    return InvalidArgumentError("not valid base64: length " + std::to_string(text.size()) +
                                " is not a multiple of 4 (padding with '=' is required)");
  }
  if (text.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return InvalidArgumentError("not valid base64: too long");
  }
  for (size_t index = 0; index < text.size(); ++index) {
    const char c = text[index];
    const bool alphabet = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                          (c >= '0' && c <= '9') || c == '+' || c == '/';
    const bool padding = c == '=' && index + 2 >= text.size() &&
                         (index + 1 == text.size() || text[index + 1] == '=');
    if (!alphabet && !padding) {
      return InvalidArgumentError("not valid base64: unexpected character at position " +
                                  std::to_string(index));
    }
  }
  std::string decoded(text.size() / 4 * 3, '\0');
  const int length = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(decoded.data()),
                                     reinterpret_cast<const unsigned char*>(text.data()),
                                     static_cast<int>(text.size()));
  if (length < 0) return InvalidArgumentError("not valid base64");
  // EVP_DecodeBlock counts the bytes the padding stands for; drop them.
  size_t padding = 0;
  if (text.back() == '=') ++padding;
  if (text.size() >= 2 && text[text.size() - 2] == '=') ++padding;
  decoded.resize(static_cast<size_t>(length) - padding);
  return decoded;
}

}  // namespace lok
