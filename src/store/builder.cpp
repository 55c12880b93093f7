#include "store/builder.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <cmath>
#include <cstdio>
#include <exception>
#include <limits>
#include <numeric>
#include <thread>
#include <unordered_map>

#include "store/split_rule.h"
#include "store/split_writer.h"
#include "store/token_store.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/hash.h"

namespace replay::store {

namespace stdfs = std::filesystem;

namespace {

// Removes the half-built directory unless the build got to the final rename.
class TempDirGuard {
 public:
  explicit TempDirGuard(stdfs::path dir) : dir_(std::move(dir)) {
    std::error_code ignored;
    stdfs::remove_all(dir_, ignored);
    stdfs::create_directories(dir_);
  }
  ~TempDirGuard() {
    if (armed_) {
      std::error_code ignored;
      stdfs::remove_all(dir_, ignored);
    }
  }
  void release() { armed_ = false; }
  const stdfs::path& path() const { return dir_; }

 private:
  stdfs::path dir_;
  bool armed_ = true;
};

// Tokenizes batches with a fixed set of threads that live for the whole
// build: the tokenizer keeps a per-thread cache of pieces, so threads spawned
// per batch would start cold every time (measured: slower than one thread).
// out[i] always holds the ids of texts[i], whatever the scheduling, which is
// what makes builds byte-identical for any thread count.
class TokenizerPool {
 public:
  TokenizerPool(const TokenizerHandle& tok, int threads) : tok_(tok) {
    for (int t = 1; t < threads; ++t) workers_.emplace_back([this] { worker(); });
  }
  ~TokenizerPool() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
  }

  void run(const std::vector<std::string>& texts, std::vector<std::vector<uint32_t>>& out) {
    out.resize(texts.size());
    {
      std::lock_guard lock(mu_);
      texts_ = &texts;
      out_ = &out;
      next_ = 0;
      busy_ = workers_.size();
      failure_ = nullptr;
      ++generation_;
    }
    wake_.notify_all();
    work();
    std::unique_lock lock(mu_);
    done_.wait(lock, [&] { return busy_ == 0; });
    if (failure_) std::rethrow_exception(failure_);
  }

 private:
  void work() {
    try {
      for (size_t i; (i = next_.fetch_add(1)) < texts_->size();) {
        (*out_)[i].clear();
        tok_.encode((*texts_)[i], (*out_)[i]);
      }
    } catch (...) {
      next_ = texts_->size();  // the others stop early too
      std::lock_guard lock(mu_);
      if (!failure_) failure_ = std::current_exception();
    }
  }
  void worker() {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock lock(mu_);
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
      }
      work();
      std::lock_guard lock(mu_);
      if (--busy_ == 0) done_.notify_one();
    }
  }

  const TokenizerHandle& tok_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  const std::vector<std::string>* texts_ = nullptr;
  std::vector<std::vector<uint32_t>>* out_ = nullptr;
  std::atomic<size_t> next_{0};
  size_t busy_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
  std::exception_ptr failure_;
};

struct Candidate {
  uint64_t key;
  uint64_t ordinal;  // position among non-empty documents
  uint64_t offset;   // first token in the spill file
  uint64_t tokens;   // including the trailing EOT
  uint64_t bytes;
};

// Tokens of candidate documents, set aside until the validation set is known.
class Spill {
 public:
  explicit Spill(stdfs::path path) : path_(std::move(path)) {
    file_ = std::fopen(path_.c_str(), "wb");
    if (!file_) throw Error("cannot create " + path_.string());
  }
  ~Spill() {
    if (file_) std::fclose(file_);
    std::error_code ignored;
    stdfs::remove(path_, ignored);
  }
  uint64_t append(std::span<const uint32_t> tokens) {
    uint64_t at = tokens_;
    if (!tokens.empty() && std::fwrite(tokens.data(), 4, tokens.size(), file_) != tokens.size())
      throw Error("cannot write " + path_.string() + " (disk full?)");
    tokens_ += tokens.size();
    return at;
  }
  // Finishes writing and maps the file for reading.
  const uint32_t* map() {
    if (std::fclose(file_) != 0) throw Error("cannot write " + path_.string());
    file_ = nullptr;
    mapped_ = fs::MappedFile(path_);
    return reinterpret_cast<const uint32_t*>(mapped_.data());
  }

 private:
  stdfs::path path_;
  std::FILE* file_ = nullptr;
  uint64_t tokens_ = 0;
  fs::MappedFile mapped_;
};

void check_options(const BuildOptions& o, const TokenizerHandle& tok) {
  if (o.domain.empty()) throw Error("a store needs a domain name");
  if (o.seq_len < 2) throw Error("--seq-len must be at least 2 (got " + std::to_string(o.seq_len) + ")");
  if (!(o.val_max_fraction >= 0 && o.val_max_fraction <= 1))
    throw Error("validation fraction must be in [0, 1] (got " + std::to_string(o.val_max_fraction) + ")");
  if (o.threads < 0) throw Error("--threads must be >= 0");
  if (!tok.encode) throw Error("no tokenizer given");
  if (tok.vocab_size == 0 || tok.vocab_size > (1ull << 32))
    throw Error("tokenizer vocabulary size " + std::to_string(tok.vocab_size) + " is not usable");
  if (tok.eot_id >= tok.vocab_size)
    throw Error("end-of-text id " + std::to_string(tok.eot_id) + " is outside the vocabulary");
}

// A build may replace an absent path, an empty folder or an older store.
void check_replaceable(const stdfs::path& out) {
  if (stdfs::exists(out) &&
      (!stdfs::is_directory(out) || (!stdfs::is_empty(out) && !stdfs::exists(out / kManifestName))))
    throw Error("refusing to overwrite " + out.string() + ": it exists and is not a token store");
}

// Replaces `out` with the finished `tmp`.
void publish(const stdfs::path& tmp, const stdfs::path& out) {
  std::error_code ec;
  stdfs::path old;
  check_replaceable(out);
  if (stdfs::exists(out)) {
    old = out;
    old += ".old-" + std::to_string(::getpid());
    stdfs::rename(out, old);
  }
  stdfs::rename(tmp, out, ec);
  if (ec) {
    if (!old.empty()) stdfs::rename(old, out);
    throw Error("cannot move the finished store into " + out.string() + ": " + ec.message());
  }
  if (!old.empty()) stdfs::remove_all(old, ec);
  fs::fsync_dir(out.has_parent_path() ? out.parent_path() : stdfs::path("."));
}

std::string rule_description(const BuildOptions& o) {
  char fraction[32];
  std::snprintf(fraction, sizeof fraction, "%g", o.val_max_fraction);
  return "validation = documents with the smallest xxh3_64(text, seed=" + std::to_string(o.seed) +
         "), in ascending key order, until they fill min(" + std::to_string(o.val_sequences) +
         " sequences, " + fraction +
         " of all tokens); their tail beyond that is dropped; every other document is training";
}

}  // namespace

Manifest build_store(const stdfs::path& out, const OpenDocuments& documents,
                     const TokenizerHandle& tok, const BuildOptions& o) {
  check_options(o, tok);
  check_replaceable(out);  // before any work, and again when publishing
  const int threads = o.threads > 0 ? o.threads
                                    : std::max(1u, std::thread::hardware_concurrency());
  const uint32_t width = token_bytes_for_vocab(tok.vocab_size);

  // Pass 1: read and hash only, to bound the candidate set (split_rule.h).
  uint64_t input_docs = 0, input_bytes = 0;
  const uint64_t max_val_tokens = o.val_sequences * o.seq_len;
  CandidateSketch sketch(max_val_tokens * 8);
  {
    auto src = documents();
    std::string text;
    while (src->next(text)) {
      if (text.empty()) continue;
      ++input_docs;
      input_bytes += text.size();
      sketch.add(document_key(text, o.seed), text.size());
    }
  }
  if (input_docs == 0)
    throw Error("no documents (or only empty ones) in the input of domain " + o.domain);
  const bool want_val = max_val_tokens > 0 && o.val_max_fraction > 0;
  const uint64_t candidate_bytes = std::min<uint64_t>(
      max_val_tokens * 8, static_cast<uint64_t>(std::ceil(2 * o.val_max_fraction * input_bytes)));
  const uint64_t threshold = want_val ? sketch.threshold(std::max<uint64_t>(1, candidate_bytes)) : 0;

  stdfs::path out_abs = stdfs::absolute(out).lexically_normal();
  if (out_abs.filename().empty()) out_abs = out_abs.parent_path();
  stdfs::path tmp_path = out_abs.parent_path() /
                         ("." + out_abs.filename().string() + ".partial-" + std::to_string(::getpid()));
  TempDirGuard tmp(tmp_path);

  Manifest m;
  m.domain = o.domain;
  m.tokenizer_fingerprint = tok.fingerprint;
  m.vocab_size = tok.vocab_size;
  m.eot_id = tok.eot_id;
  m.seq_len = o.seq_len;
  m.token_bytes = width;
  m.split_rule = {o.seed, o.val_sequences, o.val_max_fraction, 0, rule_description(o)};
  m.inputs = o.inputs;
  m.input_documents = input_docs;
  m.input_bytes = input_bytes;

  const uint64_t per_shard = sequences_per_shard(o.shard_bytes, o.seq_len, width);
  SplitWriter train(tmp.path(), Split::train, o.seq_len, width, tok.fingerprint, per_shard);
  auto spill = std::make_unique<Spill>(tmp.path() / "candidates.spill");
  std::vector<Candidate> candidates;
  uint64_t total_tokens = 0, ordinal = 0;

  // Pass 2: tokenize in parallel batches, consume in order.
  {
    auto src = documents();
    std::vector<std::string> batch;
    std::vector<std::vector<uint32_t>> tokens;
    TokenizerPool pool(tok, threads);
    bool more = true;
    uint64_t done_bytes = 0, next_report = 64ull << 20;
    while (more) {
      batch.clear();
      uint64_t bytes = 0;
      std::string text;
      while (bytes < o.batch_bytes && (more = src->next(text))) {
        if (text.empty()) continue;
        bytes += text.size();
        batch.push_back(std::move(text));
        text.clear();
      }
      if (batch.empty()) break;
      tokens.clear();  // fresh vectors: reused ones would keep their peak capacity
      pool.run(batch, tokens);
      for (size_t i = 0; i < batch.size(); ++i, ++ordinal) {
        std::vector<uint32_t>& t = tokens[i];
        for (uint32_t id : t)
          if (id >= tok.vocab_size)
            throw Error("tokenizer produced id " + std::to_string(id) + " >= vocabulary size " +
                        std::to_string(tok.vocab_size));
        t.push_back(tok.eot_id);
        total_tokens += t.size();
        uint64_t key = document_key(batch[i], o.seed);
        if (want_val && key <= threshold) {
          candidates.push_back({key, ordinal, spill->append(t), t.size(), batch[i].size()});
        } else {
          train.append(t);
          ++m.train.documents;
          m.train.text_bytes += batch[i].size();
        }
      }
      done_bytes += bytes;
      if (!o.quiet && done_bytes >= next_report) {
        std::fprintf(stderr, "  %s: %.0f MB tokenized\n", o.domain.c_str(), done_bytes / 1e6);
        next_report += 64ull << 20;
      }
    }
    if (ordinal != input_docs)
      throw Error("the input of domain " + o.domain + " changed while building (" +
                  std::to_string(input_docs) + " documents, then " + std::to_string(ordinal) + ")");
  }

  // Pick validation: smallest keys first until V sequences are filled.
  const uint64_t val_target = std::min<uint64_t>(
      o.val_sequences,
      static_cast<uint64_t>(o.val_max_fraction * static_cast<double>(total_tokens) / o.seq_len));
  const uint64_t val_tokens_target = val_target * o.seq_len;
  std::vector<size_t> by_key(candidates.size());
  std::iota(by_key.begin(), by_key.end(), 0);
  std::sort(by_key.begin(), by_key.end(), [&](size_t a, size_t b) {
    return std::tie(candidates[a].key, candidates[a].ordinal) <
           std::tie(candidates[b].key, candidates[b].ordinal);
  });
  std::vector<bool> is_val(candidates.size(), false);
  std::vector<size_t> val_docs;  // in key order
  {
    uint64_t sum = 0;
    for (size_t k = 0; k < by_key.size() && val_tokens_target > 0; ++k) {
      const Candidate& c = candidates[by_key[k]];
      if (sum >= val_tokens_target && c.key != candidates[val_docs.back()].key) break;
      sum += c.tokens;
      is_val[by_key[k]] = true;
      val_docs.push_back(by_key[k]);
    }
  }
  const uint32_t* spilled = spill->map();
  for (size_t k = 0; k < candidates.size(); ++k) {  // leftovers, in corpus order
    if (is_val[k]) continue;
    const Candidate& c = candidates[k];
    train.append({spilled + c.offset, c.tokens});
    ++m.train.documents;
    m.train.text_bytes += c.bytes;
  }
  uint64_t train_docs = m.train.documents, train_bytes = m.train.text_bytes;
  m.train = train.finish();
  m.train.documents = train_docs;
  m.train.text_bytes = train_bytes;
  if (m.train.sequences == 0)
    throw Error("domain " + o.domain + " has too little text for one training sequence of " +
                std::to_string(o.seq_len) + " tokens (" + std::to_string(total_tokens) +
                " tokens in all)");

  // Validation sequences, in memory (bounded by --val-sequences), at store width.
  SplitWriter val(tmp.path(), Split::val, o.seq_len, width, tok.fingerprint, per_shard, val_target);
  std::vector<uint32_t> val_tokens;
  val_tokens.reserve(val_tokens_target);
  uint64_t val_dropped = 0;
  for (size_t idx : val_docs) {
    const Candidate& c = candidates[idx];
    ++m.val.documents;
    m.val.text_bytes += c.bytes;
    uint64_t take = std::min<uint64_t>(c.tokens, val_tokens_target - val_tokens.size());
    val_tokens.insert(val_tokens.end(), spilled + c.offset, spilled + c.offset + take);
    val_dropped += c.tokens - take;
  }
  uint64_t val_seqs = val_tokens.size() / o.seq_len;
  val_dropped += val_tokens.size() - val_seqs * o.seq_len;
  if (!o.quiet && val_seqs < val_target)
    std::fprintf(stderr,
                 "replay: warning: domain %s: validation holds %llu sequences, fewer than the "
                 "%llu wanted (the candidate set was too small)\n",
                 o.domain.c_str(), (unsigned long long)val_seqs, (unsigned long long)val_target);

  // No sequence in both splits: drop validation sequences that also occur
  // verbatim in training (possible with boilerplate text in different documents).
  std::unordered_multimap<uint64_t, uint64_t> val_hashes;
  auto seq_hash = [&](const uint32_t* s) { return hash::xxh3_64(s, o.seq_len * 4ull); };
  for (uint64_t s = 0; s < val_seqs; ++s)
    val_hashes.emplace(seq_hash(val_tokens.data() + s * o.seq_len), s);
  std::vector<bool> duplicate(val_seqs, false);
  if (val_seqs > 0) {
    std::vector<uint32_t> wide(o.seq_len);
    for (const ShardInfo& sh : m.train.shards) {
      fs::MappedFile file(tmp.path() / sh.file);
      const uint8_t* payload = file.data() + kHeaderBytes;
      for (uint64_t s = 0; s < sh.sequences; ++s) {
        const uint8_t* seq = payload + s * o.seq_len * width;
        for (uint32_t k = 0; k < o.seq_len; ++k)
          wide[k] = width == 2 ? reinterpret_cast<const uint16_t*>(seq)[k]
                               : reinterpret_cast<const uint32_t*>(seq)[k];
        auto [lo, hi] = val_hashes.equal_range(seq_hash(wide.data()));
        for (auto it = lo; it != hi; ++it)
          if (std::equal(wide.begin(), wide.end(), val_tokens.begin() + it->second * o.seq_len))
            duplicate[it->second] = true;
      }
    }
  }
  for (uint64_t s = 0; s < val_seqs; ++s) {
    if (duplicate[s]) {
      ++m.split_rule.val_dropped_duplicates;
      val_dropped += o.seq_len;
      continue;
    }
    val.append({val_tokens.data() + s * o.seq_len, o.seq_len});
  }
  uint64_t val_docs_count = m.val.documents, val_bytes = m.val.text_bytes;
  m.val = val.finish();
  m.val.documents = val_docs_count;
  m.val.text_bytes = val_bytes;
  m.val.dropped_tokens += val_dropped;

  spill.reset();  // removes the spill file: the store holds shards and manifest only
  fs::write_file_atomic(tmp.path() / kManifestName, manifest_to_json(m));
  publish(tmp.path(), out_abs);
  tmp.release();
  return m;
}

namespace {
class VectorSource : public DocumentSource {
 public:
  explicit VectorSource(std::shared_ptr<const std::vector<std::string>> texts)
      : texts_(std::move(texts)) {}
  bool next(std::string& text) override {
    if (i_ >= texts_->size()) return false;
    text = (*texts_)[i_++];
    return true;
  }

 private:
  std::shared_ptr<const std::vector<std::string>> texts_;
  size_t i_ = 0;
};
}  // namespace

OpenDocuments documents_from_vector(std::vector<std::string> texts) {
  auto shared = std::make_shared<const std::vector<std::string>>(std::move(texts));
  return [shared] { return std::make_unique<VectorSource>(shared); };
}

}  // namespace replay::store
