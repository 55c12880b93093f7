// The Parquet reader against files from an independent writer: parquet-wasm
// (Apache arrow-rs), run under node by tests/oracle/parquet_write.js, which
// also writes every file's rows as JSON. Each codec, encoding and page
// version the reader claims is compared row by row; what it does not claim,
// and corrupt files, must fail with an error naming the file.
#include "corpus/parquet.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "corpus_test_util.h"
#include "replay_cli.h"
#include "util/fs.h"

namespace stdfs = std::filesystem;
using namespace replay;
using namespace replay::corpus;

namespace {

using Rows = std::vector<std::optional<std::string>>;

Rows read_rows(const stdfs::path& path, const std::string& column = "text") {
  ParquetReader reader(path, column);
  Rows rows;
  std::string_view value;
  bool is_null = false;
  while (reader.next(value, is_null)) rows.push_back(is_null ? std::nullopt : std::optional<std::string>(value));
  return rows;
}

// A copy of `from` with `edit` applied to its bytes, written as `to`.
template <class Edit>
stdfs::path edited_copy(const stdfs::path& from, const stdfs::path& to, Edit edit) {
  std::string bytes = fs::read_file(from);
  edit(bytes);
  fs::write_file_atomic(to, bytes);
  return to;
}

class ParquetOracle : public ::testing::Test {
 protected:
  // Written once for the suite: node starts slowly.
  static void SetUpTestSuite() {
    dir_ = new TempDir("parquet_oracle");
    const std::string command = "node '" + std::string(REPLAY_SOURCE_DIR) + "/tests/oracle/parquet_write.js' '" +
                                dir_->path.string() + "' 2>&1";
    status_ = std::system(command.c_str());
    if (status_ == 0) expected_ = new nlohmann::json(nlohmann::json::parse(fs::read_file(dir_->path / "expected.json")));
  }
  static void TearDownTestSuite() {
    delete expected_;
    delete dir_;
    expected_ = nullptr;
    dir_ = nullptr;
  }
  void SetUp() override {
    ASSERT_EQ(status_, 0) << "node tests/oracle/parquet_write.js failed; is node installed and "
                             "tests/oracle/node_modules set up (scripts/setup.sh)?";
  }
  static stdfs::path file(const std::string& name) { return dir_->path / name; }
  static Rows expected(const std::string& name) {
    Rows rows;
    for (const auto& v : expected_->at(name))
      rows.push_back(v.is_null() ? std::nullopt : std::optional<std::string>(v.get<std::string>()));
    return rows;
  }
  static inline TempDir* dir_ = nullptr;
  static inline nlohmann::json* expected_ = nullptr;
  static inline int status_ = -1;
};

TEST_F(ParquetOracle, ReadsEveryCodecEncodingAndPageVersionRowForRow) {
  const std::vector<std::string> names = {
      "plain_none_v1.parquet", "dict_snappy_v1.parquet",      "plain_gzip_v1.parquet",
      "dict_gzip_v2.parquet",  "plain_zstd_v2.parquet",       "nulls_dict_zstd_v1.parquet",
      "nulls_plain_snappy_v2.parquet"};
  for (const auto& name : names) {
    Rows want = expected(name);
    Rows got = read_rows(file(name));
    ASSERT_EQ(got.size(), want.size()) << name;
    for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(got[i], want[i]) << name << " row " << i;
    EXPECT_EQ(ParquetReader(file(name), "text").rows(), want.size()) << name;
  }
  // The fixtures really hold what they are named for.
  EXPECT_EQ(ParquetReader(file("dict_snappy_v1.parquet"), "text").row_groups(), 5u);
  EXPECT_EQ(ParquetReader(file("plain_zstd_v2.parquet"), "text").row_groups(), 6u);
  Rows nulls = expected("nulls_dict_zstd_v1.parquet");
  EXPECT_EQ(std::count(nulls.begin(), nulls.end(), std::nullopt), 120);
}

TEST_F(ParquetOracle, FieldChoosesTheColumnAndNamesTheOthersWhenMissing) {
  Rows titles = read_rows(file("plain_gzip_v1.parquet"), "title");
  ASSERT_EQ(titles.size(), 600u);
  EXPECT_EQ(titles[0], "title 0");
  EXPECT_EQ(titles[599], "title 599");
  std::string e = error_of([&] { read_rows(file("plain_gzip_v1.parquet"), "body"); });
  EXPECT_NE(e.find("plain_gzip_v1.parquet: no column 'body' (columns: id, title, text)"), std::string::npos) << e;
  e = error_of([&] { read_rows(file("plain_gzip_v1.parquet"), "id"); });
  EXPECT_NE(e.find("column 'id' is not a string column"), std::string::npos) << e;
}

TEST_F(ParquetOracle, DocumentReaderSkipsNullRowsAndNamesRowsAsSources) {
  auto docs = read_all(file("nulls_plain_snappy_v2.parquet"));
  Rows want = expected("nulls_plain_snappy_v2.parquet");
  ASSERT_EQ(docs.size(), 480u);  // 600 rows, every fifth null
  EXPECT_EQ(docs[0].text, *want[0]);
  EXPECT_EQ(docs[0].source, file("nulls_plain_snappy_v2.parquet").string() + ":1");
  EXPECT_EQ(docs[2].text, *want[3]);  // row 3 (from 1) is null: skipped
  EXPECT_EQ(docs[2].source, file("nulls_plain_snappy_v2.parquet").string() + ":4");
}

TEST_F(ParquetOracle, EveryParquetFooterIsCheckedBeforeTheFirstDocument) {
  TempDir dir("parquet_footers_first");
  stdfs::copy_file(file("plain_none_v1.parquet"), dir.path / "a.parquet");
  edited_copy(file("plain_none_v1.parquet"), dir.path / "b.parquet", [](std::string& b) { b.resize(b.size() - 1); });
  std::string e = error_of([&] { DocumentReader reader(dir.path, "text"); });
  EXPECT_NE(e.find("b.parquet: no \"PAR1\" magic at the end"), std::string::npos) << e;
  stdfs::remove(dir.path / "b.parquet");
  e = error_of([&] { DocumentReader reader(dir.path, "body"); });
  EXPECT_NE(e.find("a.parquet: no column 'body'"), std::string::npos) << e;
}

TEST_F(ParquetOracle, UnsupportedCodecAndEncodingNameFileColumnAndWhat) {
  std::string e = error_of([&] { read_rows(file("unsupported_brotli.parquet")); });
  EXPECT_NE(e.find("unsupported_brotli.parquet: row group 1 of 1, column 'text': compression BROTLI not supported"),
            std::string::npos) << e;
  e = error_of([&] { read_rows(file("unsupported_delta.parquet")); });
  EXPECT_NE(e.find("unsupported_delta.parquet: row group 1 of 1, column 'text': encoding DELTA_BYTE_ARRAY not supported"),
            std::string::npos) << e;
}

TEST_F(ParquetOracle, CorruptAndTruncatedFilesGiveClearErrors) {
  TempDir dir("parquet_corrupt");
  const stdfs::path good = file("plain_zstd_v2.parquet");
  auto truncated = edited_copy(good, dir.path / "truncated.parquet", [](std::string& b) { b.resize(b.size() - 20); });
  EXPECT_NE(error_of([&] { read_rows(truncated); }).find("truncated.parquet: no \"PAR1\" magic at the end"), std::string::npos);
  auto flipped = edited_copy(good, dir.path / "flipped.parquet", [](std::string& b) { b[1] = 'X'; });
  EXPECT_NE(error_of([&] { read_rows(flipped); }).find("flipped.parquet: not a Parquet file"), std::string::npos);
  // The footer cut to its first 10 bytes, its length field and magic intact.
  auto cut_footer = edited_copy(good, dir.path / "cut_footer.parquet", [](std::string& b) {
    const uint32_t footer = uint32_t(uint8_t(b[b.size() - 8])) | uint32_t(uint8_t(b[b.size() - 7])) << 8 |
                            uint32_t(uint8_t(b[b.size() - 6])) << 16;
    std::string tail = b.substr(b.size() - 8);
    b.resize(b.size() - 8 - footer + 10);
    tail[0] = 10, tail[1] = tail[2] = tail[3] = 0;
    b += tail;
  });
  std::string e = error_of([&] { read_rows(cut_footer); });
  EXPECT_NE(e.find("cut_footer.parquet: footer truncated at byte"), std::string::npos) << e;
  // 300 bytes cut out of the pages: the footer's offsets now point past
  // page boundaries.
  auto cut_page = edited_copy(good, dir.path / "cut_page.parquet", [](std::string& b) { b.erase(b.size() / 3, 300); });
  e = error_of([&] { read_rows(cut_page); });
  EXPECT_NE(e.find("cut_page.parquet: row group "), std::string::npos) << e;
  EXPECT_NE(e.find("column 'text'"), std::string::npos) << e;
}

// Random byte flips anywhere (pages, page headers, footer): reading must end
// in rows or a replay::Error, never a crash, a hang or another exception.
TEST_F(ParquetOracle, RandomByteFlipsEndInRowsOrAnError) {
  TempDir dir("parquet_flips");
  uint64_t state = 42;
  auto rand = [&] { return (state = state * 6364136223846793005ull + 1442695040888963407ull) >> 33; };
  int errors = 0;
  for (const std::string name : {"dict_snappy_v1.parquet", "nulls_dict_zstd_v1.parquet",
                                 "nulls_plain_snappy_v2.parquet", "plain_none_v1.parquet"}) {
    const std::string original = fs::read_file(file(name));
    for (int trial = 0; trial < 400; ++trial) {
      std::string bytes = original;
      // Half the trials hit the footer, where one byte changes the most.
      const size_t footer_from = bytes.size() > 2000 ? bytes.size() - 2000 : 0;
      for (int k = 0; k < 1 + int(rand() % 3); ++k) {
        const size_t at = trial % 2 ? footer_from + rand() % (bytes.size() - footer_from) : rand() % bytes.size();
        bytes[at] = char(bytes[at] ^ (1 + rand() % 255));
      }
      const stdfs::path mutated = dir.path / ("m_" + std::to_string(trial) + "_" + name);
      std::ofstream(mutated, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));  // no fsync: speed
      try {
        read_rows(mutated);
      } catch (const replay::Error& e) {
        ++errors;
        EXPECT_NE(std::string(e.what()).find(mutated.string()), std::string::npos) << e.what();
      } catch (const std::exception& e) {
        ADD_FAILURE() << name << " trial " << trial << ": not a replay::Error: " << e.what();
      }
      stdfs::remove(mutated);
    }
  }
  EXPECT_GT(errors, 100);  // most flips are caught (some only change a text)
}

TEST_F(ParquetOracle, CliImportsParquetAndLeavesNothingOnACorruptFile) {
  TempDir dir("parquet_cli");
  const stdfs::path out = dir.path / "out";
  CliResult ok = run_replay("corpus import --domain pq --min-chars 1 --out '" + out.string() + "' '" +
                            file("dict_snappy_v1.parquet").string() + "'");
  ASSERT_EQ(ok.status, 0) << ok.out;
  auto docs = read_all(out / "pq.jsonl.zst");
  EXPECT_GT(docs.size(), 300u);  // 600 rows, a third repeated (de-duplicated), empty rows dropped
  EXPECT_LE(docs.size(), 600u);

  // The second file fails at its first page, after the first file's rows
  // went to the output: the output must still not appear.
  CliResult bad = run_replay("corpus import --domain bad --out '" + out.string() + "' '" +
                             file("plain_none_v1.parquet").string() + "' '" +
                             file("unsupported_delta.parquet").string() + "'");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.out.find("unsupported_delta.parquet: row group 1 of 1, column 'text': encoding DELTA_BYTE_ARRAY"),
            std::string::npos) << bad.out;
  for (const auto& entry : stdfs::directory_iterator(out))
    EXPECT_EQ(entry.path().filename(), "pq.jsonl.zst") << "left behind: " << entry.path();
}

}  // namespace
