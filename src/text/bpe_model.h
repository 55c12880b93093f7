// The state shared by every Tokenizer copy: vocabulary, merge table, regex and
// special tokens, in one format-neutral shape that all loaders fill in.
//
// Merge semantics (all formats reduce to this): a piece starts as one token
// per byte; repeatedly, the adjacent pair with the lowest merge priority is
// replaced by its result token, the leftmost pair winning ties; stop when no
// adjacent pair has a merge. tiktoken's rule (merge the pair whose
// concatenation has the lowest rank) is the special case priority = rank of
// the result, with a merge entry for every split of every token.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "text/pretokenizer.h"
#include "text/tokenizer.h"

namespace replay::text::detail {

struct Merge {
  uint32_t priority;
  TokenId result;
};

// Open-addressing hash map from a token pair to its merge; the merge loop's
// only lookup, so it is kept flat and branch-light.
class PairTable {
 public:
  static uint64_t key(TokenId a, TokenId b) { return (uint64_t{a} << 32) | b; }
  void insert(TokenId a, TokenId b, Merge m);  // keeps the lower priority on repeats
  const Merge* find(TokenId a, TokenId b) const {
    if (slots_.empty()) return nullptr;
    uint64_t k = key(a, b);
    for (size_t i = mix(k) & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.key == k) return &s.merge;
      if (s.key == kEmpty) return nullptr;
    }
  }
  size_t size() const { return size_; }
  template <class F>
  void for_each(F&& f) const {
    for (const Slot& s : slots_)
      if (s.key != kEmpty) f(static_cast<TokenId>(s.key >> 32), static_cast<TokenId>(s.key), s.merge);
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  static size_t mix(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return static_cast<size_t>(k);
  }
  struct Slot {
    uint64_t key = kEmpty;
    Merge merge{};
  };
  void grow();
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const;
};

// A token id indexes Model's arrays, so a file's ids are checked before any
// is added: an id of 4e9 would end in std::bad_alloc, one of 3e8 in 13 GB.
struct TokenIdEntry {
  std::string token;  // as written in the file, for the error message
  uint64_t id;        // as written, before narrowing to TokenId
};
// Throws replay::Error naming `file`, the token and its id unless every id is
// below kMaxTokenId and the ids are dense: the largest id is below the
// number of entries + kTokenIdSlack (ids may skip a few, never millions).
void check_token_ids(const std::string& file, const std::vector<TokenIdEntry>& entries);

struct Model {
  std::string source;  // file it came from, for messages
  std::string pattern;
  // tiktoken (and HF ignore_merges): a piece that is itself a token is
  // emitted as that token without running merges.
  bool whole_piece_lookup = false;
  std::vector<std::string> token_bytes;  // by id; special tokens hold their content
  std::vector<uint8_t> kind;             // by id: 0 unused, 1 BPE token, 2 special
  std::array<TokenId, 256> byte_token{};
  PairTable merges;
  std::unordered_map<std::string, TokenId, StringHash, std::equal_to<>> bytes_to_id;  // BPE tokens
  std::vector<SpecialToken> specials;
  std::optional<TokenId> eot;
  std::optional<TokenId> bos;  // from the file's post_processor; a special token
  std::unique_ptr<Pretokenizer> pretokenizer;
  std::string fingerprint;
  uint64_t uid = 0;  // distinguishes models in per-thread caches

  // Registers token `id` with `bytes`; throws on a duplicate id. The arrays
  // grow to id + 1: loaders call check_token_ids first.
  void add_token(TokenId id, std::string bytes);
  void add_special(TokenId id, std::string content);
  // Adds a merge a+b; the result must be a token. Returns false if not.
  bool add_merge(TokenId a, TokenId b, uint32_t priority);
  // tiktoken semantics: one merge for every split of every token into two
  // tokens, priority = the token's rank (= id).
  void derive_merges_from_ranks();
  // Checks that all 256 bytes are tokens, compiles the regex, picks the
  // end-of-text token and computes the fingerprint. Errors name `source`.
  void finalize();

  std::optional<TokenId> find_token(std::string_view bytes) const {
    auto it = bytes_to_id.find(bytes);
    if (it == bytes_to_id.end()) return std::nullopt;
    return it->second;
  }
};

// Runs the merge loop on one piece (no cache), appending ids to out.
// Pieces longer than `heap_threshold` use an O(n log n) heap variant; the
// result is identical (tests compare the two).
void bpe_merge_piece(const Model& model, std::string_view piece, std::vector<TokenId>& out,
                     size_t heap_threshold = 96);

}  // namespace replay::text::detail
