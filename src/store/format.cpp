#include "store/format.h"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>

#include "util/error.h"
#include "util/hash.h"

namespace replay::store {

static_assert(std::endian::native == std::endian::little,
              "shards are little-endian and read in place through mmap");

namespace {
// Field offsets inside the 128-byte header.
constexpr size_t kOffMagic = 0, kOffVersion = 8, kOffTokenBytes = 12, kOffSeqLen = 16,
                 kOffSplit = 20, kOffShardIndex = 24, kOffSequences = 32, kOffChecksum = 40,
                 kOffFingerprint = 48, kOffHeaderChecksum = kHeaderBytes - 8;
static_assert(kOffFingerprint + kFingerprintBytes <= kOffHeaderChecksum);

template <typename T>
void put(std::string& buf, size_t off, T value) {
  std::memcpy(buf.data() + off, &value, sizeof value);
}
template <typename T>
T get(const uint8_t* data, size_t off) {
  T value;
  std::memcpy(&value, data + off, sizeof value);
  return value;
}
}  // namespace

const char* split_name(Split split) { return split == Split::train ? "train" : "val"; }

std::string shard_file_name(Split split, uint32_t index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s-%05u.bin", split_name(split), index);
  return buf;
}

uint32_t token_bytes_for_vocab(uint64_t vocab_size) { return vocab_size <= 65536 ? 2 : 4; }

std::string encode_header(const ShardHeader& h) {
  if (h.tokenizer_fingerprint.size() > kFingerprintBytes)
    throw Error("tokenizer fingerprint longer than " + std::to_string(kFingerprintBytes) +
                " bytes: " + h.tokenizer_fingerprint);
  std::string buf(kHeaderBytes, '\0');
  std::memcpy(buf.data() + kOffMagic, kShardMagic, sizeof kShardMagic);
  put<uint32_t>(buf, kOffVersion, h.version);
  put<uint32_t>(buf, kOffTokenBytes, h.token_bytes);
  put<uint32_t>(buf, kOffSeqLen, h.seq_len);
  put<uint32_t>(buf, kOffSplit, static_cast<uint32_t>(h.split));
  put<uint32_t>(buf, kOffShardIndex, h.shard_index);
  put<uint64_t>(buf, kOffSequences, h.num_sequences);
  put<uint64_t>(buf, kOffChecksum, h.payload_checksum);
  std::memcpy(buf.data() + kOffFingerprint, h.tokenizer_fingerprint.data(),
              h.tokenizer_fingerprint.size());
  put<uint64_t>(buf, kOffHeaderChecksum, hash::xxh3_64(buf.data(), kOffHeaderChecksum));
  return buf;
}

ShardHeader decode_header(const uint8_t* data, size_t size, const std::string& what) {
  if (size < kHeaderBytes)
    throw Error(what + ": truncated shard (" + std::to_string(size) + " bytes, header needs " +
                std::to_string(kHeaderBytes) + ")");
  if (std::memcmp(data + kOffMagic, kShardMagic, sizeof kShardMagic) != 0)
    throw Error(what + ": not a replay token shard (bad magic)");
  ShardHeader h;
  h.version = get<uint32_t>(data, kOffVersion);
  if (h.version != kFormatVersion)
    throw Error(what + ": unsupported shard format version " + std::to_string(h.version) +
                " (this build reads version " + std::to_string(kFormatVersion) + ")");
  if (get<uint64_t>(data, kOffHeaderChecksum) != hash::xxh3_64(data, kOffHeaderChecksum))
    throw Error(what + ": corrupted shard header (checksum mismatch)");
  h.token_bytes = get<uint32_t>(data, kOffTokenBytes);
  if (h.token_bytes != 2 && h.token_bytes != 4)
    throw Error(what + ": invalid token width " + std::to_string(h.token_bytes));
  h.seq_len = get<uint32_t>(data, kOffSeqLen);
  if (h.seq_len == 0) throw Error(what + ": sequence length 0");
  uint32_t split = get<uint32_t>(data, kOffSplit);
  if (split > 1) throw Error(what + ": invalid split " + std::to_string(split));
  h.split = static_cast<Split>(split);
  h.shard_index = get<uint32_t>(data, kOffShardIndex);
  h.num_sequences = get<uint64_t>(data, kOffSequences);
  h.payload_checksum = get<uint64_t>(data, kOffChecksum);
  const char* fp = reinterpret_cast<const char*>(data + kOffFingerprint);
  h.tokenizer_fingerprint.assign(fp, strnlen(fp, kFingerprintBytes));
  return h;
}

uint32_t max_token_id(const uint8_t* payload, uint64_t num_tokens, uint32_t token_bytes) {
  uint32_t max = 0;
  if (token_bytes == 2) {
    const auto* t = reinterpret_cast<const uint16_t*>(payload);
    for (uint64_t k = 0; k < num_tokens; ++k) max = std::max<uint32_t>(max, t[k]);
  } else {
    const auto* t = reinterpret_cast<const uint32_t*>(payload);
    for (uint64_t k = 0; k < num_tokens; ++k) max = std::max(max, t[k]);
  }
  return max;
}

}  // namespace replay::store
