// Byte-level BPE tokenizer with GPT-2-family regex pre-tokenization.
//
// Loads GPT-2 encoder.json + vocab.bpe, tiktoken rank files (r50k/p50k/
// cl100k/o200k) and Hugging Face tokenizer.json (byte-level BPE, Llama 3
// style); trains new vocabularies (train_bpe). Ids match tiktoken /
// gpt-tokenizer exactly (tests/text/oracle_test.cpp checks against node);
// Meta's Llama-3 tokenizer.json matches @huggingface/tokenizers
// (tests/text/llama3_test.cpp). docs/tokenizers.md has the overview.
//
// A Tokenizer is immutable and cheap to copy (shared state); every const
// method is thread-safe. Encoding uses a per-thread cache of piece -> ids.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace replay::text {

using TokenId = uint32_t;

// Bounds on the token ids of a loaded file (vocabulary, added and special
// tokens), checked before anything is allocated: every id is below
// kMaxTokenId (2^24 = 16,777,216, far above any real vocabulary: Llama 3 has
// 128,256 ids, o200k 200,019), and the largest id is below the number of
// tokens + kTokenIdSlack (o200k's specials skip 18 ids). A file breaking
// either is refused with a replay::Error naming it, the token and the id.
inline constexpr uint64_t kMaxTokenId = uint64_t{1} << 24;
inline constexpr uint64_t kTokenIdSlack = 1024;

namespace detail {
struct Model;
}

// Where `replay tokenizer train` writes by default and `replay data build`
// reads by default (relative to the working directory), so the two chain.
inline constexpr const char* kDefaultTokenizerPath = "data/tokenizer/tokenizer.json";

struct SpecialToken {
  std::string content;
  TokenId id;
};

class Tokenizer {
 public:
  // Auto-detects the format:
  //  - *.tiktoken: rank file; regex and special tokens chosen by the file stem
  //    (r50k_base, p50k_base, cl100k_base, o200k_base);
  //  - a directory holding tokenizer.json, or encoder.json + vocab.bpe;
  //  - encoder.json or vocab.bpe (the other file is taken from the same folder);
  //  - any other *.json: Hugging Face tokenizer.json.
  // Throws replay::Error naming the file (and key) on missing/invalid input.
  static Tokenizer load(const std::filesystem::path& path);
  static Tokenizer load_tiktoken(const std::filesystem::path& rank_file, std::string_view encoding);
  static Tokenizer load_gpt2(const std::filesystem::path& encoder_json,
                             const std::filesystem::path& vocab_bpe);
  static Tokenizer load_hf(const std::filesystem::path& tokenizer_json);

  // Appends the ids of `text` to `out`. Special-token strings are plain text.
  void encode(std::string_view text, std::vector<TokenId>& out) const;
  std::vector<TokenId> encode(std::string_view text) const;
  // Like encode(), but occurrences of special-token strings become their ids.
  void encode_with_special_tokens(std::string_view text, std::vector<TokenId>& out) const;
  // One whole document as the file frames it: its BOS (when it has one, see
  // has_bos()) then encode(text). Special-token strings stay plain text.
  void encode_document(std::string_view text, std::vector<TokenId>& out) const;

  // Exact bytes (may be invalid UTF-8 when ids split a character).
  // Throws replay::Error on an id that is not in the vocabulary.
  std::string decode(std::span<const TokenId> ids) const;
  // The bytes of one token (special tokens: their content).
  std::string_view token_bytes(TokenId id) const;

  size_t vocab_size() const;  // max id + 1, special tokens included
  TokenId eot_id() const;     // <|endoftext|> (or <|end_of_text|>, </s>, <eos>); throws if none
  bool has_eot() const;
  // The beginning-of-sequence token that a tokenizer.json post_processor adds
  // (TemplateProcessing "single": [<|begin_of_text|>, $A], alone or inside a
  // Sequence). Never guessed from token names: Meta's current Llama-3 files
  // have the template, some copies do not, and those encode without BOS (as
  // Hugging Face does). Rank files and GPT-2 files have none.
  bool has_bos() const;
  TokenId bos_id() const;  // throws if none
  const std::vector<SpecialToken>& special_tokens() const;
  const std::string& pattern() const;  // the pre-tokenization regex
  const std::string& source() const;   // what it was loaded from (for messages)
  size_t merge_count() const;
  // Stable hex hash of everything that affects ids: token bytes, merges and
  // their priorities, regex, special tokens, BOS (only when present, so
  // fingerprints of tokenizers without BOS are unchanged).
  std::string fingerprint() const;

  // Writes a Hugging Face tokenizer.json (atomically) that load() reads back
  // with identical ids and fingerprint.
  void save(const std::filesystem::path& tokenizer_json) const;

  explicit Tokenizer(std::shared_ptr<const detail::Model> model);
  // The internal state (text/bpe_model.h); for tests and tools in src/text.
  const detail::Model& internal_model() const { return *model_; }

 private:
  std::shared_ptr<const detail::Model> model_;
};

struct BpeTrainOptions {
  size_t vocab_size = 8192;  // final size: 256 bytes + merges + special tokens
  std::vector<std::string> special_tokens = {"<|endoftext|>"};
  int threads = 0;                 // pre-tokenization threads; 0 = all cores
  std::string pattern = "cl100k";  // "gpt2", "cl100k", "o200k" or a regex
  uint64_t min_frequency = 2;      // stop merging once the best pair is rarer
  bool verbose = false;            // progress lines on stderr
};

// Trains byte-level BPE on the texts that next_text yields (it fills its
// argument and returns true, or returns false when done). The caller decides
// sampling. next_text is only ever called from one thread at a time.
// Deterministic: the same texts give the same tokenizer for any thread count.
Tokenizer train_bpe(const std::function<bool(std::string&)>& next_text,
                    const BpeTrainOptions& options);

}  // namespace replay::text
