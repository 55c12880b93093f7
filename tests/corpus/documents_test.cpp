#include "corpus/documents.h"

#include <gtest/gtest.h>
#include <zlib.h>
#include <zstd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "corpus/streams.h"
#include "corpus_test_util.h"
#include "util/error.h"
#include "util/fs.h"

namespace stdfs = std::filesystem;
using namespace replay;
using namespace replay::corpus;

namespace {

}  // namespace

TEST(Documents, WriteThenReadRoundTripsPlainAndZstd) {
  TempDir dir("documents_roundtrip");
  std::vector<Document> docs = {{"hello\nworld", "a:1"},
                                {"quotes \" and \\ and tabs\t and ünïcødé 🙂", "b:2"},
                                {std::string(300000, 'x'), "big"}};
  for (std::string name : {"out.jsonl", "out.jsonl.zst"}) {
    DocumentWriter w(dir.path / name);
    for (const auto& d : docs) w.write(d);
    EXPECT_FALSE(stdfs::exists(dir.path / name)) << "visible before finish";
    w.finish();
    auto back = read_all(dir.path / name);
    ASSERT_EQ(back.size(), docs.size()) << name;
    for (size_t i = 0; i < docs.size(); ++i) {
      EXPECT_EQ(back[i].text, docs[i].text);
      EXPECT_EQ(back[i].source, docs[i].source);
    }
  }
  // The zstd file really is compressed.
  EXPECT_LT(stdfs::file_size(dir.path / "out.jsonl.zst"), stdfs::file_size(dir.path / "out.jsonl") / 10);
}

TEST(Documents, AbandonedWriterLeavesNothing) {
  TempDir dir("documents_abandon");
  {
    DocumentWriter w(dir.path / "x.jsonl.zst");
    w.write({"text", "s"});
  }
  EXPECT_TRUE(stdfs::is_empty(dir.path));
}

TEST(Documents, FolderOrderAndFields) {
  TempDir dir("documents_folder2");
  fs::write_file_atomic(dir.path / "b/2.txt", "second file");
  fs::write_file_atomic(dir.path / "a.txt.gz", gzip("gzipped text"));
  fs::write_file_atomic(dir.path / "c.jsonl.gz",
                        gzip("{\"body\":\"one\"}\n\n{\"body\":\"two\",\"source\":\"s2\"}"));
  fs::write_file_atomic(dir.path / "ignored.bin", "zzz");
  auto docs = read_all(dir.path, "body");
  ASSERT_EQ(docs.size(), 4u);
  EXPECT_EQ(docs[0].text, "gzipped text");
  EXPECT_EQ(docs[0].source, (dir.path / "a.txt.gz").string());
  EXPECT_EQ(docs[1].text, "second file");
  EXPECT_EQ(docs[2].text, "one");
  EXPECT_EQ(docs[2].source, (dir.path / "c.jsonl.gz").string() + ":1");
  EXPECT_EQ(docs[3].text, "two");
  EXPECT_EQ(docs[3].source, "s2");
}

TEST(Documents, BadInputNamesFileAndLine) {
  TempDir dir("documents_bad");
  EXPECT_NE(error_of([&] { read_all(dir.path / "missing.jsonl"); }).find("missing.jsonl"),
            std::string::npos);
  EXPECT_NE(error_of([&] { read_all(dir.path); }).find("no document files"), std::string::npos);

  fs::write_file_atomic(dir.path / "bad.jsonl", "{\"text\":\"ok\"}\n{\"text\": nope}\n");
  std::string e = error_of([&] { read_all(dir.path / "bad.jsonl"); });
  EXPECT_NE(e.find("bad.jsonl:2"), std::string::npos) << e;
  EXPECT_NE(e.find("invalid JSON"), std::string::npos) << e;

  fs::write_file_atomic(dir.path / "nofield.jsonl", "{\"text\":\"ok\"}\n{\"content\":\"x\"}\n");
  e = error_of([&] { read_all(dir.path / "nofield.jsonl"); });
  EXPECT_NE(e.find("missing field \"text\""), std::string::npos) << e;
  EXPECT_NE(e.find("nofield.jsonl:2"), std::string::npos) << e;

  fs::write_file_atomic(dir.path / "num.jsonl", "{\"text\":3}\n");
  e = error_of([&] { read_all(dir.path / "num.jsonl"); });
  EXPECT_NE(e.find("not a string"), std::string::npos) << e;

  fs::write_file_atomic(dir.path / "x.csv", "a,b");
  e = error_of([&] { read_all(dir.path / "x.csv"); });
  EXPECT_NE(e.find("unsupported document file"), std::string::npos) << e;

  std::string gz = gzip("{\"text\":\"a long enough line to be cut\"}\n");
  fs::write_file_atomic(dir.path / "cut.jsonl.gz", gz.substr(0, gz.size() / 2));
  e = error_of([&] { read_all(dir.path / "cut.jsonl.gz"); });
  EXPECT_NE(e.find("cut.jsonl.gz"), std::string::npos) << e;

  fs::write_file_atomic(dir.path / "junk.jsonl.zst", "this is not zstd");
  e = error_of([&] { read_all(dir.path / "junk.jsonl.zst"); });
  EXPECT_NE(e.find("junk.jsonl.zst"), std::string::npos) << e;
}

// Dolma ships line-delimited JSON named .json.gz; Hugging Face's to_json
// writes .json (lines); both with the text under a field of their choosing.
TEST(Documents, DolmaJsonGzAndZstdJsonLinesWithAChosenField) {
  TempDir dir("documents_dolma");
  const std::string lines =
      "{\"id\":\"d1\",\"content\":\"première ligne\",\"metadata\":{\"lang\":\"fr\"}}\n"
      "{\"id\":\"d2\",\"content\":\"第二行 😀\",\"source\":\"web\"}\n";
  fs::write_file_atomic(dir.path / "part-0000.json.gz", gzip(lines));
  std::string zst(ZSTD_compressBound(lines.size()), '\0');
  zst.resize(ZSTD_compress(zst.data(), zst.size(), lines.data(), lines.size(), 3));
  fs::write_file_atomic(dir.path / "part-0001.jsonl.zst", zst);
  fs::write_file_atomic(dir.path / "part-0002.json", lines);
  // Walking the folder skips bare .json (metadata such as dataset_info.json).
  fs::write_file_atomic(dir.path / "dataset_info.json", "{\"features\": {}}\n");
  auto walked = read_all(dir.path, "content");
  ASSERT_EQ(walked.size(), 4u);
  EXPECT_EQ(walked[2].source, (dir.path / "part-0001.jsonl.zst").string() + ":1");
  auto docs = walked;
  auto named = read_all(dir.path / "part-0002.json", "content");
  docs.insert(docs.end(), named.begin(), named.end());
  ASSERT_EQ(docs.size(), 6u);
  for (size_t file = 0; file < 3; ++file) {
    EXPECT_EQ(docs[2 * file].text, "première ligne");
    EXPECT_EQ(docs[2 * file + 1].text, "第二行 😀");
    EXPECT_EQ(docs[2 * file + 1].source, "web");
  }
  EXPECT_EQ(docs[0].source, (dir.path / "part-0000.json.gz").string() + ":1");
  EXPECT_NE(error_of([&] { read_all(dir.path / "part-0000.json.gz"); }).find("missing field \"text\" at "),
            std::string::npos);
}

TEST(Documents, JsonArrayFileIsToldToBeJsonLines) {
  TempDir dir("documents_json_array");
  fs::write_file_atomic(dir.path / "pretty.json", "[\n  {\"text\": \"a\"}\n]\n");
  std::string e = error_of([&] { read_all(dir.path / "pretty.json"); });
  EXPECT_NE(e.find("pretty.json:1: a JSON array file? Expected JSON lines"), std::string::npos) << e;
  fs::write_file_atomic(dir.path / "flat.json", "[{\"text\": \"a\"}]\n");
  e = error_of([&] { read_all(dir.path / "flat.json"); });
  EXPECT_NE(e.find("flat.json:1 (JSON lines hold one object per line, not an array)"), std::string::npos) << e;
}

TEST(Streams, ReadLineHandlesCrlfMissingFinalNewlineAndLongLines) {
  TempDir dir("streams_lines");
  std::string longline(1 << 19, 'q');
  fs::write_file_atomic(dir.path / "l.txt", "a\r\nb\n\n" + longline + "\nlast");
  InputStream in(dir.path / "l.txt");
  std::string line;
  std::vector<std::string> lines;
  while (in.read_line(line)) lines.push_back(line);
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0], "a");
  EXPECT_EQ(lines[1], "b");
  EXPECT_EQ(lines[2], "");
  EXPECT_EQ(lines[3], longline);
  EXPECT_EQ(lines[4], "last");
}

TEST(Streams, ConcatenatedGzipMembersAndLargeOutput) {
  TempDir dir("streams_gz");
  std::string big(3 << 20, 'a');  // compresses ~1000x: exercises full output buffers
  fs::write_file_atomic(dir.path / "x.txt.gz", gzip("first ") + gzip(big));
  std::string all;
  InputStream in(dir.path / "x.txt.gz");
  while (in.read(all, 1 << 16) > 0) {
  }
  EXPECT_EQ(all, "first " + big);
  EXPECT_EQ(decompress(gzip("mem"), Compression::gzip, "m"), "mem");
}
