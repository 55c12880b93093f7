#include "store/token_store.h"

#include <algorithm>

#include "util/error.h"
#include "util/hash.h"

namespace replay::store {

namespace stdfs = std::filesystem;

TokenStore TokenStore::open(const stdfs::path& dir, std::string_view expected_fingerprint) {
  OpenOptions options;
  options.expected_fingerprint = std::string(expected_fingerprint);
  return open(dir, options);
}

TokenStore TokenStore::open(const stdfs::path& dir, const OpenOptions& options) {
  if (!stdfs::is_directory(dir))
    throw Error("token store " + dir.string() + " does not exist (build it with `replay data build`)");
  stdfs::path manifest_path = dir / kManifestName;
  if (!stdfs::exists(manifest_path))
    throw Error(dir.string() + " is not a token store: no " + kManifestName +
                " (an interrupted build never writes one; rebuild it)");
  TokenStore store;
  store.dir_ = dir;
  store.manifest_ = manifest_from_json(fs::read_file(manifest_path), manifest_path.string());
  const Manifest& m = store.manifest_;
  if (!options.expected_fingerprint.empty() &&
      options.expected_fingerprint != m.tokenizer_fingerprint)
    throw Error("token store " + dir.string() + " was built with tokenizer " +
                m.tokenizer_fingerprint + ", but the tokenizer given has fingerprint " +
                options.expected_fingerprint + "; rebuild the store with this tokenizer");
  if (m.seq_len == 0) throw Error(manifest_path.string() + ": seq_len is 0");

  for (Split split : {Split::train, Split::val}) {
    const SplitInfo& info = m.split(split);
    Part& part = store.parts_[index(split)];
    part.per_shard = static_cast<int64_t>(info.sequences_per_shard);
    if (part.per_shard <= 0)
      throw Error(manifest_path.string() + ": sequences_per_shard must be positive");
    uint64_t total = 0;
    for (size_t k = 0; k < info.shards.size(); ++k) {
      const ShardInfo& sh = info.shards[k];
      stdfs::path path = dir / sh.file;
      std::string what = "shard " + path.string();
      if (!stdfs::exists(path)) throw Error(what + " is missing");
      fs::MappedFile file(path);
      ShardHeader h = decode_header(file.data(), file.size(), what);
      if (h.split != split || h.shard_index != k || h.seq_len != m.seq_len ||
          h.token_bytes != m.token_bytes || h.num_sequences != sh.sequences ||
          h.payload_checksum != sh.checksum || h.tokenizer_fingerprint != m.tokenizer_fingerprint)
        throw Error(what + ": header does not match " + manifest_path.string() +
                    " (shard from another store or build?)");
      bool last = k + 1 == info.shards.size();
      if (last ? (sh.sequences == 0 || sh.sequences > info.sequences_per_shard)
               : sh.sequences != info.sequences_per_shard)
        throw Error(what + ": holds " + std::to_string(sh.sequences) +
                    " sequences, manifest expects " + std::to_string(info.sequences_per_shard) +
                    " per shard");
      uint64_t expected = kHeaderBytes + h.payload_bytes();
      if (file.size() != expected)
        throw Error(what + ": " + (file.size() < expected ? "truncated" : "has trailing bytes") +
                    " (" + std::to_string(file.size()) + " bytes, expected " +
                    std::to_string(expected) + ")");
      const uint8_t* payload = file.data() + kHeaderBytes;
      if (options.verify_checksums && hash::xxh3_64(payload, h.payload_bytes()) != h.payload_checksum)
        throw Error(what + ": corrupted (payload checksum mismatch); rebuild the store");
      total += sh.sequences;
      part.payloads.push_back(payload);
      part.shards.push_back(std::move(file));
    }
    if (total != info.sequences)
      throw Error(manifest_path.string() + ": " + split_name(split) + " shards hold " +
                  std::to_string(total) + " sequences, manifest says " +
                  std::to_string(info.sequences));
    part.sequences = static_cast<int64_t>(total);
  }
  return store;
}

void TokenStore::check_index(Split split, int64_t i) const {
  if (i < 0 || i >= parts_[index(split)].sequences)
    throw Error("sequence " + std::to_string(i) + " out of range: " + split_name(split) +
                " split of " + dir_.string() + " has " +
                std::to_string(parts_[index(split)].sequences) + " sequences");
}

const uint8_t* TokenStore::raw(Split split, int64_t i) const {
  check_index(split, i);
  const Part& part = parts_[index(split)];
  int64_t shard = i / part.per_shard;
  int64_t offset = (i - shard * part.per_shard) * seq_len() * token_bytes();
  return part.payloads[shard] + offset;
}

uint32_t TokenStore::scan_max_token_id(Split split) const {
  const Part& part = parts_[index(split)];
  const auto& shards = manifest_.split(split).shards;
  uint32_t max = 0;
  for (size_t k = 0; k < part.payloads.size(); ++k)
    max = std::max(max, max_token_id(part.payloads[k], shards[k].sequences * manifest_.seq_len, token_bytes()));
  return max;
}

void TokenStore::read(Split split, int64_t i, int64_t* dst) const {
  const uint8_t* src = raw(split, i);
  const int64_t n = seq_len();
  // Widening loops the compiler vectorizes; the payload is little-endian and
  // aligned (128-byte header, even sequence sizes).
  if (token_bytes() == 2) {
    const auto* t = reinterpret_cast<const uint16_t*>(src);
    for (int64_t k = 0; k < n; ++k) dst[k] = t[k];
  } else {
    const auto* t = reinterpret_cast<const uint32_t*>(src);
    for (int64_t k = 0; k < n; ++k) dst[k] = t[k];
  }
}

void TokenStore::read_many(Split split, std::span<const int64_t> indices, int64_t* dst) const {
  for (size_t k = 0; k < indices.size(); ++k) read(split, indices[k], dst + k * seq_len());
}

}  // namespace replay::store
