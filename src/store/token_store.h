// Read side of a token store: memory-maps every shard, verifies it against
// the manifest (magic, version, sizes, header fields, xxh3 payload checksums)
// and the caller's tokenizer, then gives O(1) access to sequence i of a split.
// Reads are const and touch no shared state, so any number of threads may
// read concurrently.
#pragma once
#include <cstdint>
#include <filesystem>
#include <span>
#include <string_view>
#include <vector>

#include "store/format.h"
#include "store/manifest.h"
#include "util/fs.h"

namespace replay::store {

struct OpenOptions {
  // Non-empty: the store must have been built with this tokenizer
  // (Tokenizer::fingerprint()); a mismatch is a replay::Error.
  std::string expected_fingerprint;
  // Hash every payload on open (fast: xxh3 runs at memory bandwidth). Off only
  // for tools that print the manifest of a store they do not trust anyway.
  bool verify_checksums = true;
};

class TokenStore {
 public:
  static TokenStore open(const std::filesystem::path& dir,
                         std::string_view expected_fingerprint = {});
  static TokenStore open(const std::filesystem::path& dir, const OpenOptions& options);

  const Manifest& manifest() const { return manifest_; }
  const std::filesystem::path& dir() const { return dir_; }
  int64_t num_sequences(Split split) const { return parts_[index(split)].sequences; }
  int64_t seq_len() const { return manifest_.seq_len; }
  uint32_t token_bytes() const { return manifest_.token_bytes; }
  uint32_t eot_id() const { return manifest_.eot_id; }

  // Copies the seq_len tokens of sequence i into dst (int64 for torch).
  void read(Split split, int64_t i, int64_t* dst) const;
  // Copies sequences indices[k] into dst + k * seq_len(): one call per batch.
  void read_many(Split split, std::span<const int64_t> indices, int64_t* dst) const;
  // The sequence's tokens in place: seq_len() tokens, token_bytes() wide each.
  const uint8_t* raw(Split split, int64_t i) const;

  // The largest id the split really holds, read from every token (as fast
  // as the checksums): what `replay data info` compares with the manifest's
  // recorded maximum, which open() only checks against the vocabulary.
  uint32_t scan_max_token_id(Split split) const;

 private:
  struct Part {
    std::vector<fs::MappedFile> shards;
    std::vector<const uint8_t*> payloads;
    int64_t sequences = 0;
    int64_t per_shard = 1;
  };
  static size_t index(Split split) { return static_cast<size_t>(split); }
  void check_index(Split split, int64_t i) const;

  std::filesystem::path dir_;
  Manifest manifest_;
  Part parts_[2];
};

}  // namespace replay::store
