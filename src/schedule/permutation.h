// Seeded bijections on [0, n) that are evaluated point by point in O(1),
// without materializing anything: a generalized Feistel network on the
// smallest power of two >= n, with cycle walking back into [0, n). Because the
// power of two is < 2n, a lookup walks fewer than 2 cycles on average.
//
// Used for (a) the order of sequences inside each mixing block, (b) the seeded
// order of a source's sequences, and (c) per-epoch reshuffles of a pool. The
// round function is a keyed 64-bit multiply; this is a shuffle, not
// cryptography, but 6 half-rounds leave no visible structure for our sizes.
#pragma once
#include <bit>
#include <cstdint>

namespace replay::schedule {

// splitmix64 finalizer: a fast, well-mixing 64-bit bijection.
inline uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// Keys derived from several integers; order matters.
inline uint64_t derive_key(uint64_t a, uint64_t b) { return mix64(a ^ mix64(b + 0x9e3779b97f4a7c15ULL)); }
inline uint64_t derive_key(uint64_t a, uint64_t b, uint64_t c) { return derive_key(derive_key(a, b), c); }

class IndexPermutation {
 public:
  static constexpr int kHalfRounds = 6;

  IndexPermutation() = default;
  // A bijection of [0, n); n <= 2^62.
  IndexPermutation(uint64_t n, uint64_t key) : n_(n) {
    const int bits = n > 1 ? std::bit_width(n - 1) : 0;
    right_bits_ = bits / 2;
    left_mask_ = (bits - right_bits_) >= 64 ? ~0ULL : ((1ULL << (bits - right_bits_)) - 1);
    right_mask_ = (1ULL << right_bits_) - 1;
    for (int i = 0; i < kHalfRounds; ++i) keys_[i] = mix64(key + 0x9e3779b97f4a7c15ULL * (i + 1));
  }

  uint64_t size() const { return n_; }

  uint64_t operator()(uint64_t x) const {
    if (n_ <= 1) return x;
    do {
      x = encrypt(x);
    } while (x >= n_);
    return x;
  }

 private:
  // One multiply: the high half of (v ^ k) * C depends on every bit of the
  // (at most 31-bit) input, which is all a shuffle needs; kept short because
  // it sits on the trainer's data path (see bench/schedule).
  static uint64_t round_fn(uint64_t v, uint64_t k) { return ((v ^ k) * 0x9e3779b97f4a7c15ULL) >> 32; }
  uint64_t encrypt(uint64_t x) const {
    uint64_t left = x >> right_bits_, right = x & right_mask_;
    for (int i = 0; i < kHalfRounds; i += 2) {
      left ^= round_fn(right, keys_[i]) & left_mask_;
      right ^= round_fn(left, keys_[i + 1]) & right_mask_;
    }
    return (left << right_bits_) | right;
  }

  uint64_t n_ = 0;
  int right_bits_ = 0;
  uint64_t left_mask_ = 0, right_mask_ = 0;
  uint64_t keys_[kHalfRounds] = {};
};

}  // namespace replay::schedule
