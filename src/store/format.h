// On-disk format of a token store shard. A store is a directory per domain:
//   manifest.json               written last, atomically; lists every shard
//   train-00000.bin ...         training sequences
//   val-00000.bin ...           held-out validation sequences
// Each shard is a fixed 128-byte little-endian header followed by a payload of
// `num_sequences * seq_len` tokens, each `token_bytes` wide (2 when the
// vocabulary fits in uint16, else 4). Fixed-length sequences make access to
// sequence i O(1): shard i / per_shard, offset (i % per_shard) * seq_len.
// Every stored id is below the tokenizer's vocab_size; the manifest records
// the largest one per split (manifest.h, "max_token_id"), so readers can
// check a store against a model's vocabulary without reading its tokens.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace replay::store {

enum class Split { train = 0, val = 1 };
const char* split_name(Split split);  // "train" / "val"

inline constexpr char kShardMagic[8] = {'R', 'P', 'L', 'Y', 'T', 'O', 'K', '\n'};
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr size_t kHeaderBytes = 128;
inline constexpr size_t kFingerprintBytes = 64;

struct ShardHeader {
  uint32_t version = kFormatVersion;
  uint32_t token_bytes = 2;  // 2 or 4
  uint32_t seq_len = 0;
  Split split = Split::train;
  uint32_t shard_index = 0;
  uint64_t num_sequences = 0;
  uint64_t payload_checksum = 0;  // xxh3_64 of the payload bytes
  std::string tokenizer_fingerprint;  // at most kFingerprintBytes bytes

  uint64_t payload_bytes() const { return num_sequences * seq_len * token_bytes; }
};

// Serializes to exactly kHeaderBytes bytes; the last 8 bytes are an xxh3 of
// the first 120 so that a flipped header byte is caught before its fields are
// trusted. Throws replay::Error if the fingerprint is too long.
std::string encode_header(const ShardHeader& header);

// Parses and validates a header (magic, version, header checksum, token width,
// split); `what` names the shard in error messages.
ShardHeader decode_header(const uint8_t* data, size_t size, const std::string& what);

// "train-00003.bin"
std::string shard_file_name(Split split, uint32_t index);

// Smallest width that holds every id of a vocabulary of `vocab_size` ids.
uint32_t token_bytes_for_vocab(uint64_t vocab_size);

// The largest of `num_tokens` ids stored `token_bytes` wide (0 when none):
// what the builder records and what a verifying reader recomputes.
uint32_t max_token_id(const uint8_t* payload, uint64_t num_tokens, uint32_t token_bytes);

}  // namespace replay::store
