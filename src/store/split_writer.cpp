#include "store/split_writer.h"

#include <algorithm>
#include <cstring>

#include "util/error.h"
#include "util/fs.h"
#include "util/hash.h"

namespace replay::store {

uint64_t sequences_per_shard(uint64_t shard_bytes, uint32_t seq_len, uint32_t token_bytes) {
  return std::max<uint64_t>(1, shard_bytes / (uint64_t{seq_len} * token_bytes));
}

SplitWriter::SplitWriter(std::filesystem::path dir, Split split, uint32_t seq_len,
                         uint32_t token_bytes, std::string tokenizer_fingerprint,
                         uint64_t per_shard, uint64_t max_sequences)
    : dir_(std::move(dir)),
      split_(split),
      seq_len_(seq_len),
      token_bytes_(token_bytes),
      fingerprint_(std::move(tokenizer_fingerprint)),
      max_sequences_(max_sequences) {
  if (seq_len_ == 0) throw Error("sequence length must be positive");
  if (token_bytes_ != 2 && token_bytes_ != 4) throw Error("token width must be 2 or 4 bytes");
  info_.sequences_per_shard = per_shard;
  buffer_.resize(per_shard * seq_len_ * token_bytes_);
}

void SplitWriter::append(std::span<const uint32_t> tokens) {
  tokens_appended_ += tokens.size();
  const uint64_t shard_tokens = info_.sequences_per_shard * seq_len_;
  size_t pos = 0;
  while (pos < tokens.size()) {
    if (full()) {
      info_.dropped_tokens += tokens.size() - pos;
      return;
    }
    size_t n = std::min<uint64_t>(tokens.size() - pos, shard_tokens - buffer_tokens_);
    if (max_sequences_) {
      // Never buffer past the sequence limit, so `full()` is exact.
      uint64_t partial = buffer_tokens_ % seq_len_;
      uint64_t room = (max_sequences_ - info_.sequences) * seq_len_ - partial;
      n = std::min<uint64_t>(n, room);
    }
    if (token_bytes_ == 2) {
      auto* out = reinterpret_cast<uint16_t*>(buffer_.data()) + buffer_tokens_;
      for (size_t k = 0; k < n; ++k) {
        uint32_t t = tokens[pos + k];
        if (t > 0xFFFF) throw Error("token id " + std::to_string(t) + " does not fit in 16 bits");
        out[k] = static_cast<uint16_t>(t);
      }
    } else {
      std::memcpy(buffer_.data() + buffer_tokens_ * 4, tokens.data() + pos, n * 4);
    }
    uint64_t before = buffer_tokens_ / seq_len_;
    buffer_tokens_ += n;
    pos += n;
    info_.sequences += buffer_tokens_ / seq_len_ - before;
    if (buffer_tokens_ == shard_tokens) flush_shard();
  }
}

void SplitWriter::append_raw(const uint8_t* data, uint64_t num_tokens) {
  if (token_bytes_ == 4) {
    append({reinterpret_cast<const uint32_t*>(data), num_tokens});
    return;
  }
  std::vector<uint32_t> wide(num_tokens);
  const auto* narrow = reinterpret_cast<const uint16_t*>(data);
  for (uint64_t k = 0; k < num_tokens; ++k) wide[k] = narrow[k];
  append(wide);
}

void SplitWriter::flush_shard() {
  uint64_t seqs = buffer_tokens_ / seq_len_;
  if (seqs == 0) return;
  uint64_t payload = seqs * seq_len_ * token_bytes_;
  ShardHeader h;
  h.token_bytes = token_bytes_;
  h.seq_len = seq_len_;
  h.split = split_;
  h.shard_index = static_cast<uint32_t>(info_.shards.size());
  h.num_sequences = seqs;
  h.payload_checksum = hash::xxh3_64(buffer_.data(), payload);
  info_.max_token_id = std::max(info_.max_token_id.value_or(0),
                                max_token_id(buffer_.data(), seqs * seq_len_, token_bytes_));
  h.tokenizer_fingerprint = fingerprint_;
  std::string name = shard_file_name(split_, h.shard_index);
  fs::AtomicFile file(dir_ / name);
  file.write(encode_header(h));
  file.write(buffer_.data(), payload);
  file.commit();
  info_.shards.push_back({name, seqs, h.payload_checksum});
  // Keep a partial sequence (only possible at finish) out of the next shard.
  uint64_t rest = buffer_tokens_ - seqs * seq_len_;
  std::memmove(buffer_.data(), buffer_.data() + payload, rest * token_bytes_);
  buffer_tokens_ = rest;
}

SplitInfo SplitWriter::finish() {
  if (finished_) throw Error("SplitWriter::finish called twice");
  finished_ = true;
  flush_shard();
  info_.dropped_tokens += buffer_tokens_;  // the tail shorter than one sequence
  if (!info_.max_token_id) info_.max_token_id = 0;  // an empty split: recorded all the same
  buffer_tokens_ = 0;
  std::vector<uint8_t>().swap(buffer_);
  return info_;
}

}  // namespace replay::store
