// A sweep's live progress: the ETA arithmetic, following a metrics.jsonl as a
// trainer appends to it (and cuts it back), the line a run shows, and what
// the board writes on a terminal and into a log.
#include "sweep/progress.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>

#include "run/layout.h"
#include "temp_dir.h"

namespace {

namespace stdfs = std::filesystem;
using namespace replay::sweep;
using std::chrono::seconds;

std::string step_line(int64_t step, double loss) {
  return R"({"kind":"step","step":)" + std::to_string(step) + R"(,"tokens":)" + std::to_string(step * 64) +
         R"(,"loss":)" + std::to_string(loss) + R"(,"lr":0.001,"tokens_per_s":900})";
}

void append(const stdfs::path& file, const std::string& text) { std::ofstream(file, std::ios::app) << text; }
void rewrite(const stdfs::path& file, const std::string& text) { std::ofstream(file, std::ios::trunc) << text; }

// Everything written to a FILE* so far.
std::string contents(std::FILE* f) {
  std::fflush(f);
  std::string text(static_cast<size_t>(std::ftell(f)), '\0');
  std::rewind(f);
  text.resize(std::fread(text.data(), 1, text.size(), f));
  return text;
}

TEST(EtaSeconds, ScalesElapsedByWhatIsLeft) {
  EXPECT_DOUBLE_EQ(eta_seconds(60, 3, 1), 20);    // 20 s per unit so far
  EXPECT_DOUBLE_EQ(eta_seconds(10, 100, 300), 30);
  EXPECT_DOUBLE_EQ(eta_seconds(60, 3, 0), 0);      // nothing left
  EXPECT_TRUE(std::isnan(eta_seconds(60, 0, 5)));  // no pace yet
}

TEST(MetricsTail, ReadsStepLinesAsTheyAreAppended) {
  TempDir tmp("tail");
  const stdfs::path file = tmp.path / "metrics.jsonl";
  MetricsTail tail(file);
  EXPECT_FALSE(tail.poll());  // no file yet: no news, no error
  EXPECT_FALSE(tail.has_step());

  append(file, step_line(1, 4.5) + "\n" + step_line(2, 4.25) + "\n");
  EXPECT_TRUE(tail.poll());
  EXPECT_EQ(tail.step(), 2);
  EXPECT_DOUBLE_EQ(tail.loss(), 4.25);
  EXPECT_FALSE(tail.poll());  // nothing appended

  // Other kinds are no step; a line still being written waits for its '\n'.
  const std::string third = step_line(3, 4.0);
  append(file, R"({"kind":"eval","step":2,"tokens":128,"val":{"math":4.1}})" "\n" + third.substr(0, 20));
  EXPECT_FALSE(tail.poll());
  EXPECT_EQ(tail.step(), 2);
  append(file, third.substr(20) + "\n");
  EXPECT_TRUE(tail.poll());
  EXPECT_EQ(tail.step(), 3);
  EXPECT_DOUBLE_EQ(tail.loss(), 4.0);
}

TEST(MetricsTail, StartsOverWhenTheFileIsCutBack) {
  TempDir tmp("tail");
  const stdfs::path file = tmp.path / "metrics.jsonl";
  append(file, step_line(1, 4.5) + "\n" + step_line(2, 4.25) + "\n" + step_line(3, 4.0) + "\n");
  MetricsTail tail(file);
  ASSERT_TRUE(tail.poll());
  EXPECT_EQ(tail.step(), 3);
  rewrite(file, step_line(1, 4.5) + "\n");  // a resumed trainer keeps what its checkpoint saw
  EXPECT_TRUE(tail.poll());
  EXPECT_EQ(tail.step(), 1);
}

TEST(MetricsTail, ALineThatDoesNotParseCostsOnlyItself) {
  TempDir tmp("tail");
  const stdfs::path file = tmp.path / "metrics.jsonl";
  append(file, step_line(1, 4.5) + "\n" + "kind\":\"step\",\"step\":9}\n" + step_line(2, 4.25) + "\n");
  MetricsTail tail(file);
  EXPECT_TRUE(tail.poll());
  EXPECT_EQ(tail.step(), 2);
}

TEST(RunProgress, LineShowsStepLossEtasAndLog) {
  TempDir tmp("progress");
  const stdfs::path metrics = tmp.path / replay::run::kMetricsFile;
  const auto t0 = ProgressClock::now();
  RunProgress run("rho=0.5", 2, 4, 10, tmp.path, t0);
  run.poll(t0 + seconds(1));
  EXPECT_FALSE(run.has_step());

  append(metrics, step_line(5, 2.5) + "\n");
  run.poll(t0 + seconds(3));
  ASSERT_TRUE(run.has_step());
  EXPECT_EQ(run.steps_trained(), 0);  // the first step seen is where the pace starts
  const std::string log = (tmp.path / replay::run::kTrainLog).string();
  EXPECT_EQ(run.line(60), "[2/4] rho=0.5  step 5/10  loss 2.5000  ETA ?  sweep ETA 1m00s  log " + log);

  append(metrics, step_line(6, 2.4) + "\n" + step_line(7, 2.25) + "\n");
  run.poll(t0 + seconds(5));
  EXPECT_EQ(run.steps_trained(), 2);
  EXPECT_DOUBLE_EQ(run.eta_s(), 3.0);  // 2 steps in 2 s, 3 to go
  EXPECT_DOUBLE_EQ(run.running_s(t0 + seconds(5)), 5.0);
  EXPECT_EQ(run.line(std::nan("")), "[2/4] rho=0.5  step 7/10  loss 2.2500  ETA 3.0s  sweep ETA ?  log " + log);
}

TEST(ProgressBoard, OffATerminalARunPrintsAtMostEveryInterval) {
  std::FILE* out = std::tmpfile();
  const auto t0 = ProgressClock::now();
  {
    ProgressBoard board(out, /*terminal=*/false, 10.0);
    board.show({{0, "a 1"}}, t0);               // first seen: printed at once
    board.show({{0, "a 2"}}, t0 + seconds(5));  // too soon
    board.show({{0, "a 3"}, {1, "b 1"}}, t0 + seconds(6));
    board.say("[1/2] done a");
    board.show({{0, "a 4"}, {1, "b 2"}}, t0 + seconds(10));
  }
  EXPECT_EQ(contents(out), "a 1\nb 1\n[1/2] done a\na 4\n");
  std::fclose(out);
}

TEST(ProgressBoard, OnATerminalTheBlockIsRedrawnInPlace) {
  std::FILE* out = std::tmpfile();
  const auto t0 = ProgressClock::now();
  {
    ProgressBoard board(out, /*terminal=*/true);
    board.show({{0, "a 1"}, {1, "b 1"}}, t0);
    board.show({{0, "a 2"}, {1, "b 2"}}, t0 + seconds(1));
    board.say("[1/2] done a");  // erases the block, then the message
    board.show({{1, "b 3"}}, t0 + seconds(2));
  }  // the board erases its block when it goes
  EXPECT_EQ(contents(out),
            "a 1\nb 1"
            "\r\033[1A\033[J" "a 2\nb 2"
            "\r\033[1A\033[J" "[1/2] done a\n"
            "b 3"
            "\r\033[J");
  std::fclose(out);
}

}  // namespace
