// The store's manifest.json: what the store holds and how it was made. It is
// written last and atomically, so a directory without a manifest is never a
// store; the reader cross-checks every shard header against it.
//
// "splits.<split>.max_token_id" (added after the first stores were built,
// same format version): the largest id stored in the split, 0 when it is
// empty. A reader refuses a manifest whose recorded maximum is not below
// "tokenizer.vocab_size". Stores built before the key existed still load:
// their maximum is taken to be vocab_size - 1 (unverified; `replay data info`
// scans the tokens), which is what the builder guaranteed then too.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "store/format.h"

namespace replay::store {

inline constexpr const char* kManifestName = "manifest.json";

struct ShardInfo {
  std::string file;  // relative to the store directory
  uint64_t sequences = 0;
  uint64_t checksum = 0;  // xxh3_64 of the payload, as in the header
};

struct SplitInfo {
  uint64_t sequences = 0;
  uint64_t documents = 0;       // documents whose tokens went into this split
  uint64_t text_bytes = 0;      // UTF-8 bytes of those documents
  uint64_t dropped_tokens = 0;  // tail shorter than seq_len, or val overflow
  uint64_t sequences_per_shard = 0;  // every shard but the last holds exactly this many
  std::optional<uint32_t> max_token_id;  // absent in manifests that predate the key
  std::vector<ShardInfo> shards;
};

struct SplitRule {
  uint64_t seed = 0;
  uint64_t val_sequences_requested = 0;
  double val_max_fraction = 0;
  uint64_t val_dropped_duplicates = 0;  // val sequences also present verbatim in train
  // The most validation sequences one document gave (0 = no cap; stores
  // built before the cap existed read as 0, which is what they did).
  uint64_t val_doc_sequences = 0;
  std::string description;  // the rule in words, for `replay data info`
};

struct Manifest {
  uint32_t version = kFormatVersion;
  std::string domain;
  std::string tokenizer_fingerprint;
  uint64_t vocab_size = 0;
  uint32_t eot_id = 0;
  // Starts every document when the tokenizer has one (key "tokenizer.bos_id",
  // absent otherwise, so stores without BOS keep their manifests).
  std::optional<uint32_t> bos_id;
  uint32_t seq_len = 0;
  uint32_t token_bytes = 2;
  SplitRule split_rule;
  SplitInfo train, val;
  std::vector<std::string> inputs;  // corpus files or folders it was built from
  uint64_t input_documents = 0;
  uint64_t input_bytes = 0;

  const SplitInfo& split(Split s) const { return s == Split::train ? train : val; }
  SplitInfo& split(Split s) { return s == Split::train ? train : val; }

  // The largest token id the store holds: recorded, or vocab_size - 1 when
  // a split predates the key (see above).
  uint32_t max_token_id() const;
  bool max_token_id_recorded() const { return train.max_token_id && val.max_token_id; }
};

std::string manifest_to_json(const Manifest& manifest);
// Throws replay::Error naming `what` (the file) and the offending key.
Manifest manifest_from_json(const std::string& text, const std::string& what);

}  // namespace replay::store
