#include "store/builder.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <limits>
#include <numeric>
#include <unordered_map>

#include "store/split_rule.h"
#include "store/split_writer.h"
#include "store/token_store.h"
#include "util/error.h"
#include "util/file_lock.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/staged_dir.h"
#include "util/worker_pool.h"

namespace replay::store {

namespace stdfs = std::filesystem;

namespace {

// Tokenizes one batch on the pool (util/worker_pool.h: its threads live for
// the whole build, so the tokenizer's per-thread piece caches stay warm).
// out[i] always holds the ids of texts[i], whatever the scheduling, which is
// what makes builds byte-identical for any thread count.
void tokenize_batch(WorkerPool& pool, const TokenizerHandle& tok, const std::vector<std::string>& texts,
                    std::vector<std::vector<uint32_t>>& out) {
  out.resize(texts.size());
  pool.for_each_index(texts.size(), [&](size_t i) {
    out[i].clear();
    if (tok.bos_id) out[i].push_back(*tok.bos_id);
    tok.encode(texts[i], out[i]);
  });
}

struct Candidate {
  uint64_t key;
  uint64_t ordinal;  // position among non-empty documents
  uint64_t offset;   // first token in the spill file
  uint64_t tokens;   // including the trailing EOT
  uint64_t bytes;
};

// The most tokens one validation document may give (split_rule.h).
uint64_t doc_token_cap(const BuildOptions& o) {
  return o.val_doc_sequences > 0 ? o.val_doc_sequences * o.seq_len : UINT64_MAX;
}

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
  if (!(o.val_max_fraction >= 0 && o.val_max_fraction <= kMaxValFraction)) {
    char range[96];
    std::snprintf(range, sizeof range, "between 0 and %g (got %g)", kMaxValFraction, o.val_max_fraction);
    throw Error(std::string("--val-fraction must be ") + range + ": training keeps the rest of a domain's tokens");
  }
  if (o.threads < 0) throw Error("--threads must be >= 0");
  if (!tok.encode) throw Error("no tokenizer given");
  if (tok.vocab_size == 0 || tok.vocab_size > (1ull << 32))
    throw Error("tokenizer vocabulary size " + std::to_string(tok.vocab_size) + " is not usable");
  if (tok.eot_id >= tok.vocab_size)
    throw Error("end-of-text id " + std::to_string(tok.eot_id) + " is outside the vocabulary");
  if (tok.bos_id && *tok.bos_id >= tok.vocab_size)
    throw Error("beginning-of-sequence id " + std::to_string(*tok.bos_id) + " is outside the vocabulary");
}

// A build may replace an absent path, an empty folder or an older store.
void check_replaceable(const stdfs::path& out) {
  if (stdfs::exists(out) &&
      (!stdfs::is_directory(out) || (!stdfs::is_empty(out) && !stdfs::exists(out / kManifestName))))
    throw Error("refusing to overwrite " + out.string() + ": it exists and is not a token store");
}

std::string rule_description(const BuildOptions& o) {
  char fraction[32];
  std::snprintf(fraction, sizeof fraction, "%g", o.val_max_fraction);
  const std::string per_doc =
      o.val_doc_sequences > 0
          ? ", each giving at most its first " + std::to_string(o.val_doc_sequences) + " sequences (the rest dropped)"
          : "";
  return "validation = documents with the smallest xxh3_64(text, seed=" + std::to_string(o.seed) +
         "), in ascending key order" + per_doc + ", until they fill min(" + std::to_string(o.val_sequences) +
         " sequences, " + fraction +
         " of all tokens), skipping any that would leave training fewer tokens than that; their tail "
         "beyond that is dropped; every other document is training";
}

// What pass 1 learns: the input's size and which documents are validation
// candidates in pass 2.
struct InputScan {
  uint64_t documents = 0;  // non-empty ones
  uint64_t bytes = 0;
  bool want_val = false;
  uint64_t candidate_threshold = 0;  // documents with keys <= this are candidates
};

// Pass 1: read and hash only, to bound the candidate set (split_rule.h).
InputScan scan_input(const OpenDocuments& documents, const BuildOptions& o) {
  InputScan scan;
  const uint64_t max_val_tokens = o.val_sequences * o.seq_len;
  CandidateSketch sketch(max_val_tokens * 8);
  // A document counts with at most its capped share (8 bytes per token, as the budget).
  const uint64_t cap_tokens = doc_token_cap(o);
  const uint64_t doc_bytes_cap = cap_tokens == UINT64_MAX ? UINT64_MAX : cap_tokens * 8;
  auto src = documents();
  std::string text;
  while (src->next(text)) {
    if (text.empty()) continue;
    ++scan.documents;
    scan.bytes += text.size();
    sketch.add(document_key(text, o.seed), std::min<uint64_t>(text.size(), doc_bytes_cap));
  }
  if (scan.documents == 0)
    throw Error("no documents (or only empty ones) in the input of domain " + o.domain);
  scan.want_val = max_val_tokens > 0 && o.val_max_fraction > 0;
  const uint64_t candidate_bytes = std::min<uint64_t>(
      max_val_tokens * 8, static_cast<uint64_t>(std::ceil(2 * o.val_max_fraction * scan.bytes)));
  if (scan.want_val) scan.candidate_threshold = sketch.threshold(std::max<uint64_t>(1, candidate_bytes));
  return scan;
}

// Non-empty documents in batches of about `batch_bytes` of text.
class BatchReader {
 public:
  BatchReader(DocumentSource& source, uint64_t batch_bytes) : source_(source), batch_bytes_(batch_bytes) {}
  // False when the source has no document left.
  bool next(std::vector<std::string>& batch, uint64_t& bytes) {
    batch.clear();
    bytes = 0;
    std::string text;
    while (more_ && bytes < batch_bytes_ && (more_ = source_.next(text))) {
      if (text.empty()) continue;
      bytes += text.size();
      batch.push_back(std::move(text));
      text.clear();
    }
    return !batch.empty();
  }

 private:
  DocumentSource& source_;
  uint64_t batch_bytes_;
  bool more_ = true;
};

using ConsumeTokens = std::function<void(const std::string& text, std::vector<uint32_t>& tokens)>;

// Pass 2: tokenizes in parallel batches and hands every document with its
// tokens to `consume` in corpus order. Returns the number of documents.
uint64_t tokenize_in_order(const OpenDocuments& documents, const TokenizerHandle& tok,
                           const BuildOptions& o, const ConsumeTokens& consume) {
  auto src = documents();
  BatchReader reader(*src, o.batch_bytes);
  WorkerPool pool(resolve_threads(o.threads));
  std::vector<std::string> batch;
  std::vector<std::vector<uint32_t>> tokens;
  uint64_t count = 0, bytes = 0, done_bytes = 0, next_report = 64ull << 20;
  while (reader.next(batch, bytes)) {
    tokens.clear();  // fresh vectors: reused ones would keep their peak capacity
    tokenize_batch(pool, tok, batch, tokens);
    for (size_t i = 0; i < batch.size(); ++i) consume(batch[i], tokens[i]);
    count += batch.size();
    done_bytes += bytes;
    if (!o.quiet && done_bytes >= next_report) {
      std::fprintf(stderr, "  %s: %.0f MB tokenized\n", o.domain.c_str(), done_bytes / 1e6);
      next_report += 64ull << 20;
    }
  }
  return count;
}

void check_ids_in_vocabulary(const std::vector<uint32_t>& tokens, uint64_t vocab_size) {
  for (uint32_t id : tokens)
    if (id >= vocab_size)
      throw Error("tokenizer produced id " + std::to_string(id) + " >= vocabulary size " +
                  std::to_string(vocab_size));
}

// Validation size in sequences: the requested count, capped by the fraction.
uint64_t validation_target(const BuildOptions& o, uint64_t total_tokens) {
  return std::min<uint64_t>(
      o.val_sequences,
      static_cast<uint64_t>(o.val_max_fraction * static_cast<double>(total_tokens) / o.seq_len));
}

struct ValidationPick {
  std::vector<bool> is_val;      // per candidate
  std::vector<size_t> in_order;  // the validation candidates, in key order
  uint64_t tokens = 0;           // what they give validation (each at most the document cap)
  uint64_t removed = 0;          // all of theirs: whole documents leave training
};

// Smallest keys first until `target_tokens` are filled, each document
// giving at most `cap_tokens`. Documents sharing a key (identical text) are
// taken or left together. A group that would take more than `limit_tokens`
// out of training is left to training: with the limit at total - target,
// training keeps at least target >= seq_len tokens, so even a corpus of one
// huge document trains.
ValidationPick pick_validation(const std::vector<Candidate>& candidates, uint64_t target_tokens,
                               uint64_t limit_tokens, uint64_t cap_tokens) {
  std::vector<size_t> by_key(candidates.size());
  std::iota(by_key.begin(), by_key.end(), 0);
  std::sort(by_key.begin(), by_key.end(), [&](size_t a, size_t b) {
    return std::tie(candidates[a].key, candidates[a].ordinal) <
           std::tie(candidates[b].key, candidates[b].ordinal);
  });
  ValidationPick pick{std::vector<bool>(candidates.size(), false), {}};
  for (size_t k = 0, end; k < by_key.size() && pick.tokens < target_tokens; k = end) {
    uint64_t group = 0, gives = 0;
    for (end = k; end < by_key.size() && candidates[by_key[end]].key == candidates[by_key[k]].key; ++end) {
      group += candidates[by_key[end]].tokens;
      gives += std::min(candidates[by_key[end]].tokens, cap_tokens);
    }
    if (pick.removed + group > limit_tokens) continue;
    pick.removed += group;
    pick.tokens += gives;
    for (size_t j = k; j < end; ++j) {
      pick.is_val[by_key[j]] = true;
      pick.in_order.push_back(by_key[j]);
    }
  }
  return pick;
}

// SplitWriter::finish() leaves documents and text bytes to the caller: keeps
// the counts made while routing documents.
void finish_split(SplitWriter& writer, SplitInfo& info) {
  const uint64_t documents = info.documents, text_bytes = info.text_bytes;
  info = writer.finish();
  info.documents = documents;
  info.text_bytes = text_bytes;
}

// One stored sequence at any width, widened to 32-bit ids.
void widen_sequence(const uint8_t* seq, uint32_t width, std::vector<uint32_t>& wide) {
  for (size_t k = 0; k < wide.size(); ++k)
    wide[k] = width == 2 ? reinterpret_cast<const uint16_t*>(seq)[k]
                         : reinterpret_cast<const uint32_t*>(seq)[k];
}

// Which of the validation sequences (consecutive seq_len runs of
// `val_tokens`) also occur verbatim in the training shards under `dir`.
std::vector<bool> sequences_also_in_train(const std::vector<uint32_t>& val_tokens, uint32_t seq_len,
                                          uint32_t width, const stdfs::path& dir,
                                          const std::vector<ShardInfo>& train_shards) {
  const uint64_t val_seqs = val_tokens.size() / seq_len;
  std::vector<bool> duplicate(val_seqs, false);
  if (val_seqs == 0) return duplicate;
  auto seq_hash = [&](const uint32_t* s) { return hash::xxh3_64(s, seq_len * 4ull); };
  std::unordered_multimap<uint64_t, uint64_t> val_hashes;
  for (uint64_t s = 0; s < val_seqs; ++s) val_hashes.emplace(seq_hash(val_tokens.data() + s * seq_len), s);
  std::vector<uint32_t> wide(seq_len);
  for (const ShardInfo& sh : train_shards) {
    fs::MappedFile file(dir / sh.file);
    const uint8_t* payload = file.data() + kHeaderBytes;
    for (uint64_t s = 0; s < sh.sequences; ++s) {
      widen_sequence(payload + s * seq_len * width, width, wide);
      auto [lo, hi] = val_hashes.equal_range(seq_hash(wide.data()));
      for (auto it = lo; it != hi; ++it)
        if (std::equal(wide.begin(), wide.end(), val_tokens.begin() + it->second * seq_len))
          duplicate[it->second] = true;
    }
  }
  return duplicate;
}

Manifest manifest_header(const BuildOptions& o, const TokenizerHandle& tok, const InputScan& scan) {
  Manifest m;
  m.domain = o.domain;
  m.tokenizer_fingerprint = tok.fingerprint;
  m.vocab_size = tok.vocab_size;
  m.eot_id = tok.eot_id;
  m.bos_id = tok.bos_id;
  m.seq_len = o.seq_len;
  m.token_bytes = token_bytes_for_vocab(tok.vocab_size);
  m.split_rule = {o.seed, o.val_sequences, o.val_max_fraction, 0, o.val_doc_sequences, rule_description(o)};
  m.inputs = o.inputs;
  m.input_documents = scan.documents;
  m.input_bytes = scan.bytes;
  return m;
}

// One store being assembled in a staging directory: pass 2 routes each
// document to training or to the validation candidates; finish() then
// decides validation and writes both splits.
class StoreAssembly {
 public:
  StoreAssembly(const stdfs::path& dir, const TokenizerHandle& tok, const BuildOptions& o,
                const InputScan& scan)
      : dir_(dir),
        tok_(tok),
        o_(o),
        scan_(scan),
        m_(manifest_header(o, tok, scan)),
        per_shard_(sequences_per_shard(o.shard_bytes, o.seq_len, m_.token_bytes)),
        train_(dir, Split::train, o.seq_len, m_.token_bytes, tok.fingerprint, per_shard_),
        spill_(std::make_unique<Spill>(dir / "candidates.spill")) {}

  // Pass 2, in corpus order.
  void add(const std::string& text, std::vector<uint32_t>& tokens) {
    check_ids_in_vocabulary(tokens, tok_.vocab_size);
    tokens.push_back(tok_.eot_id);
    total_tokens_ += tokens.size();
    const uint64_t key = document_key(text, o_.seed);
    if (scan_.want_val && key <= scan_.candidate_threshold)
      candidates_.push_back({key, ordinal_, spill_->append(tokens), tokens.size(), text.size()});
    else
      append_train(tokens, text.size());
    ++ordinal_;
  }

  // Writes both splits; the manifest is the caller's to write.
  Manifest finish() {
    const uint64_t val_target = validation_target(o_, total_tokens_);
    const uint64_t target_tokens = val_target * o_.seq_len;
    const ValidationPick pick =
        pick_validation(candidates_, target_tokens, total_tokens_ - target_tokens, doc_token_cap(o_));
    const uint32_t* spilled = spill_->map();
    for (size_t k = 0; k < candidates_.size(); ++k) {  // leftovers, in corpus order
      const Candidate& c = candidates_[k];
      if (!pick.is_val[k]) append_train({spilled + c.offset, c.tokens}, c.bytes);
    }
    finish_train();
    write_validation(pick.in_order, val_target, spilled);
    spill_.reset();  // removes the spill file: the store holds shards and manifest only
    return m_;
  }

 private:
  void append_train(std::span<const uint32_t> tokens, uint64_t text_bytes) {
    train_.append(tokens);
    ++m_.train.documents;
    m_.train.text_bytes += text_bytes;
  }

  // Validation always leaves training a sequence (pick_validation), so only
  // a corpus shorter than one sequence ends up here.
  void finish_train() {
    finish_split(train_, m_.train);
    if (m_.train.sequences == 0)
      throw Error("domain " + o_.domain + " has too little text for one training sequence of " +
                  std::to_string(o_.seq_len) + " tokens (" + std::to_string(total_tokens_) +
                  " tokens in all)");
  }

  // The validation documents' tokens, in key order, each cut at the document
  // cap and all at the target; what is cut off counts into `dropped`.
  std::vector<uint32_t> gather_validation(const std::vector<size_t>& val_docs, uint64_t target_tokens,
                                          const uint32_t* spilled, uint64_t& dropped) {
    std::vector<uint32_t> tokens;
    tokens.reserve(target_tokens);
    for (size_t idx : val_docs) {
      const Candidate& c = candidates_[idx];
      ++m_.val.documents;
      m_.val.text_bytes += c.bytes;
      const bool capped = c.tokens > doc_token_cap(o_);
      const uint64_t take = std::min<uint64_t>({c.tokens, doc_token_cap(o_), target_tokens - tokens.size()});
      tokens.insert(tokens.end(), spilled + c.offset, spilled + c.offset + take);
      // A capped document still ends with the end-of-text token, so the
      // stream stays `text <eot>` documents (its last token gives way).
      if (capped && take == doc_token_cap(o_)) tokens.back() = tok_.eot_id;
      dropped += c.tokens - take;
    }
    return tokens;
  }

  void warn_if_short(uint64_t val_seqs, uint64_t val_target) const {
    if (!o_.quiet && val_seqs < val_target)
      std::fprintf(stderr,
                   "replay: warning: domain %s: validation holds %llu sequences, fewer than the "
                   "%llu wanted (the candidate set was too small)\n",
                   o_.domain.c_str(), (unsigned long long)val_seqs, (unsigned long long)val_target);
  }

  // Validation sequences, in memory (bounded by --val-sequences), at store
  // width; none that also occurs verbatim in training.
  void write_validation(const std::vector<size_t>& val_docs, uint64_t val_target, const uint32_t* spilled) {
    const uint32_t seq_len = o_.seq_len;
    SplitWriter val(dir_, Split::val, seq_len, m_.token_bytes, tok_.fingerprint, per_shard_, val_target);
    uint64_t dropped = 0;
    const std::vector<uint32_t> tokens = gather_validation(val_docs, val_target * seq_len, spilled, dropped);
    const uint64_t val_seqs = tokens.size() / seq_len;
    dropped += tokens.size() - val_seqs * seq_len;
    warn_if_short(val_seqs, val_target);
    const std::vector<bool> duplicate =
        sequences_also_in_train(tokens, seq_len, m_.token_bytes, dir_, m_.train.shards);
    for (uint64_t s = 0; s < val_seqs; ++s) {
      if (duplicate[s]) {
        ++m_.split_rule.val_dropped_duplicates;
        dropped += seq_len;
        continue;
      }
      val.append({tokens.data() + s * seq_len, seq_len});
    }
    finish_split(val, m_.val);
    m_.val.dropped_tokens += dropped;
  }

  const stdfs::path dir_;
  const TokenizerHandle& tok_;
  const BuildOptions& o_;
  const InputScan scan_;
  Manifest m_;
  const uint64_t per_shard_;
  SplitWriter train_;
  std::unique_ptr<Spill> spill_;
  std::vector<Candidate> candidates_;
  uint64_t total_tokens_ = 0;
  uint64_t ordinal_ = 0;
};

// The store's final path, absolute, without a trailing slash.
stdfs::path normalized_store_path(const stdfs::path& out) {
  stdfs::path abs = stdfs::absolute(out).lexically_normal();
  return abs.filename().empty() ? abs.parent_path() : abs;
}

// One build per store at a time: a second one is refused naming the first
// one's PID. Held, the lock makes this process the only one that may clean
// up what killed builds of the store left behind.
fs::FileLock lock_store(const stdfs::path& out_abs, const BuildOptions& o) {
  stdfs::create_directories(out_abs.parent_path());
  fs::FileLock lock(StagedDir::lock_file(out_abs));
  if (!lock.held())
    throw Error("another `replay data build` (PID " + std::to_string(lock.holder_pid()) + ") is building " +
                out_abs.string() + " (lock " + lock.path().string() + "); wait for it to finish");
  for (const std::string& line : StagedDir::recover_leftovers(out_abs))
    if (!o.quiet) std::fprintf(stderr, "replay: %s\n", line.c_str());
  return lock;
}

}  // namespace

Manifest build_store(const stdfs::path& out, const OpenDocuments& documents,
                     const TokenizerHandle& tok, const BuildOptions& o) {
  check_options(o, tok);
  const stdfs::path out_abs = normalized_store_path(out);
  const fs::FileLock lock = lock_store(out_abs, o);
  check_replaceable(out_abs);  // before any work, and again when publishing
  const InputScan scan = scan_input(documents, o);
  StagedDir staged(out_abs);  // removed again if anything below throws
  StoreAssembly assembly(staged.path(), tok, o, scan);
  const uint64_t seen = tokenize_in_order(
      documents, tok, o, [&](const std::string& text, std::vector<uint32_t>& tokens) { assembly.add(text, tokens); });
  if (seen != scan.documents)
    throw Error("the input of domain " + o.domain + " changed while building (" +
                std::to_string(scan.documents) + " documents, then " + std::to_string(seen) + ")");
  Manifest m = assembly.finish();
  fs::write_file_atomic(staged.path() / kManifestName, manifest_to_json(m));
  check_replaceable(out_abs);  // something else may have appeared there meanwhile
  staged.publish(StagedDir::Mode::replace);  // the old store stays until the new one is in place
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
