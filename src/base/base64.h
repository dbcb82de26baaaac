// Base64 (RFC 4648, standard alphabet, padded), for bytes carried in JSON:
// CloudEvents' data_base64, dead letters' values.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace lok {

// The padded base64 form of `bytes`.
std::string Base64Encode(std::string_view bytes);

// The bytes `text` encodes. Padding is required (length a multiple of 4);
// whitespace is not allowed.
// Errors: kInvalidArgument "not valid base64: ..." naming what is wrong.
StatusOr<std::string> Base64Decode(std::string_view text);

}  // namespace lok
