// Per-thread memo of piece -> token ids. Real text repeats a small set of
// pieces (words with their leading space), so after warm-up almost every
// piece is one hash probe instead of a merge loop.
//
// Layout is chosen for cache locality, the dominant cost: 8-byte slots (a
// 32-bit hash tag + an arena offset) in a table that starts small and grows
// with the number of distinct pieces; the arena holds each entry as
// [key length u16][id count u16][key bytes][ids], 4-byte aligned. Cleared
// wholesale when full, so memory stays bounded.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "text/tokenizer.h"

namespace replay::text::detail {

// Direct-mapped front cache for short pieces (<= 16 bytes, <= 3 ids): the
// few thousand most frequent pieces cover most of real text, and this table
// (128 KiB) stays in L2 where the big table's random probes miss.
class HotPieces {
 public:
  static constexpr size_t kMaxLen = 16;
  static constexpr size_t kMaxIds = 3;

  // Fast hash for short pieces; one for all lookups so both tables share it.
  static uint64_t hash_short(std::string_view piece, uint64_t& w0, uint64_t& w1) {
    char buf[16] = {};
    std::memcpy(buf, piece.data(), piece.size());
    std::memcpy(&w0, buf, 8);
    std::memcpy(&w1, buf + 8, 8);
    uint64_t h = (w0 ^ 0x9E3779B97F4A7C15ULL) * 0xBF58476D1CE4E5B9ULL;
    h ^= (w1 + piece.size()) * 0x94D049BB133111EBULL;
    h ^= h >> 29;
    h *= 0xD6E8FEB86659FD93ULL;
    return h ^ (h >> 32);
  }

  bool find(uint64_t hash, uint64_t w0, uint64_t w1, size_t len, std::vector<TokenId>& out) const {
    const Entry& e = entries_[hash & (kSize - 1)];
    if (e.w0 != w0 || e.w1 != w1 || e.len != len || e.count == 0) return false;
    out.insert(out.end(), e.ids, e.ids + e.count);
    return true;
  }
  void put(uint64_t hash, uint64_t w0, uint64_t w1, size_t len, const TokenId* ids, size_t count) {
    if (count == 0 || count > kMaxIds) return;
    Entry& e = entries_[hash & (kSize - 1)];
    e.w0 = w0;
    e.w1 = w1;
    e.len = static_cast<uint8_t>(len);
    e.count = static_cast<uint8_t>(count);
    std::memcpy(e.ids, ids, count * sizeof(TokenId));
  }

 private:
  static constexpr size_t kSize = 4096;
  struct Entry {
    uint64_t w0 = 0, w1 = 0;
    uint8_t len = 0, count = 0;
    TokenId ids[kMaxIds];
  };
  std::vector<Entry> entries_ = std::vector<Entry>(kSize);
};

class PieceCache {
 public:
  explicit PieceCache(size_t max_entries = 1 << 18);

  // Returns the cached ids (and their count) or nullptr.
  const TokenId* find(std::string_view piece, uint64_t hash, uint32_t& count) const {
    uint32_t t = tag(hash);
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.tag == 0) return nullptr;
      if (s.tag == t) {
        const char* e = arena_.data() + s.offset;
        uint16_t len, n;
        std::memcpy(&len, e, 2);
        std::memcpy(&n, e + 2, 2);
        if (len == piece.size() && std::memcmp(e + 4, piece.data(), len) == 0) {
          count = n;
          return reinterpret_cast<const TokenId*>(e + 4 + padded(len));
        }
      }
    }
  }
  void insert(std::string_view piece, uint64_t hash, const TokenId* ids, uint32_t count);

  // The cache of the current thread for the model `uid`.
  static PieceCache& for_thread(uint64_t uid);

  HotPieces hot;

 private:
  struct Slot {
    uint32_t tag = 0;  // 0: empty
    uint32_t offset = 0;
  };
  static uint32_t tag(uint64_t hash) { return static_cast<uint32_t>(hash >> 32) | 1u; }
  static size_t padded(size_t len) { return (len + 3) & ~size_t{3}; }
  void clear();
  void grow();
  void place(uint64_t hash_low, uint32_t tag, uint32_t offset);

  std::vector<Slot> slots_;
  std::vector<uint32_t> low_hashes_;  // per entry, to rehash on growth
  size_t mask_ = 0;
  size_t max_entries_;
  size_t entries_ = 0;
  std::string arena_;
};

}  // namespace replay::text::detail
