#include "text/byte_level.h"

#include <array>
#include <cstdint>

namespace replay::text {

namespace {

struct Alphabet {
  std::array<uint32_t, 256> code_of_byte{};  // byte -> code point
  std::array<int16_t, 512> byte_of_code{};   // code point (< 512) -> byte, -1 if none

  Alphabet() {
    byte_of_code.fill(-1);
    auto printable = [](int b) {
      return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      uint32_t code = printable(b) ? static_cast<uint32_t>(b) : next++;
      code_of_byte[b] = code;
      byte_of_code[code] = static_cast<int16_t>(b);
    }
  }
};

const Alphabet& alphabet() {
  static const Alphabet a;
  return a;
}

}  // namespace

std::string bytes_to_byte_level(std::string_view bytes) {
  const auto& a = alphabet();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    uint32_t c = a.code_of_byte[b];
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else {  // all codes are < 0x800: two-byte UTF-8
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

std::optional<std::string> byte_level_to_bytes(std::string_view text) {
  const auto& a = alphabet();
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    auto c0 = static_cast<unsigned char>(text[i]);
    uint32_t code;
    if (c0 < 0x80) {
      code = c0;
      i += 1;
    } else if ((c0 & 0xE0) == 0xC0 && i + 1 < text.size() &&
               (static_cast<unsigned char>(text[i + 1]) & 0xC0) == 0x80) {
      code = ((c0 & 0x1Fu) << 6) | (static_cast<unsigned char>(text[i + 1]) & 0x3Fu);
      i += 2;
    } else {
      return std::nullopt;  // 3+ byte sequences are never in the alphabet
    }
    if (code >= a.byte_of_code.size() || a.byte_of_code[code] < 0) return std::nullopt;
    out.push_back(static_cast<char>(a.byte_of_code[code]));
  }
  return out;
}

}  // namespace replay::text
