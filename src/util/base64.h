// Base64 decoding (RFC 4648 standard alphabet "A-Za-z0-9+/"), the one decoder
// of the project. Two ways to read the input, one alphabet and bit packing:
//
//   strict: the whole input is base64 — tiktoken rank files, anything where
//     a stray byte means a corrupt file. Only alphabet characters, then "="
//     padding to a multiple of 4 characters (no padding, or exactly the
//     amount the data needs); the unused low bits of the last character must
//     be zero, so every byte string has exactly one accepted encoding. Any
//     violation returns nullopt; the empty input decodes to "".
//   mime: a MIME body (RFC 2045 section 6.8): characters outside the alphabet
//     (line breaks, stray spaces) are skipped and decoding stops at the first
//     "=". Never fails: a damaged body decodes to what can be recovered.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace replay {

enum class Base64Input { strict, mime };

std::optional<std::string> decode_base64(std::string_view text, Base64Input input = Base64Input::strict);

}  // namespace replay
