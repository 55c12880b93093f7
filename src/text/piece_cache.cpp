#include "text/piece_cache.h"

#include <algorithm>
#include <memory>
#include <utility>

namespace replay::text::detail {

namespace {
constexpr size_t kInitialSlots = 4096;
constexpr size_t kMaxArenaBytes = 256u << 20;
constexpr size_t kMaxCachedPiece = 1024;  // longer pieces are rare; not worth storing
}  // namespace

PieceCache::PieceCache(size_t max_entries) : max_entries_(max_entries) { clear(); }

void PieceCache::clear() {
  slots_.assign(kInitialSlots, Slot{});
  mask_ = kInitialSlots - 1;
  arena_.clear();
  low_hashes_.clear();
  entries_ = 0;
}

void PieceCache::place(uint64_t hash_low, uint32_t t, uint32_t offset) {
  for (size_t i = hash_low & mask_;; i = (i + 1) & mask_) {
    if (slots_[i].tag == 0) {
      slots_[i] = Slot{t, offset};
      return;
    }
  }
}

void PieceCache::grow() {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(old.size() * 2, Slot{});
  mask_ = slots_.size() - 1;
  // Entries keep their arena offsets; the low hash bits pick the new slot.
  for (const Slot& s : old) {
    if (s.tag == 0) continue;
    uint32_t entry_index;
    std::memcpy(&entry_index, arena_.data() + s.offset - 4, 4);
    place(low_hashes_[entry_index], s.tag, s.offset);
  }
}

void PieceCache::insert(std::string_view piece, uint64_t hash, const TokenId* ids, uint32_t count) {
  if (piece.empty() || piece.size() > kMaxCachedPiece || count > 0xFFFF) return;
  size_t need = 8 + padded(piece.size()) + 4 * size_t{count};
  if (entries_ >= max_entries_ || arena_.size() + need > kMaxArenaBytes) clear();
  if ((entries_ + 1) * 2 > slots_.size()) grow();
  // Entry: [index u32][len u16][count u16][key, padded][ids]; offset points at len.
  uint32_t index = static_cast<uint32_t>(entries_);
  size_t at = arena_.size();
  arena_.resize(at + need);
  char* e = arena_.data() + at;
  auto len = static_cast<uint16_t>(piece.size());
  auto n = static_cast<uint16_t>(count);
  std::memcpy(e, &index, 4);
  std::memcpy(e + 4, &len, 2);
  std::memcpy(e + 6, &n, 2);
  std::memcpy(e + 8, piece.data(), piece.size());
  std::memcpy(e + 8 + padded(piece.size()), ids, 4 * size_t{count});
  low_hashes_.push_back(static_cast<uint32_t>(hash));
  place(hash, tag(hash), static_cast<uint32_t>(at + 4));
  ++entries_;
}

// A thread usually works with one or two tokenizers; keep a few caches per
// thread, most recently used first, and drop the oldest beyond that.
PieceCache& PieceCache::for_thread(uint64_t uid) {
  thread_local std::vector<std::pair<uint64_t, std::unique_ptr<PieceCache>>> caches;
  for (size_t i = 0; i < caches.size(); ++i) {
    if (caches[i].first == uid) {
      if (i != 0) std::rotate(caches.begin(), caches.begin() + i, caches.begin() + i + 1);
      return *caches[0].second;
    }
  }
  constexpr size_t kMaxModelsPerThread = 4;
  if (caches.size() >= kMaxModelsPerThread) caches.pop_back();
  caches.insert(caches.begin(), {uid, std::make_unique<PieceCache>()});
  return *caches[0].second;
}

}  // namespace replay::text::detail
