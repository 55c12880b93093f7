// Checkpoint directories: verify, detect corruption and partial writes, fall
// back to the previous good one, prune to the last K.
#include <gtest/gtest.h>

#include <fstream>

#include "temp_dir.h"
#include "train/checkpoint.h"
#include "util/error.h"
#include "util/fs.h"

namespace replay::train {
namespace {

stdfs::path write_checkpoint(const stdfs::path& root, int64_t step) {
  CheckpointWriter w(root, step);
  w.write_file(kWeightsFile, "weights of step " + std::to_string(step));
  w.write_file(kOptimizerFile, std::string(1000, static_cast<char>(step)));
  CheckpointState s;
  s.step = step;
  s.phase_name = "main";
  s.tokens = step * 100;
  s.config_hash = "abc";
  return w.commit(s);
}

std::vector<std::string> reports;
void collect(const std::string& r) { reports.push_back(r); }

TEST(Checkpoint, WritesVerifiesAndReadsBack) {
  TempDir tmp("ckpt");
  auto dir = write_checkpoint(tmp.path, 12);
  EXPECT_EQ(dir.filename(), "step-000000012");
  EXPECT_EQ(verify_checkpoint(dir), "");
  auto info = latest_good_checkpoint(tmp.path, collect);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->state.step, 12);
  EXPECT_EQ(info->state.tokens, 1200);
  EXPECT_EQ(info->state.config_hash, "abc");
  // Nothing left behind but the final directory.
  int entries = 0;
  for (auto& e : stdfs::directory_iterator(tmp.path)) entries += 1, (void)e;
  EXPECT_EQ(entries, 1);
}

TEST(Checkpoint, UncommittedWriterLeavesNothing) {
  TempDir tmp("ckpt");
  { CheckpointWriter w(tmp.path, 5); w.write_file(kWeightsFile, "x"); }
  EXPECT_TRUE(list_checkpoints(tmp.path).empty());
  EXPECT_TRUE(stdfs::is_empty(tmp.path));
}

TEST(Checkpoint, CorruptAndPartialFallBackToPreviousGood) {
  TempDir tmp("ckpt");
  write_checkpoint(tmp.path, 10);
  auto s20 = write_checkpoint(tmp.path, 20);
  auto s30 = write_checkpoint(tmp.path, 30);
  // 30: one flipped byte in the optimizer file. 20: manifest never written.
  {
    std::fstream f(s30 / kOptimizerFile, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(500);
    f.put('\x7f');
  }
  EXPECT_NE(verify_checkpoint(s30).find("checksum"), std::string::npos);
  stdfs::remove(s20 / kCheckpointManifest);
  EXPECT_NE(verify_checkpoint(s20).find("manifest"), std::string::npos);
  // A killed writer's temporary directory.
  stdfs::create_directories(tmp.path / ".tmp-step-000000040-999");

  reports.clear();
  auto info = latest_good_checkpoint(tmp.path, collect);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->state.step, 10);
  ASSERT_EQ(reports.size(), 3u);  // the temp dir, 30 and 20
  EXPECT_NE(reports[1].find("step-000000030"), std::string::npos);
  EXPECT_NE(reports[1].find("corrupt"), std::string::npos);
  EXPECT_TRUE(stdfs::exists(tmp.path / "step-000000030.corrupt"));
  EXPECT_FALSE(stdfs::exists(tmp.path / ".tmp-step-000000040-999"));
  // A truncated file is caught by its size.
  stdfs::resize_file(info->dir / kWeightsFile, 3);
  EXPECT_NE(verify_checkpoint(info->dir).find("bytes"), std::string::npos);
  EXPECT_FALSE(latest_good_checkpoint(tmp.path, collect));
}

TEST(Checkpoint, PruneKeepsNewest) {
  TempDir tmp("ckpt");
  for (int s : {1, 2, 3, 4, 5}) write_checkpoint(tmp.path, s);
  prune_checkpoints(tmp.path, 2);
  auto left = list_checkpoints(tmp.path);
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].filename(), "step-000000005");
  EXPECT_EQ(left[1].filename(), "step-000000004");
}

TEST(Checkpoint, InitFromRunDirOrCheckpointDir) {
  TempDir tmp("ckpt");
  write_checkpoint(tmp.path / "checkpoints", 3);
  auto newest = write_checkpoint(tmp.path / "checkpoints", 7);
  EXPECT_EQ(resolve_init_checkpoint(tmp.path), newest);
  EXPECT_EQ(resolve_init_checkpoint(newest), newest);
  EXPECT_THROW(resolve_init_checkpoint(tmp.path / "nothing"), Error);
}

}  // namespace
}  // namespace replay::train
