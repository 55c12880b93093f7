#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>

#include "error_of.h"
#include "temp_dir.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/hash.h"

namespace stdfs = std::filesystem;
using namespace replay;

TEST(AtomicFile, CommitPublishesAndAbandonLeavesNothing) {
  TempDir tmp("fs");
  const stdfs::path dir = tmp.path / "sub";  // AtomicFile creates the folder
  {
    fs::AtomicFile f(dir / "a.txt");
    f.write("hello");
  }  // abandoned: no file, no temporary
  EXPECT_FALSE(stdfs::exists(dir / "a.txt"));
  EXPECT_TRUE(stdfs::is_empty(dir));
  fs::write_file_atomic(dir / "a.txt", "hello");
  EXPECT_EQ(fs::read_file(dir / "a.txt"), "hello");
  fs::MappedFile m(dir / "a.txt");
  ASSERT_EQ(m.size(), 5u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(m.data()), 5), "hello");
}

TEST(ReadFile, MissingFileNamesThePath) {
  try {
    fs::read_file("/nonexistent/replay/file.txt");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/replay/file.txt"), std::string::npos);
  }
}

TEST(Hash, StreamingEqualsOneShot) {
  std::string s(10000, 'x');
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>(i * 7);
  hash::Hasher64 h;
  h.update(s.data(), 3000);
  h.update(s.data() + 3000, s.size() - 3000);
  EXPECT_EQ(h.digest(), hash::xxh3_64(s));
  EXPECT_NE(hash::xxh128_hex("a"), hash::xxh128_hex("b"));
  EXPECT_EQ(hash::xxh128_hex("a").size(), 32u);
}

TEST(CheckOutputPath, NamesTheKeyAndTheReasonAndCreatesNothing) {
  TempDir tmp("outpath");
  const stdfs::path file = tmp.path / "plain.txt";
  fs::write_file_atomic(file, "x");
  const std::string under_file = error_of([&] {
    fs::check_output_path(file / "run", fs::OutputKind::directory, "cfg.toml: out");
  });
  EXPECT_NE(under_file.find("cfg.toml: out"), std::string::npos) << under_file;
  EXPECT_NE(under_file.find("is a file"), std::string::npos) << under_file;

  const std::string wrong_kind =
      error_of([&] { fs::check_output_path(file, fs::OutputKind::directory, "--runs"); });
  EXPECT_NE(wrong_kind.find("--runs"), std::string::npos) << wrong_kind;
  EXPECT_NE(wrong_kind.find("not a folder"), std::string::npos) << wrong_kind;
  const std::string folder_as_file =
      error_of([&] { fs::check_output_path(tmp.path, fs::OutputKind::file, "--db"); });
  EXPECT_NE(folder_as_file.find("--db"), std::string::npos) << folder_as_file;

  // /proc refuses new entries even to root, whom access(2) would let through.
  const std::string proc = error_of([] {
    fs::check_output_path("/proc/replay-output/run", fs::OutputKind::directory, "--out");
  });
  EXPECT_NE(proc.find("--out"), std::string::npos) << proc;
  EXPECT_NE(proc.find("/proc"), std::string::npos) << proc;

  // A good path passes and is not created (nor is anything else).
  EXPECT_EQ(error_of([&] { fs::check_output_path(tmp.path / "a" / "b", fs::OutputKind::directory, "out"); }), "(no error)");
  EXPECT_EQ(error_of([&] { fs::check_output_path(file, fs::OutputKind::file, "out"); }), "(no error)");
  EXPECT_EQ(std::distance(stdfs::directory_iterator(tmp.path), stdfs::directory_iterator()), 1);
}

// ReadAhead skips what it cannot open (its consumer reports it), and its
// destructor stops the reader between chunks: /dev/zero never ends, so a
// reader that ignored the stop would hang here.
TEST(ReadAhead, SkipsMissingFilesAndStopsWhenDestroyed) {
  const TempDir tmp("read_ahead");
  const auto t0 = std::chrono::steady_clock::now();
  { const replay::fs::ReadAhead ahead({tmp.path / "missing.bin", "/dev/zero"}); }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(seconds, 5.0);
}
