#include <gtest/gtest.h>

#include <filesystem>

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
