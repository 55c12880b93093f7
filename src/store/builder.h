// Builds a token store from a stream of documents (see split_rule.h for the
// validation rule and split_writer.h for packing). Each split's documents are
// joined as  doc EOT doc EOT ...  (every document followed by the end-of-text
// token), or  BOS doc EOT BOS doc EOT ...  when the tokenizer has a BOS (its
// file's post_processor adds one, as Llama 3's does: the reference frames
// each document that way) and cut into consecutive, non-overlapping sequences of seq_len
// tokens; only the split's final tail shorter than seq_len is dropped.
//
// Streaming: documents are read in batches of about `batch_bytes`, tokenized
// by `threads` threads (results consumed in document order, so the store is
// byte-identical for any thread count) and written shard by shard. Peak
// memory ~ threads * batch + one shard buffer + the validation set, not the
// corpus. The store is assembled in a hidden sibling directory and renamed
// into place after its manifest is written (util/staged_dir.h): a failed
// build leaves nothing, and an older store at the same path is replaced only
// once the new one is complete.
//
// A build holds StagedDir::lock_file(out) (".<name>.lock" beside the store)
// from start to end: a concurrent build of the same store is refused naming
// the holder's PID, and the holder first clears what killed builds of that
// store left (StagedDir::recover_leftovers: staging folders removed, an old
// store set aside mid-replace put back).
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/manifest.h"

namespace replay::store {

// Anything that yields documents' text, restartable (the build reads twice).
class DocumentSource {
 public:
  virtual ~DocumentSource() = default;
  virtual bool next(std::string& text) = 0;
};
using OpenDocuments = std::function<std::unique_ptr<DocumentSource>()>;

// The tokenizer as the builder sees it; `encode` must be thread-safe.
struct TokenizerHandle {
  std::function<void(std::string_view, std::vector<uint32_t>&)> encode;
  uint32_t eot_id = 0;
  std::optional<uint32_t> bos_id;  // starts every document when set
  uint64_t vocab_size = 0;
  std::string fingerprint;
};

// Validation never takes more than this share of a domain's tokens, so
// training always keeps the rest (split_rule.h).
inline constexpr double kMaxValFraction = 0.5;

struct BuildOptions {
  std::string domain;
  uint32_t seq_len = 256;
  uint64_t val_sequences = 256;
  double val_max_fraction = 0.1;  // validation never exceeds this share of tokens (<= kMaxValFraction)
  // The most validation sequences one document may give (0 = no cap): a
  // domain of long documents then still gets many validation documents, so
  // a validation loss averages over documents, not over a few of them.
  uint64_t val_doc_sequences = 4;
  uint64_t seed = 0;
  int threads = 0;                 // 0 = all cores
  uint64_t shard_bytes = 32ull << 20;
  uint64_t batch_bytes = 4ull << 20;  // text per parallel tokenization batch
  std::vector<std::string> inputs;    // recorded in the manifest
  bool quiet = true;                  // progress and warnings on stderr
};

Manifest build_store(const std::filesystem::path& out, const OpenDocuments& documents,
                     const TokenizerHandle& tokenizer, const BuildOptions& options);

// Documents from memory (tests, benchmarks).
OpenDocuments documents_from_vector(std::vector<std::string> texts);

}  // namespace replay::store
