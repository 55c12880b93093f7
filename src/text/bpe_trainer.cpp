// Byte-level BPE training: count pre-tokenized pieces ("words") with their
// frequencies on all threads, then merge pairs with incremental pair-count
// updates and a lazy max-heap, touching only the words that contain the
// merged pair (the standard fast algorithm, as in HF tokenizers).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <queue>
#include <thread>
#include <unordered_map>

#include "text/bpe_model.h"
#include "text/encodings.h"
#include "util/error.h"

namespace replay::text {

namespace {

using PairKey = uint64_t;
inline PairKey pair_key(TokenId a, TokenId b) { return (uint64_t{a} << 32) | b; }

struct Word {
  std::vector<TokenId> symbols;
  uint64_t count;
};

using WordCounts = std::unordered_map<std::string, uint64_t, detail::StringHash, std::equal_to<>>;

// Pre-tokenizes every text on `threads` threads; texts are pulled from the
// callback in batches under a lock (the callback need not be thread-safe).
WordCounts count_words(const std::function<bool(std::string&)>& next_text,
                       const Pretokenizer& pretokenizer, int threads, uint64_t& total_bytes) {
  std::mutex source_lock;
  bool done = false;
  std::vector<WordCounts> partial(threads);
  std::vector<uint64_t> bytes(threads, 0);
  std::exception_ptr failure;
  auto worker = [&](int t) {
    try {
      std::vector<std::string> batch;
      while (true) {
        batch.clear();
        {
          std::lock_guard lock(source_lock);
          size_t batch_bytes = 0;
          while (!done && batch.size() < 256 && batch_bytes < (1u << 20)) {
            std::string text;
            if (!next_text(text)) {
              done = true;
              break;
            }
            batch_bytes += text.size();
            batch.push_back(std::move(text));
          }
        }
        if (batch.empty()) return;
        for (const std::string& text : batch) {
          bytes[t] += text.size();
          pretokenizer.split(text, [&](std::string_view piece) {
            auto it = partial[t].find(piece);
            if (it == partial[t].end())
              partial[t].emplace(piece, 1);
            else
              ++it->second;
          });
        }
      }
    } catch (...) {
      std::lock_guard lock(source_lock);
      if (!failure) failure = std::current_exception();
      done = true;
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker, t);
  worker(0);
  for (auto& th : pool) th.join();
  if (failure) std::rethrow_exception(failure);
  WordCounts all = std::move(partial[0]);
  for (int t = 1; t < threads; ++t) {
    for (auto& [w, c] : partial[t]) all[w] += c;
    WordCounts().swap(partial[t]);
  }
  total_bytes = 0;
  for (uint64_t b : bytes) total_bytes += b;
  return all;
}

struct Candidate {
  uint64_t count;
  PairKey pair;
  // Max-heap by count; among equal counts the smaller pair wins (deterministic).
  bool operator<(const Candidate& o) const {
    return count != o.count ? count < o.count : pair > o.pair;
  }
};

}  // namespace

Tokenizer train_bpe(const std::function<bool(std::string&)>& next_text, const BpeTrainOptions& options) {
  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
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
  std::string pattern = pattern_by_name(options.pattern);
  Pretokenizer pretokenizer(pattern);
  int threads = options.threads > 0 ? options.threads
                                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  uint64_t total_bytes = 0;
  WordCounts counts = count_words(next_text, pretokenizer, threads, total_bytes);
  if (counts.empty()) throw Error("BPE training got no text");

  // Sorted words: the merge order must not depend on hash-map iteration order.
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
  decltype(sorted)().swap(sorted);
  auto t_count = Clock::now();

  std::vector<std::string> token_bytes(256);
  for (int b = 0; b < 256; ++b) token_bytes[b] = std::string(1, static_cast<char>(b));
  std::unordered_map<std::string, TokenId, detail::StringHash, std::equal_to<>> token_ids;
  for (TokenId b = 0; b < 256; ++b) token_ids.emplace(token_bytes[b], b);

  std::unordered_map<PairKey, int64_t> pair_count;
  std::unordered_map<PairKey, std::vector<uint32_t>> where;
  for (uint32_t w = 0; w < words.size(); ++w) {
    const auto& s = words[w].symbols;
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      PairKey k = pair_key(s[i], s[i + 1]);
      pair_count[k] += static_cast<int64_t>(words[w].count);
      auto& list = where[k];
      if (list.empty() || list.back() != w) list.push_back(w);
    }
  }
  std::priority_queue<Candidate> heap;
  for (const auto& [k, c] : pair_count) heap.push({static_cast<uint64_t>(c), k});

  struct MergeRecord {
    TokenId a, b;
  };
  std::vector<MergeRecord> merge_list;
  const size_t target_tokens = options.vocab_size - n_special;
  std::vector<PairKey> touched;
  while (token_bytes.size() < target_tokens && !heap.empty()) {
    Candidate top = heap.top();
    heap.pop();
    auto it = pair_count.find(top.pair);
    int64_t current = it == pair_count.end() ? 0 : it->second;
    if (current <= 0) continue;
    if (static_cast<uint64_t>(current) != top.count) {  // stale: counts only fall, re-queue
      heap.push({static_cast<uint64_t>(current), top.pair});
      continue;
    }
    if (top.count < options.min_frequency) break;
    TokenId a = static_cast<TokenId>(top.pair >> 32), b = static_cast<TokenId>(top.pair);
    std::string joined = token_bytes[a] + token_bytes[b];
    TokenId c;
    // The same bytes can be reached by two different merges ("ab"+"c" and
    // "a"+"bc"); the second merge reuses the token (as HF tokenizers do).
    if (auto existing = token_ids.find(joined); existing != token_ids.end()) {
      c = existing->second;
    } else {
      c = static_cast<TokenId>(token_bytes.size());
      token_ids.emplace(joined, c);
      token_bytes.push_back(std::move(joined));
    }
    merge_list.push_back({a, b});

    std::vector<uint32_t> affected = std::move(where[top.pair]);
    where.erase(top.pair);
    pair_count.erase(top.pair);
    std::sort(affected.begin(), affected.end());
    affected.erase(std::unique(affected.begin(), affected.end()), affected.end());
    touched.clear();
    for (uint32_t w : affected) {
      auto& s = words[w].symbols;
      const auto weight = static_cast<int64_t>(words[w].count);
      auto change = [&](TokenId x, TokenId y, int64_t sign) {
        PairKey k = pair_key(x, y);
        pair_count[k] += sign * weight;
        if (sign > 0) {
          auto& list = where[k];
          if (list.empty() || list.back() != w) list.push_back(w);
          touched.push_back(k);
        }
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
    // The merged pair itself is gone; the decrements above may have re-created
    // its entry through overlapping occurrences ("a a a").
    pair_count.erase(top.pair);
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    for (PairKey k : touched) {
      int64_t cnt = pair_count[k];
      if (cnt > 0) heap.push({static_cast<uint64_t>(cnt), k});
    }
    if (options.verbose && merge_list.size() % 1000 == 0)
      std::fprintf(stderr, "bpe: %zu merges, vocabulary %zu\n", merge_list.size(), token_bytes.size());
  }
  auto t_merge = Clock::now();

  detail::Model model;
  model.source = "trained BPE";
  model.pattern = pattern;
  model.whole_piece_lookup = false;
  for (TokenId id = 0; id < token_bytes.size(); ++id) model.add_token(id, token_bytes[id]);
  for (uint32_t i = 0; i < merge_list.size(); ++i) model.add_merge(merge_list[i].a, merge_list[i].b, i);
  for (size_t i = 0; i < n_special; ++i)
    model.add_special(static_cast<TokenId>(token_bytes.size() + i), options.special_tokens[i]);
  model.finalize();
  if (options.verbose) {
    auto secs = [](auto d) { return std::chrono::duration<double>(d).count(); };
    std::fprintf(stderr,
                 "bpe: trained on %.1f MB (%zu distinct pieces): %zu merges, vocabulary %zu; "
                 "counting %.1fs, merging %.1fs\n",
                 total_bytes / 1e6, words.size(), merge_list.size(), model.token_bytes.size(),
                 secs(t_count - t0), secs(t_merge - t_count));
  }
  return Tokenizer(std::make_shared<const detail::Model>(std::move(model)));
}

}  // namespace replay::text
