// Byte-level BPE training: count pre-tokenized pieces ("words") with their
// frequencies on all threads, then merge pairs with incremental pair-count
// updates and a lazy max-heap, touching only the words that contain the
// merged pair (the standard fast algorithm, as in HF tokenizers).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <optional>
#include <queue>
#include <unordered_map>

#include "text/bpe_model.h"
#include "text/encodings.h"
#include "util/duration.h"
#include "util/error.h"
#include "util/worker_pool.h"

namespace replay::text {

namespace {

using PairKey = uint64_t;
inline PairKey pair_key(TokenId a, TokenId b) { return (uint64_t{a} << 32) | b; }

struct Word {
  std::vector<TokenId> symbols;
  uint64_t count;
};

using WordCounts = std::unordered_map<std::string, uint64_t, detail::StringHash, std::equal_to<>>;
using NextText = std::function<bool(std::string&)>;

void check_train_options(const BpeTrainOptions& options) {
  const size_t n_special = options.special_tokens.size();
  if (options.vocab_size < 256 + n_special)
    throw Error("vocabulary size " + std::to_string(options.vocab_size) +
                " is too small: byte-level BPE needs 256 byte tokens + " + std::to_string(n_special) +
                " special tokens");
  for (size_t i = 0; i < n_special; ++i) {
    if (options.special_tokens[i].empty()) throw Error("special token " + std::to_string(i) + " is empty");
    for (size_t j = 0; j < i; ++j)
      if (options.special_tokens[i] == options.special_tokens[j])
        throw Error("special token '" + options.special_tokens[i] + "' is listed twice");
  }
}

// Pre-tokenizes every text on `threads` workers (util/worker_pool.h); texts
// are pulled from the callback in batches under a lock (the callback need not
// be thread-safe).
class WordCounter {
 public:
  WordCounter(const NextText& next_text, const Pretokenizer& pretokenizer, int threads)
      : next_text_(next_text), pretokenizer_(pretokenizer), partial_(threads), bytes_(threads, 0) {}

  // All words with their counts; `total_bytes` = text read.
  WordCounts run(uint64_t& total_bytes) {
    WorkerPool(static_cast<int>(partial_.size())).run([this](int t) { work(static_cast<size_t>(t)); });
    total_bytes = 0;
    for (uint64_t b : bytes_) total_bytes += b;
    return merged();
  }

 private:
  // Up to 256 texts or 1 MB; empty when the source is done.
  void pull_batch(std::vector<std::string>& batch) {
    batch.clear();
    std::lock_guard lock(source_lock_);
    size_t batch_bytes = 0;
    while (!done_ && batch.size() < 256 && batch_bytes < (1u << 20)) {
      std::string text;
      if (!next_text_(text)) {
        done_ = true;
        break;
      }
      batch_bytes += text.size();
      batch.push_back(std::move(text));
    }
  }

  void count_pieces(const std::string& text, WordCounts& counts) const {
    pretokenizer_.split(text, [&](std::string_view piece) {
      auto it = counts.find(piece);
      if (it == counts.end())
        counts.emplace(piece, 1);
      else
        ++it->second;
    });
  }

  void work(size_t t) {
    try {
      std::vector<std::string> batch;
      for (pull_batch(batch); !batch.empty(); pull_batch(batch)) {
        for (const std::string& text : batch) {
          bytes_[t] += text.size();
          count_pieces(text, partial_[t]);
        }
      }
    } catch (...) {
      std::lock_guard lock(source_lock_);
      done_ = true;  // the others stop at their next batch; the pool rethrows
      throw;
    }
  }

  WordCounts merged() {
    WordCounts all = std::move(partial_[0]);
    for (size_t t = 1; t < partial_.size(); ++t) {
      for (auto& [w, c] : partial_[t]) all[w] += c;
      WordCounts().swap(partial_[t]);
    }
    return all;
  }

  const NextText& next_text_;
  const Pretokenizer& pretokenizer_;
  std::mutex source_lock_;
  bool done_ = false;
  std::vector<WordCounts> partial_;  // per thread
  std::vector<uint64_t> bytes_;      // per thread
};

// Words as byte symbols, sorted by their bytes: the merge order must not
// depend on hash-map iteration order. Frees `counts` on the way.
std::vector<Word> sorted_words(WordCounts&& counts) {
  std::vector<std::pair<std::string, uint64_t>> sorted(counts.begin(), counts.end());
  WordCounts().swap(counts);
  std::sort(sorted.begin(), sorted.end());
  std::vector<Word> words(sorted.size());
  for (size_t i = 0; i < sorted.size(); ++i) {
    const std::string& w = sorted[i].first;
    words[i].symbols.assign(reinterpret_cast<const unsigned char*>(w.data()),
                            reinterpret_cast<const unsigned char*>(w.data()) + w.size());
    words[i].count = sorted[i].second;
  }
  return words;
}

struct Candidate {
  uint64_t count;
  PairKey pair;
  // Max-heap by count; among equal counts the smaller pair wins (deterministic).
  bool operator<(const Candidate& o) const {
    return count != o.count ? count < o.count : pair > o.pair;
  }
};

struct Merge {
  TokenId a, b;
};

// The merge loop. Pair counts are kept exact incrementally; the heap holds
// possibly stale counts and is corrected lazily when an entry comes up.
class BpeMerger {
 public:
  explicit BpeMerger(std::vector<Word> words) : words_(std::move(words)) {
    token_bytes_.resize(256);
    for (TokenId b = 0; b < 256; ++b) {
      token_bytes_[b] = std::string(1, static_cast<char>(b));
      token_ids_.emplace(token_bytes_[b], b);
    }
    count_initial_pairs();
  }

  // Merges until the vocabulary holds `target_tokens` or the best pair is
  // rarer than `min_frequency`.
  void run(size_t target_tokens, uint64_t min_frequency, bool verbose) {
    while (token_bytes_.size() < target_tokens) {
      std::optional<Candidate> best = next_best();
      if (!best || best->count < min_frequency) break;
      merge(best->pair);
      if (verbose && merges_.size() % 1000 == 0)
        std::fprintf(stderr, "bpe: %zu merges, vocabulary %zu\n", merges_.size(), token_bytes_.size());
    }
  }

  const std::vector<std::string>& token_bytes() const { return token_bytes_; }
  const std::vector<Merge>& merges() const { return merges_; }
  size_t distinct_words() const { return words_.size(); }

 private:
  // Counts pair (x, y) `weight` more times, in word `w`.
  void add_pair(TokenId x, TokenId y, int64_t weight, uint32_t w) {
    PairKey k = pair_key(x, y);
    pair_count_[k] += weight;
    auto& list = where_[k];
    if (list.empty() || list.back() != w) list.push_back(w);
  }

  void count_initial_pairs() {
    for (uint32_t w = 0; w < words_.size(); ++w) {
      const auto& s = words_[w].symbols;
      for (size_t i = 0; i + 1 < s.size(); ++i)
        add_pair(s[i], s[i + 1], static_cast<int64_t>(words_[w].count), w);
    }
    for (const auto& [k, c] : pair_count_) heap_.push({static_cast<uint64_t>(c), k});
  }

  // The pair with the highest current count (ties: the smaller pair); stale
  // heap entries are re-queued with their current count (counts only fall).
  std::optional<Candidate> next_best() {
    while (!heap_.empty()) {
      Candidate top = heap_.top();
      heap_.pop();
      auto it = pair_count_.find(top.pair);
      int64_t current = it == pair_count_.end() ? 0 : it->second;
      if (current <= 0) continue;
      if (static_cast<uint64_t>(current) == top.count) return top;
      heap_.push({static_cast<uint64_t>(current), top.pair});
    }
    return std::nullopt;
  }

  // The token for a+b. The same bytes can be reached by two different merges
  // ("ab"+"c" and "a"+"bc"); the second merge reuses the token (as HF
  // tokenizers do).
  TokenId token_for(TokenId a, TokenId b) {
    std::string joined = token_bytes_[a] + token_bytes_[b];
    if (auto existing = token_ids_.find(joined); existing != token_ids_.end()) return existing->second;
    TokenId c = static_cast<TokenId>(token_bytes_.size());
    token_ids_.emplace(joined, c);
    token_bytes_.push_back(std::move(joined));
    return c;
  }

  // The words that contain `pair`, sorted and unique; forgets the pair.
  std::vector<uint32_t> take_words_with(PairKey pair) {
    std::vector<uint32_t> affected = std::move(where_[pair]);
    where_.erase(pair);
    pair_count_.erase(pair);
    std::sort(affected.begin(), affected.end());
    affected.erase(std::unique(affected.begin(), affected.end()), affected.end());
    return affected;
  }

  // Replaces every a,b in word `w` by c, moving the neighbours' pair counts.
  void rewrite_word(uint32_t w, TokenId a, TokenId b, TokenId c) {
    auto& s = words_[w].symbols;
    const auto weight = static_cast<int64_t>(words_[w].count);
    auto change = [&](TokenId x, TokenId y, int64_t sign) {
      if (sign < 0) {
        pair_count_[pair_key(x, y)] -= weight;
        return;
      }
      add_pair(x, y, weight, w);
      touched_.push_back(pair_key(x, y));
    };
    size_t j = 0;
    for (size_t i = 0; i < s.size();) {
      if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
        if (j > 0) {
          change(s[j - 1], a, -1);
          change(s[j - 1], c, +1);
        }
        if (i + 2 < s.size()) {
          change(b, s[i + 2], -1);
          change(c, s[i + 2], +1);
        }
        s[j++] = c;
        i += 2;
      } else {
        s[j++] = s[i++];
      }
    }
    s.resize(j);
  }

  // Queues the pairs whose counts grew with their new counts.
  void requeue_touched() {
    std::sort(touched_.begin(), touched_.end());
    touched_.erase(std::unique(touched_.begin(), touched_.end()), touched_.end());
    for (PairKey k : touched_) {
      int64_t cnt = pair_count_[k];
      if (cnt > 0) heap_.push({static_cast<uint64_t>(cnt), k});
    }
  }

  void merge(PairKey pair) {
    const TokenId a = static_cast<TokenId>(pair >> 32), b = static_cast<TokenId>(pair);
    const TokenId c = token_for(a, b);
    merges_.push_back({a, b});
    touched_.clear();
    for (uint32_t w : take_words_with(pair)) rewrite_word(w, a, b, c);
    // The merged pair itself is gone; the decrements above may have re-created
    // its entry through overlapping occurrences ("a a a").
    pair_count_.erase(pair);
    requeue_touched();
  }

  std::vector<Word> words_;
  std::vector<std::string> token_bytes_;  // by id
  std::unordered_map<std::string, TokenId, detail::StringHash, std::equal_to<>> token_ids_;
  std::unordered_map<PairKey, int64_t> pair_count_;
  std::unordered_map<PairKey, std::vector<uint32_t>> where_;  // pair -> words containing it
  std::priority_queue<Candidate> heap_;
  std::vector<Merge> merges_;
  std::vector<PairKey> touched_;  // pairs whose count grew in the current merge
};

// Byte tokens and merged tokens by id, merges in training order, then the
// special tokens.
detail::Model trained_model(const BpeMerger& merger, const std::string& pattern,
                            const std::vector<std::string>& special_tokens) {
  const auto& token_bytes = merger.token_bytes();
  const auto& merges = merger.merges();
  detail::Model model;
  model.source = "trained BPE";
  model.pattern = pattern;
  model.whole_piece_lookup = false;
  for (TokenId id = 0; id < token_bytes.size(); ++id) model.add_token(id, token_bytes[id]);
  for (uint32_t i = 0; i < merges.size(); ++i) model.add_merge(merges[i].a, merges[i].b, i);
  for (size_t i = 0; i < special_tokens.size(); ++i)
    model.add_special(static_cast<TokenId>(token_bytes.size() + i), special_tokens[i]);
  model.finalize();
  return model;
}

}  // namespace

Tokenizer train_bpe(const NextText& next_text, const BpeTrainOptions& options) {
  using Clock = std::chrono::steady_clock;
  auto secs = [](auto d) { return std::chrono::duration<double>(d).count(); };
  const auto t0 = Clock::now();
  check_train_options(options);
  const std::string pattern = pattern_by_name(options.pattern);
  const Pretokenizer pretokenizer(pattern);
  const int threads = resolve_threads(options.threads);
  uint64_t total_bytes = 0;
  WordCounts counts = WordCounter(next_text, pretokenizer, threads).run(total_bytes);
  if (counts.empty()) throw Error("BPE training got no text");
  std::vector<Word> words = sorted_words(std::move(counts));
  const auto t_count = Clock::now();
  BpeMerger merger(std::move(words));

  merger.run(options.vocab_size - options.special_tokens.size(), options.min_frequency, options.verbose);
  const auto t_merge = Clock::now();
  detail::Model model = trained_model(merger, pattern, options.special_tokens);
  if (options.verbose)
    std::fprintf(stderr,
                 "bpe: trained on %.1f MB (%zu distinct pieces): %zu merges, vocabulary %zu; "
                 "counting %s, merging %s\n",
                 total_bytes / 1e6, merger.distinct_words(), merger.merges().size(),
                 model.token_bytes.size(), format_duration(secs(t_count - t0)).c_str(),
                 format_duration(secs(t_merge - t_count)).c_str());
  return Tokenizer(std::make_shared<const detail::Model>(std::move(model)));
}

}  // namespace replay::text
