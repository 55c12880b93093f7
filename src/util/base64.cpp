#include "util/base64.h"

#include <algorithm>
#include <array>
#include <cstdint>

namespace replay {

namespace {

// Value of each byte in the alphabet, -1 outside it.
const std::array<int8_t, 256>& alphabet_values() {
  static const auto table = [] {
    std::array<int8_t, 256> t{};
    t.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(alphabet[i])] = static_cast<int8_t>(i);
    return t;
  }();
  return table;
}

int value_of(char c) { return alphabet_values()[static_cast<unsigned char>(c)]; }

// Packs 6-bit values into bytes, most significant bits first.
class SextetPacker {
 public:
  void push(int value) {
    acc_ = (acc_ << 6) | static_cast<uint32_t>(value);
    bits_ += 6;
    if (bits_ >= 8) {
      bits_ -= 8;
      out_.push_back(static_cast<char>((acc_ >> bits_) & 0xFF));
    }
  }
  // The bits left over after the last whole byte; a canonical encoding
  // leaves them zero.
  bool leftover_is_zero() const { return (acc_ & ((1u << bits_) - 1)) == 0; }
  std::string take() { return std::move(out_); }

 private:
  uint32_t acc_ = 0;
  int bits_ = 0;
  std::string out_;
};

std::optional<std::string> decode_strict(std::string_view text) {
  const size_t data_end = std::min(text.find('='), text.size());
  const size_t padding = text.size() - data_end;
  if (padding > 2 || text.find_first_not_of('=', data_end) != std::string_view::npos) return std::nullopt;
  if (padding > 0 && text.size() % 4 != 0) return std::nullopt;
  if (data_end % 4 == 1) return std::nullopt;  // 6 bits cannot end a byte
  SextetPacker packer;
  for (char c : text.substr(0, data_end)) {
    int v = value_of(c);
    if (v < 0) return std::nullopt;
    packer.push(v);
  }
  if (!packer.leftover_is_zero()) return std::nullopt;
  return packer.take();
}

std::string decode_mime(std::string_view text) {
  SextetPacker packer;
  for (char c : text) {
    if (c == '=') break;
    if (int v = value_of(c); v >= 0) packer.push(v);
  }
  return packer.take();
}

}  // namespace

std::optional<std::string> decode_base64(std::string_view text, Base64Input input) {
  if (input == Base64Input::mime) return decode_mime(text);
  return decode_strict(text);
}

}  // namespace replay
