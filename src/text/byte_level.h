// GPT-2's byte-level alphabet: every byte maps to one printable Unicode code
// point, so that byte-level BPE vocabularies (encoder.json, HF tokenizer.json)
// can be stored as JSON strings. Printable Latin-1 bytes map to themselves;
// the rest (controls, space, ...) map to U+0100 and up (space -> 'Ġ').
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace replay::text {

// Raw bytes -> the byte-level string (UTF-8 encoded code points).
std::string bytes_to_byte_level(std::string_view bytes);

// Inverse; std::nullopt when a character is outside the 256-symbol alphabet
// (callers name the offending token in their error).
std::optional<std::string> byte_level_to_bytes(std::string_view text);

}  // namespace replay::text
