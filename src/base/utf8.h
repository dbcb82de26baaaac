// UTF-8 checks, for the edges where bytes become text (event strings, JSON).
#pragma once

#include <string_view>

namespace lok {

// True when `text` is well-formed UTF-8: no stray continuation bytes, no
// truncated sequences, no overlong forms, no surrogates, nothing above
// U+10FFFF. The empty string is valid.
bool IsValidUtf8(std::string_view text);

}  // namespace lok
