// The validation split: size, the seeded smallest-key rule, disjointness of
// documents and sequences, and byte-identical output for any thread count.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "store/builder.h"
#include "store/split_rule.h"
#include "store/token_store.h"
#include "store_test_util.h"
#include "util/fs.h"

namespace stdfs = std::filesystem;
using namespace replay;
using namespace replay::store;

namespace {

BuildOptions options(uint32_t seq_len, uint64_t val_sequences, uint64_t seed = 1) {
  BuildOptions o;
  o.domain = "test";
  o.seq_len = seq_len;
  o.val_sequences = val_sequences;
  o.val_max_fraction = 0.5;
  o.seed = seed;
  o.threads = 2;
  return o;
}

// A split's byte-tokenizer stream cut at EOT; the first and last pieces may
// be partial documents, the others are whole.
struct Pieces {
  std::vector<std::string> whole;
  std::vector<std::string> sequences;
};
Pieces pieces(const TokenStore& s, Split split) {
  Pieces p;
  std::string stream;
  std::vector<int64_t> seq(s.seq_len());
  for (int64_t i = 0; i < s.num_sequences(split); ++i) {
    s.read(split, i, seq.data());
    std::string text;
    for (int64_t t : seq) text.push_back(t == 256 ? '\x01' : static_cast<char>(t));
    p.sequences.push_back(text);
    stream += text;
  }
  size_t start = stream.find('\x01');
  while (start != std::string::npos) {
    size_t end = stream.find('\x01', start + 1);
    if (end == std::string::npos) break;
    p.whole.push_back(stream.substr(start + 1, end - start - 1));
    start = end;
  }
  return p;
}

}  // namespace

TEST(SplitRule, ValidationIsTheSmallestKeysAndDisjointFromTraining) {
  TempDir dir("rule");
  auto docs = numbered_documents(2000);
  auto m = build_store(dir.path / "s", documents_from_vector(docs), byte_tokenizer(),
                       options(32, 40, 7));
  EXPECT_EQ(m.val.sequences, 40u);
  EXPECT_EQ(m.train.documents + m.val.documents, docs.size());
  TokenStore s = TokenStore::open(dir.path / "s");
  EXPECT_EQ(s.num_sequences(Split::val), 40);
  Pieces train = pieces(s, Split::train), val = pieces(s, Split::val);
  ASSERT_GT(val.whole.size(), 10u);
  ASSERT_GT(train.whole.size(), 1000u);

  std::set<std::string> train_docs(train.whole.begin(), train.whole.end());
  uint64_t max_val_key = 0, min_train_key = UINT64_MAX;
  for (const auto& d : val.whole) {
    EXPECT_FALSE(train_docs.count(d)) << d;
    max_val_key = std::max(max_val_key, document_key(d, 7));
  }
  for (const auto& d : train.whole) min_train_key = std::min(min_train_key, document_key(d, 7));
  EXPECT_LT(max_val_key, min_train_key);
  // Validation packs documents in ascending key order.
  for (size_t i = 1; i < val.whole.size(); ++i)
    EXPECT_LT(document_key(val.whole[i - 1], 7), document_key(val.whole[i], 7));
  std::set<std::string> train_seqs(train.sequences.begin(), train.sequences.end());
  for (const auto& q : val.sequences) EXPECT_FALSE(train_seqs.count(q));

  // Another seed picks other documents.
  auto m2 = build_store(dir.path / "s2", documents_from_vector(docs), byte_tokenizer(),
                        options(32, 40, 8));
  Pieces val2 = pieces(TokenStore::open(dir.path / "s2"), Split::val);
  std::set<std::string> a(val.whole.begin(), val.whole.end());
  size_t shared = 0;
  for (const auto& d : val2.whole) shared += a.count(d);
  EXPECT_LT(shared, val2.whole.size() / 2);
}

TEST(SplitRule, FractionCapsTheValidationSize) {
  TempDir dir("fraction");
  auto docs = numbered_documents(300);  // ~ 300 * 45 bytes ~ 420 sequences of 32
  BuildOptions o = options(32, 100000);
  o.val_max_fraction = 0.05;
  auto m = build_store(dir.path / "s", documents_from_vector(docs), byte_tokenizer(), o);
  uint64_t total = m.train.sequences + m.val.sequences;
  EXPECT_GT(m.val.sequences, 0u);
  EXPECT_LE(m.val.sequences, total * 0.05 + 1);
  EXPECT_GE(m.val.sequences, total * 0.05 - 2);

  o.val_max_fraction = 0;  // no validation at all
  auto none = build_store(dir.path / "t", documents_from_vector(docs), byte_tokenizer(), o);
  EXPECT_EQ(none.val.sequences, 0u);
  EXPECT_EQ(none.val.documents, 0u);
  EXPECT_EQ(none.train.documents, docs.size());
}

TEST(SplitRule, IdenticalDocumentsStayTogetherAndSharedSequencesLeaveValidation) {
  TempDir dir("dups");
  std::vector<std::string> docs;
  // Every document starts with the same 64 bytes of boilerplate, so 8-token
  // sequences of pure boilerplate occur in both streams; some documents
  // appear twice verbatim.
  for (int i = 0; i < 400; ++i) {
    std::string d = std::string(64, 'L') + "body " + std::to_string(i);
    docs.push_back(d);
    if (i % 5 == 0) docs.push_back(d);
  }
  auto m = build_store(dir.path / "s", documents_from_vector(docs), byte_tokenizer(),
                       options(8, 60));
  EXPECT_GT(m.split_rule.val_dropped_duplicates, 0u);
  TokenStore s = TokenStore::open(dir.path / "s");
  Pieces train = pieces(s, Split::train), val = pieces(s, Split::val);
  std::set<std::string> train_seqs(train.sequences.begin(), train.sequences.end());
  for (const auto& q : val.sequences) EXPECT_FALSE(train_seqs.count(q)) << q;
  std::set<std::string> train_docs(train.whole.begin(), train.whole.end());
  for (const auto& d : val.whole) EXPECT_FALSE(train_docs.count(d)) << d;
}

TEST(Build, OutputIsIdenticalForAnyThreadCountAndBatchSize) {
  TempDir dir("determinism");
  auto docs = numbered_documents(1500, 1, 300);
  std::vector<std::string> runs;
  int variant = 0;
  for (auto [threads, batch] : {std::pair{1, 1 << 20}, {2, 700}, {3, 5000}}) {
    BuildOptions o = options(24, 30);
    o.threads = threads;
    o.batch_bytes = batch;
    o.shard_bytes = 24 * 2 * 1000;
    stdfs::path out = dir.path / ("s" + std::to_string(variant++));
    auto m = build_store(out, documents_from_vector(docs), byte_tokenizer(), o);
    EXPECT_GT(m.train.shards.size(), 3u);
    std::string all = fs::read_file(out / "manifest.json");
    for (const auto* split : {&m.train, &m.val})
      for (const auto& sh : split->shards) all += fs::read_file(out / sh.file);
    runs.push_back(all);
  }
  EXPECT_EQ(runs[0], runs[1]);
  EXPECT_EQ(runs[0], runs[2]);
}

TEST(CandidateSketch, ThresholdCoversTheByteBudgetWithTheSmallestKeys) {
  CandidateSketch sketch(100);
  for (uint64_t k = 1000; k >= 1; --k) sketch.add(k * 10, 7);  // 7 bytes each
  EXPECT_EQ(sketch.threshold(70), 100u);                       // keys 10..100
  CandidateSketch small(1000);
  small.add(5, 10);
  EXPECT_EQ(small.threshold(1000), UINT64_MAX);  // whole corpus needed
}

TEST(SplitRule, OneHugeDocumentStillTrains) {
  TempDir dir("huge");
  // One document: before, validation took it whole (its tail beyond V
  // sequences dropped) and left training nothing.
  const std::string doc = numbered_documents(1, 5000, 1)[0];
  BuildOptions o = options(32, 100);
  auto m = build_store(dir.path / "s", documents_from_vector({doc}), byte_tokenizer(), o);
  EXPECT_EQ(m.train.documents, 1u);
  EXPECT_EQ(m.train.sequences, (doc.size() + 1) / 32);
  EXPECT_EQ(m.val.documents, 0u);
  EXPECT_EQ(m.val.sequences, 0u);
}

TEST(SplitRule, FractionAboveTheCapIsRefusedBeforeAnyWork) {
  TempDir dir("cap");
  BuildOptions o = options(32, 100000);
  o.val_max_fraction = 1;  // before: validation took every document
  bool read = false;
  OpenDocuments docs = [&] {
    read = true;
    return documents_from_vector(numbered_documents(50))();
  };
  const std::string msg = error_of([&] { build_store(dir.path / "s", docs, byte_tokenizer(), o); });
  EXPECT_NE(msg.find("--val-fraction must be between 0 and 0.5 (got 1)"), std::string::npos) << msg;
  EXPECT_FALSE(read);
  EXPECT_FALSE(stdfs::exists(dir.path / "s"));
}

TEST(SplitRule, ValidationLeavesATinyCorpusATrainingSequence) {
  TempDir dir("little");
  // Three documents of 21 bytes: 66 tokens with EOTs, V = floor(0.5 * 66 /
  // 32) = 1 sequence. Before, the two smallest keys filled it (44 tokens)
  // and left 22: "too little text". Now validation stops at 66 - 32 = 34
  // tokens: one document, too short for a sequence, and training keeps 44.
  std::vector<std::string> docs = {std::string(21, 'a'), std::string(21, 'b'), std::string(21, 'c')};
  auto m = build_store(dir.path / "s", documents_from_vector(docs), byte_tokenizer(), options(32, 4));
  EXPECT_EQ(m.val.documents, 1u);
  EXPECT_EQ(m.val.sequences, 0u);
  EXPECT_EQ(m.val.dropped_tokens, 22u);
  EXPECT_EQ(m.train.documents, 2u);
  EXPECT_EQ(m.train.sequences, 1u);
}

TEST(SplitRule, LongDocumentsGiveAtMostTheCapSoValidationHasManyDocuments) {
  TempDir dir("doccap");
  // 60 documents of ~40 sequences of 32 bytes each: without a cap, the 2
  // smallest keys fill 60 validation sequences; with a cap of 3, 20 do.
  auto docs = numbered_documents(60, 1280, 1);
  BuildOptions o = options(32, 60);
  o.val_doc_sequences = 0;
  auto uncapped = build_store(dir.path / "u", documents_from_vector(docs), byte_tokenizer(), o);
  EXPECT_EQ(uncapped.val.sequences, 60u);
  EXPECT_LE(uncapped.val.documents, 2u);
  EXPECT_EQ(uncapped.split_rule.val_doc_sequences, 0u);

  o.val_doc_sequences = 3;
  auto capped = build_store(dir.path / "c", documents_from_vector(docs), byte_tokenizer(), o);
  EXPECT_EQ(capped.val.sequences, 60u);
  EXPECT_EQ(capped.val.documents, 20u);
  EXPECT_EQ(capped.train.documents + capped.val.documents, docs.size());
  EXPECT_EQ(capped.split_rule.val_doc_sequences, 3u);
  EXPECT_NE(capped.split_rule.description.find("at most its first 3 sequences"), std::string::npos);
  // Each validation document gave its first 3 sequences: the stream starts
  // with the smallest key's document, and the 4th sequence is another one's.
  TokenStore s = TokenStore::open(dir.path / "c");
  std::vector<int64_t> seq(32);
  std::string stream;
  for (int64_t i = 0; i < s.num_sequences(Split::val); ++i) {
    s.read(Split::val, i, seq.data());
    for (int64_t t : seq) stream.push_back(t == 256 ? '\x01' : static_cast<char>(t));
  }
  std::vector<std::pair<uint64_t, std::string>> by_key;
  for (const auto& d : docs) by_key.emplace_back(document_key(d, 1), d);
  std::sort(by_key.begin(), by_key.end());
  for (size_t k = 0; k < 20; ++k)  // its first 95 bytes, then the end-of-text token
    EXPECT_EQ(stream.substr(k * 96, 96), by_key[k].second.substr(0, 95) + '\x01') << "document " << k;
  // The capped documents' tails are not trained on.
  std::set<std::string> train_docs;
  for (const auto& d : pieces(s, Split::train).whole) train_docs.insert(d);
  for (size_t k = 0; k < 20; ++k) EXPECT_FALSE(train_docs.count(by_key[k].second));
  // The manifest round-trips the cap.
  EXPECT_EQ(s.manifest().split_rule.val_doc_sequences, 3u);
}
