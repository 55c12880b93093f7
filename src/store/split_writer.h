// Packs one split's token stream into fixed-length sequences and writes them
// shard by shard. The stream is continuous across shards: a sequence never
// straddles two shards, but tokens left over after a shard fills simply start
// the next one. Only the final tail (< seq_len tokens) of the whole split is
// dropped, at finish(). Memory: one shard buffer (bounded by shard_bytes).
#pragma once
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "store/format.h"
#include "store/manifest.h"

namespace replay::store {

class SplitWriter {
 public:
  // `max_sequences` = 0: unlimited; otherwise tokens beyond that many
  // sequences are counted as dropped and not written.
  SplitWriter(std::filesystem::path dir, Split split, uint32_t seq_len, uint32_t token_bytes,
              std::string tokenizer_fingerprint, uint64_t sequences_per_shard,
              uint64_t max_sequences = 0);

  void append(std::span<const uint32_t> tokens);
  // Appends tokens already stored at this writer's width (a raw sequence).
  void append_raw(const uint8_t* data, uint64_t num_tokens);

  // Drops the partial tail, writes the last shard, returns the split's
  // shard list and counts (documents / text_bytes are the caller's to fill).
  SplitInfo finish();

  uint64_t sequences() const { return info_.sequences; }
  uint64_t tokens_appended() const { return tokens_appended_; }

 private:
  void flush_shard();
  bool full() const { return max_sequences_ && info_.sequences >= max_sequences_; }

  std::filesystem::path dir_;
  Split split_;
  uint32_t seq_len_;
  uint32_t token_bytes_;
  std::string fingerprint_;
  uint64_t max_sequences_;
  std::vector<uint8_t> buffer_;  // current shard payload
  uint64_t buffer_tokens_ = 0;   // tokens in buffer_, including a partial sequence
  uint64_t tokens_appended_ = 0;
  SplitInfo info_;
  bool finished_ = false;
};

// Sequences a shard of about `shard_bytes` holds (at least 1).
uint64_t sequences_per_shard(uint64_t shard_bytes, uint32_t seq_len, uint32_t token_bytes);

}  // namespace replay::store
