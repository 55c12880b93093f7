// Format, packing, reading and bad-input tests, driven by a byte tokenizer so
// that every expected token can be written down by hand.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "store/builder.h"
#include "store/format.h"
#include "store/token_store.h"
#include "store_surgery.h"
#include "store_test_util.h"
#include "util/error.h"
#include "util/fs.h"

namespace stdfs = std::filesystem;
using namespace replay;
using namespace replay::store;

namespace {

BuildOptions options(uint32_t seq_len, uint64_t val_sequences = 0) {
  BuildOptions o;
  o.domain = "test";
  o.seq_len = seq_len;
  o.val_sequences = val_sequences;
  o.threads = 2;
  return o;
}

std::vector<int64_t> read_all(const TokenStore& s, Split split) {
  std::vector<int64_t> out(s.num_sequences(split) * s.seq_len());
  for (int64_t i = 0; i < s.num_sequences(split); ++i) s.read(split, i, out.data() + i * s.seq_len());
  return out;
}

void flip_byte(const stdfs::path& path, uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(offset);
  char c;
  f.get(c);
  f.seekp(offset);
  f.put(static_cast<char>(c ^ 0x20));
}

}  // namespace

TEST(ShardHeader, RoundTripsAndRejectsDamage) {
  ShardHeader h;
  h.token_bytes = 4;
  h.seq_len = 4096;
  h.split = Split::val;
  h.shard_index = 7;
  h.num_sequences = 123456789;
  h.payload_checksum = 0x0123456789abcdefull;
  h.tokenizer_fingerprint = std::string(kFingerprintBytes, 'f');
  std::string bytes = encode_header(h);
  ASSERT_EQ(bytes.size(), kHeaderBytes);
  auto data = reinterpret_cast<const uint8_t*>(bytes.data());
  ShardHeader back = decode_header(data, bytes.size(), "x");
  EXPECT_EQ(back.token_bytes, 4u);
  EXPECT_EQ(back.seq_len, 4096u);
  EXPECT_EQ(back.split, Split::val);
  EXPECT_EQ(back.shard_index, 7u);
  EXPECT_EQ(back.num_sequences, 123456789u);
  EXPECT_EQ(back.payload_checksum, 0x0123456789abcdefull);
  EXPECT_EQ(back.tokenizer_fingerprint, h.tokenizer_fingerprint);

  for (size_t off : {0, 8, 20, 40, 60, 127}) {
    std::string bad = bytes;
    bad[off] ^= 1;
    EXPECT_THROW(decode_header(reinterpret_cast<const uint8_t*>(bad.data()), bad.size(), "x"), Error)
        << "byte " << off;
  }
  EXPECT_NE(error_of([&] { decode_header(data, 100, "shard s"); }).find("shard s: truncated"),
            std::string::npos);
  h.tokenizer_fingerprint += "x";
  EXPECT_THROW(encode_header(h), Error);
}

TEST(TokenStore, PacksDocumentsJoinedWithEotIntoFixedSequences) {
  TempDir dir("pack");
  // "ab" EOT "cde" EOT "f" EOT "ghij" EOT = 14 tokens -> three of 4, 2 dropped.
  auto m = build_store(dir.path / "s", documents_from_vector({"ab", "cde", "f", "ghij"}),
                       byte_tokenizer(), options(4));
  EXPECT_EQ(m.train.sequences, 3u);
  EXPECT_EQ(m.train.dropped_tokens, 2u);
  EXPECT_EQ(m.train.documents, 4u);
  EXPECT_EQ(m.token_bytes, 2u);
  TokenStore s = TokenStore::open(dir.path / "s", "bytes+0");
  ASSERT_EQ(s.num_sequences(Split::train), 3);
  EXPECT_EQ(s.num_sequences(Split::val), 0);
  std::vector<int64_t> expected = {'a', 'b', 256, 'c', 'd', 'e', 256, 'f', 256, 'g', 'h', 'i'};
  EXPECT_EQ(read_all(s, Split::train), expected);
  int64_t batch[8];
  std::vector<int64_t> idx = {2, 0};
  s.read_many(Split::train, idx, batch);
  EXPECT_EQ(std::vector<int64_t>(batch, batch + 8),
            std::vector<int64_t>({256, 'g', 'h', 'i', 'a', 'b', 256, 'c'}));
  EXPECT_THROW(s.read(Split::train, 3, batch), Error);
  EXPECT_THROW(s.read(Split::val, 0, batch), Error);
  std::vector<std::string> files;
  for (const auto& e : stdfs::directory_iterator(dir.path / "s")) files.push_back(e.path().filename());
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files, std::vector<std::string>({"manifest.json", "train-00000.bin"}));
}

TEST(TokenStore, TokensCarryAcrossShardsAndWideVocabulariesUseFourBytes) {
  TempDir dir("shards");
  auto docs = numbered_documents(120);
  std::vector<int64_t> stream;
  for (const auto& d : docs) {
    for (unsigned char c : d) stream.push_back(c + 70000);
    stream.push_back(70256);
  }
  BuildOptions o = options(16);
  o.shard_bytes = 16 * 4 * 50;  // 50 sequences per shard
  o.batch_bytes = 100;         // many small tokenization batches
  auto m = build_store(dir.path / "s", documents_from_vector(docs), byte_tokenizer(70000), o);
  EXPECT_EQ(m.token_bytes, 4u);
  EXPECT_EQ(m.train.sequences_per_shard, 50u);
  EXPECT_EQ(m.train.sequences, stream.size() / 16);
  EXPECT_EQ(m.train.shards.size(), (m.train.sequences + 49) / 50);
  EXPECT_GE(m.train.shards.size(), 3u);
  TokenStore s = TokenStore::open(dir.path / "s");
  stream.resize(m.train.sequences * 16);
  EXPECT_EQ(read_all(s, Split::train), stream);
  const auto* raw = reinterpret_cast<const uint32_t*>(s.raw(Split::train, 7));
  EXPECT_EQ(static_cast<int64_t>(raw[3]), stream[7 * 16 + 3]);
}

TEST(TokenStore, CorruptedOrTruncatedShardIsNamed) {
  TempDir dir("corrupt");
  BuildOptions o = options(8, 4);
  o.val_max_fraction = 0.5;
  o.shard_bytes = 8 * 2 * 10;
  build_store(dir.path / "s", documents_from_vector(numbered_documents(100)), byte_tokenizer(), o);
  stdfs::path shard = dir.path / "s" / "train-00001.bin";
  std::string original = fs::read_file(shard);

  flip_byte(shard, kHeaderBytes + 33);  // payload
  std::string err = error_of([&] { TokenStore::open(dir.path / "s"); });
  EXPECT_NE(err.find("train-00001.bin"), std::string::npos) << err;
  EXPECT_NE(err.find("corrupted"), std::string::npos) << err;

  fs::write_file_atomic(shard, original);
  flip_byte(shard, 30);  // header
  err = error_of([&] { TokenStore::open(dir.path / "s"); });
  EXPECT_NE(err.find("train-00001.bin"), std::string::npos) << err;

  fs::write_file_atomic(shard, original.substr(0, original.size() - 3));
  err = error_of([&] { TokenStore::open(dir.path / "s"); });
  EXPECT_NE(err.find("train-00001.bin"), std::string::npos) << err;
  EXPECT_NE(err.find("truncated"), std::string::npos) << err;

  fs::write_file_atomic(shard, original);
  stdfs::remove(dir.path / "s" / "val-00000.bin");
  err = error_of([&] { TokenStore::open(dir.path / "s"); });
  EXPECT_NE(err.find("val-00000.bin is missing"), std::string::npos) << err;
}

TEST(TokenStore, WrongTokenizerAndMissingStoreAreClearErrors) {
  TempDir dir("fingerprint");
  build_store(dir.path / "s", documents_from_vector(numbered_documents(20)), byte_tokenizer(),
              options(8));
  std::string err = error_of([&] { TokenStore::open(dir.path / "s", "another-tokenizer"); });
  EXPECT_NE(err.find("bytes+0"), std::string::npos) << err;
  EXPECT_NE(err.find("another-tokenizer"), std::string::npos) << err;
  EXPECT_NO_THROW(TokenStore::open(dir.path / "s", "bytes+0"));

  err = error_of([&] { TokenStore::open(dir.path / "nope"); });
  EXPECT_NE(err.find("nope"), std::string::npos) << err;
  stdfs::create_directories(dir.path / "empty");
  err = error_of([&] { TokenStore::open(dir.path / "empty"); });
  EXPECT_NE(err.find("manifest.json"), std::string::npos) << err;
}

TEST(Build, FailureLeavesNothingAndKeepsTheOldStore) {
  TempDir dir("atomic");
  auto docs = numbered_documents(200);
  build_store(dir.path / "s", documents_from_vector(docs), byte_tokenizer(), options(8));
  std::string manifest_before = fs::read_file(dir.path / "s" / "manifest.json");

  auto tok = byte_tokenizer();
  auto encode = tok.encode;
  tok.encode = [encode](std::string_view text, std::vector<uint32_t>& out) {
    if (text.starts_with("doc 150:")) throw Error("tokenizer exploded");
    encode(text, out);
  };
  BuildOptions o = options(8);
  o.shard_bytes = 8 * 2 * 100;  // shards are already written when it fails
  o.batch_bytes = 50;
  EXPECT_THROW(build_store(dir.path / "s", documents_from_vector(docs), tok, o), Error);
  EXPECT_THROW(build_store(dir.path / "t", documents_from_vector(docs), tok, o), Error);
  EXPECT_FALSE(stdfs::exists(dir.path / "t"));
  EXPECT_EQ(fs::read_file(dir.path / "s" / "manifest.json"), manifest_before);
  std::set<std::string> entries;
  for (const auto& e : stdfs::directory_iterator(dir.path)) entries.insert(e.path().filename().string());
  // Only the old store and the builds' lock files: no partial directory, no temporaries.
  EXPECT_EQ(entries, std::set<std::string>({"s", ".s.lock", ".t.lock"}));
  EXPECT_NO_THROW(TokenStore::open(dir.path / "s"));
}

TEST(Build, BadInputIsRejected) {
  TempDir dir("bad");
  EXPECT_NE(error_of([&] {
              build_store(dir.path / "s", documents_from_vector({"", ""}), byte_tokenizer(),
                          options(8));
            }).find("no documents"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              build_store(dir.path / "s", documents_from_vector({"tiny"}), byte_tokenizer(),
                          options(64));
            }).find("too little text"),
            std::string::npos);
  EXPECT_THROW(build_store(dir.path / "s", documents_from_vector({"abc"}), byte_tokenizer(),
                           options(1)),
               Error);
  // A folder that is not a store is never overwritten.
  stdfs::create_directories(dir.path / "precious");
  fs::write_file_atomic(dir.path / "precious" / "keep.txt", "x");
  std::string err = error_of([&] {
    build_store(dir.path / "precious", documents_from_vector(numbered_documents(50)),
                byte_tokenizer(), options(8));
  });
  EXPECT_NE(err.find("refusing to overwrite"), std::string::npos) << err;
  EXPECT_TRUE(stdfs::exists(dir.path / "precious" / "keep.txt"));
  EXPECT_FALSE(stdfs::exists(dir.path / "s"));
}

TEST(TokenStore, ManifestRecordsTheLargestTokenIdOfEachSplit) {
  TempDir dir("maxid");
  BuildOptions o = options(8, 2);
  o.val_max_fraction = 0.5;
  // Byte ids: 'z' = 122 is the largest letter; EOT = 256 joins documents.
  auto m = build_store(dir.path / "s", documents_from_vector(numbered_documents(40)), byte_tokenizer(), o);
  ASSERT_TRUE(m.train.max_token_id && m.val.max_token_id);
  EXPECT_EQ(*m.train.max_token_id, 256u);
  TokenStore s = TokenStore::open(dir.path / "s");
  EXPECT_TRUE(s.manifest().max_token_id_recorded());
  EXPECT_EQ(s.manifest().max_token_id(), 256u);
  for (Split split : {Split::train, Split::val})
    EXPECT_EQ(*s.manifest().split(split).max_token_id, s.scan_max_token_id(split)) << split_name(split);
  EXPECT_NE(fs::read_file(dir.path / "s/manifest.json").find("\"max_token_id\": 256"), std::string::npos);
}

TEST(TokenStore, ManifestWithoutMaxTokenIdLoadsAsTheWholeVocabulary) {
  TempDir dir("oldmanifest");
  build_store(dir.path / "s", documents_from_vector(numbered_documents(40)), byte_tokenizer(), options(8, 2));
  replay::store_surgery::edit_manifest_json(dir.path / "s", [](nlohmann::json& j) {
    j["splits"]["train"].erase("max_token_id");
    j["splits"]["val"].erase("max_token_id");
  });
  TokenStore s = TokenStore::open(dir.path / "s");
  EXPECT_FALSE(s.manifest().max_token_id_recorded());
  EXPECT_EQ(s.manifest().max_token_id(), 256u);  // vocab_size 257 - 1, unverified
}

TEST(TokenStore, RecordedMaxTokenIdBeyondTheVocabularyIsRefused) {
  TempDir dir("maxid-bad");
  build_store(dir.path / "s", documents_from_vector(numbered_documents(40)), byte_tokenizer(), options(8, 2));
  replay::store_surgery::edit_manifest_json(dir.path / "s",
                                            [](nlohmann::json& j) { j["splits"]["val"]["max_token_id"] = 257; });
  std::string msg = error_of([&] { TokenStore::open(dir.path / "s"); });
  EXPECT_NE(msg.find("manifest.json: key \"splits.val.max_token_id\" = 257"), std::string::npos) << msg;
  EXPECT_NE(msg.find("\"tokenizer.vocab_size\" = 257"), std::string::npos) << msg;
}

TEST(TokenStore, ScanFindsIdsTheManifestDoesNotOwnUpTo) {
  TempDir dir("maxid-scan");
  build_store(dir.path / "s", documents_from_vector(numbered_documents(40)), byte_tokenizer(), options(8, 2));
  replay::store_surgery::reseal_with_token(dir.path / "s", Split::train, {3}, 300);
  TokenStore s = TokenStore::open(dir.path / "s");  // checksums are valid again
  EXPECT_EQ(*s.manifest().train.max_token_id, 256u);
  EXPECT_EQ(s.scan_max_token_id(Split::train), 300u);
}
