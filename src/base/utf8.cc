#include "base/utf8.h"

#include <cstddef>
#include <cstdint>

namespace lok {

bool IsValidUtf8(std::string_view text) {
  size_t index = 0;
  while (index < text.size()) {
    const auto lead = static_cast<unsigned char>(text[index]);
    size_t length = 0;
    uint32_t code = 0;
    if (lead < 0x80) {
      ++index;
      continue;
    } else if ((lead & 0xE0) == 0xC0) {
      length = 2;
      code = lead & 0x1Fu;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3;
      code = lead & 0x0Fu;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4;
      code = lead & 0x07u;
    } else {
      return false;
    }
    if (index + length > text.size()) return false;
    for (size_t continuation = 1; continuation < length; ++continuation) {
      const auto byte = static_cast<unsigned char>(text[index + continuation]);
      if ((byte & 0xC0) != 0x80) return false;
      code = (code << 6) | (byte & 0x3Fu);
    }
    static constexpr uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < kSmallest[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
      return false;
    }
    index += length;
  }
  return true;
}

}  // namespace lok
