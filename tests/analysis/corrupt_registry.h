// A registry large enough to span many table pages, and a way to damage it
// where the data lives (not the header), for the integrity-check tests.
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "analysis/registry.h"

namespace fake {

// `runs` runs with three evals each: several hundred KB of table pages.
inline void write_registry_with_runs(const std::filesystem::path& db, int runs) {
  replay::analysis::Registry reg(db);
  for (int i = 0; i < runs; ++i) {
    std::string id = reg.add_run({"[train]\nseed = " + std::to_string(i) + "\n" + std::string(200, 'c'), "",
                                  "big", "run" + std::to_string(i), {{"family", "reference"}}, "", {}});
    reg.record_eval(id, 16, 1024, {{"target", 3.5}, {"c4", 3.1}, {"other", 2.9}});
  }
}  // closing the last connection checkpoints the WAL into the file

// Overwrites eight whole pages (4096 bytes each, SQLite's default) in the
// middle of the file with a byte pattern no b-tree page can hold.
inline void corrupt_middle_pages(const std::filesystem::path& db) {
  auto size = std::filesystem::file_size(db);
  ASSERT_GE(size, 40u * 4096) << "registry too small to corrupt in its middle";
  std::fstream f(db, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(size / 2 / 4096 * 4096));
  std::string junk(8 * 4096, '\xA5');
  f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  ASSERT_TRUE(f.good());
}

}  // namespace fake
