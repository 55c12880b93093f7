// TensorBoard event files (train.tensorboard): the tags of each metrics
// record, what a start keeps of older files, and the files of real runs
// (`replay train`, killed and resumed, and `replay sweep --set`) read by
// TensorBoard's own reader (tests/oracle/tensorboard_read.py, in the venv
// scripts/test.sh makes), each compared scalar by scalar and step by step
// with the run's metrics.jsonl. Without the venv the oracle tests skip,
// saying so; the checks with this repository's reader still run.
#include "train/tensorboard.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "replay_cli.h"
#include "run/layout.h"
#include "tiny_run.h"
#include "train_process.h"
#include "util/fs.h"
#include "util/tfevents.h"

namespace replay::train {
namespace {

namespace stdfs = std::filesystem;
using nlohmann::json;

// One event as a reader saw it: its step and its scalars.
struct Event {
  int64_t step = 0;
  std::map<std::string, float> scalars;
  bool operator==(const Event&) const = default;
};

std::ostream& operator<<(std::ostream& out, const Event& e) {
  out << "step " << e.step << " {";
  for (const auto& [tag, value] : e.scalars) out << " " << tag << "=" << value;
  return out << " }";
}

// What the event file must hold for a metrics file, spelled out here rather
// than taken from tensorboard_scalars: each step line's loss, lr, grad norm
// and throughput, each evaluation's loss per source, each task's accuracy.
std::vector<Event> expected_events(const stdfs::path& metrics) {
  std::vector<Event> events;
  std::ifstream in(metrics);
  std::string line;
  while (std::getline(in, line)) {
    const json r = json::parse(line);
    Event e{r.at("step").get<int64_t>(), {}};
    auto put = [&](const std::string& tag, const json& v) { e.scalars[tag] = static_cast<float>(v.get<double>()); };
    if (r["kind"] == "step") {
      for (const char* f : {"loss", "lr", "grad_norm", "tokens_per_s"}) put(std::string("train/") + f, r.at(f));
    } else if (r["kind"] == "eval") {
      for (const auto& [source, loss] : r.at("val").items()) put("val/" + source, loss);
    } else if (r["kind"] == "task") {
      put("task/" + r.at("task").get<std::string>() + "/acc", r.at("acc"));
      if (r.contains("acc_norm")) put("task/" + r.at("task").get<std::string>() + "/acc_norm", r.at("acc_norm"));
    }
    if (!e.scalars.empty()) events.push_back(e);
  }
  return events;
}

std::vector<stdfs::path> event_files(const stdfs::path& dir) {
  std::vector<stdfs::path> files;
  if (stdfs::is_directory(dir))
    for (const auto& entry : stdfs::directory_iterator(dir)) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

// The folder's scalar events read with util/tfevents.h.
std::vector<Event> read_with_replay(const stdfs::path& dir) {
  std::vector<Event> events;
  for (const auto& file : event_files(dir)) {
    const auto scan = tfevents::read_records(file);
    EXPECT_EQ(scan.good_bytes, stdfs::file_size(file)) << file << " has a damaged tail";
    for (const auto& record : scan.records) {
      const auto fields = tfevents::parse_event(record);
      if (fields.file_version) continue;
      Event e{fields.step, {}};
      for (const auto& s : fields.scalars) e.scalars[s.tag] = s.value;
      events.push_back(e);
    }
  }
  return events;
}

const stdfs::path kOraclePython = REPLAY_ORACLE_PYTHON;
const stdfs::path kOracleScript = stdfs::path(REPLAY_SOURCE_DIR) / "tests/oracle/tensorboard_read.py";

bool have_oracle() { return stdfs::exists(kOraclePython); }
std::string no_oracle_message() {
  return kOraclePython.string() + " not found: TensorBoard's reader was not run (scripts/test.sh makes the venv "
         "from tests/oracle/requirements.txt)";
}

// tensorboard_read.py's JSON for `args` (see there).
json read_with_tensorboard(const std::string& args) {
  const CliResult r = run_shell("'" + kOraclePython.string() + "' '" + kOracleScript.string() + "' " + args + " 2>&1");
  EXPECT_EQ(r.status, 0) << r.out;
  try {
    return json::parse(r.out);
  } catch (const json::exception&) {
    ADD_FAILURE() << "tensorboard_read.py printed no JSON: " << r.out;
    return json::object();
  }
}

// TensorBoard's reading of `dir` equals the metrics, record by record (each
// scalar as the float TensorBoard stores) and, in its accumulator (what the
// UI plots), tag by tag; the first record of every file is the version.
void expect_tensorboard_reads_metrics(const stdfs::path& dir, const stdfs::path& metrics) {
  const json read = read_with_tensorboard("'" + dir.string() + "'");
  ASSERT_TRUE(read.contains("records"));
  ASSERT_EQ(read["files"].size(), 1u) << read["files"];
  EXPECT_EQ(read["files"][0].get<std::string>().rfind("events.out.tfevents.", 0), 0u) << read["files"][0];
  const json& records = read["records"];
  ASSERT_GE(records.size(), 1u);
  EXPECT_EQ(records[0].value("file_version", ""), "brain.Event:2");
  std::vector<Event> seen;
  for (size_t i = 1; i < records.size(); ++i) {
    EXPECT_FALSE(records[i].contains("file_version")) << "record " << i;
    Event e{records[i]["step"].get<int64_t>(), {}};
    for (const auto& [tag, value] : records[i]["scalars"].items()) e.scalars[tag] = value.get<float>();
    seen.push_back(e);
  }
  const std::vector<Event> expected = expected_events(metrics);
  EXPECT_EQ(seen, expected);

  std::map<std::string, std::vector<std::pair<int64_t, float>>> curves;
  for (const Event& e : expected)
    for (const auto& [tag, value] : e.scalars) curves[tag].push_back({e.step, value});
  ASSERT_EQ(read["accumulator"].size(), curves.size()) << read["accumulator"].dump();
  for (const auto& [tag, points] : curves) {
    const json& got = read["accumulator"][tag];
    ASSERT_EQ(got.size(), points.size()) << tag;
    for (size_t i = 0; i < points.size(); ++i) {
      EXPECT_EQ(got[i][0].get<int64_t>(), points[i].first) << tag << " point " << i;
      EXPECT_EQ(got[i][1].get<float>(), points[i].second) << tag << " point " << i;
    }
  }
}

TEST(TensorBoardScalars, TagsOfEachKindOfRecord) {
  const auto tags = [](const json& record) {
    std::map<std::string, float> out;
    for (const auto& s : tensorboard_scalars(record)) out[s.tag] = s.value;
    return out;
  };
  EXPECT_EQ(tags({{"kind", "step"}, {"step", 3}, {"phase", "p"}, {"loss", 2.5}, {"lr", 0.001},
                  {"grad_norm", 0.75}, {"tokens_per_s", 1000.0}, {"data_s", 0.1}}),
            (std::map<std::string, float>{{"train/loss", 2.5f}, {"train/lr", 0.001f}, {"train/grad_norm", 0.75f},
                                          {"train/tokens_per_s", 1000.0f}}));
  EXPECT_EQ(tags({{"kind", "eval"}, {"step", 0}, {"val", {{"target", 3.0}, {"generic", 4.0}}}}),
            (std::map<std::string, float>{{"val/target", 3.0f}, {"val/generic", 4.0f}}));
  EXPECT_EQ(tags({{"kind", "task"}, {"step", 4}, {"task", "arc"}, {"acc", 0.5}, {"acc_norm", 0.25}}),
            (std::map<std::string, float>{{"task/arc/acc", 0.5f}, {"task/arc/acc_norm", 0.25f}}));
  EXPECT_TRUE(tags({{"kind", "stop"}, {"step", 4}, {"reason", "nan"}}).empty());
  // A diverged evaluation: null in the metrics text, NaN in memory; no point either way.
  EXPECT_EQ(tags({{"kind", "eval"}, {"step", 8}, {"val", {{"target", nullptr}, {"generic", NAN}, {"x", 1.0}}}}),
            (std::map<std::string, float>{{"val/x", 1.0f}}));
}

// The files a start finds: a killed run's (steps 1..6, a half-written tail)
// and a copy of part of it (a start killed before removing older files).
class TensorBoardStart : public ::testing::Test {
 protected:
  void write_older() {
    std::string text = tfevents::frame_record(tfevents::version_event(100));
    for (int step = 1; step <= 6; ++step)
      text += tfevents::frame_record(tfevents::scalars_event(100 + step, step, {{"train/loss", 1.0f * step}}));
    std::ofstream(dir() / "events.out.tfevents.0000000100.h.1.0", std::ios::binary)
        << text << tfevents::frame_record(tfevents::scalars_event(107, 7, {{"train/loss", 7}})).substr(0, 9);
    std::ofstream(dir() / "events.out.tfevents.0000000100.h.1.1", std::ios::binary) << text;
  }
  stdfs::path dir() const { return tmp_.path / "tensorboard"; }
  TempDir tmp_{"tensorboard"};
};

TEST_F(TensorBoardStart, ResumeKeepsOlderEventsThroughTheCheckpointOnce) {
  stdfs::create_directories(dir());
  write_older();
  {
    TensorBoardLog log(dir(), 4, "{\"kind\":\"step\",\"step\":1}\n");  // the metrics text is not used: events exist
    log.write({{"kind", "step"}, {"step", 5}, {"loss", 9.0}, {"lr", 0.0}, {"grad_norm", 0.0}, {"tokens_per_s", 1.0}});
  }
  const auto files = event_files(dir());
  ASSERT_EQ(files.size(), 1u) << "older files were not removed";
  const auto scan = tfevents::read_records(files[0]);
  ASSERT_EQ(scan.records.size(), 6u);  // version, steps 1-4 once each, the new step 5
  EXPECT_TRUE(tfevents::parse_event(scan.records[0]).file_version);
  for (int step = 1; step <= 4; ++step) {
    const auto e = tfevents::parse_event(scan.records[static_cast<size_t>(step)]);
    EXPECT_EQ(e.step, step);
    EXPECT_EQ(e.wall_time, 100 + step) << "the wall time of a kept event is kept";
  }
  const auto last = tfevents::parse_event(scan.records[5]);
  EXPECT_EQ(last.step, 5);
  EXPECT_EQ(last.scalars.at(0).value, 9.0f);
}

// Any other start: the kept metrics lines, converted; older files go.
TEST_F(TensorBoardStart, FreshOrSharedStartConvertsTheKeptMetrics) {
  stdfs::create_directories(dir());
  write_older();
  const std::string metrics =
      "{\"kind\":\"eval\",\"step\":0,\"val\":{\"math\":5.5}}\n"
      "{\"kind\":\"step\",\"step\":1,\"loss\":5.0,\"lr\":0.01,\"grad_norm\":2.0,\"tokens_per_s\":10.0}\n";
  { TensorBoardLog log(dir(), std::nullopt, metrics); }
  EXPECT_EQ(read_with_replay(dir()),
            (std::vector<Event>{{0, {{"val/math", 5.5f}}},
                                {1, {{"train/loss", 5.0f}, {"train/lr", 0.01f}, {"train/grad_norm", 2.0f},
                                     {"train/tokens_per_s", 10.0f}}}}));
  { TensorBoardLog log(dir(), std::nullopt, ""); }
  EXPECT_TRUE(read_with_replay(dir()).empty()) << "a fresh start kept events of an earlier attempt";
  EXPECT_EQ(event_files(dir()).size(), 1u);
}

// Real runs of the binary on the tiny stores.
class TensorBoardRun : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(stdfs::exists(REPLAY_BINARY)) << "build the replay binary first";
    testing::make_store(tmp_.path / "generic", "generic", 160);
    testing::make_store(tmp_.path / "math", "math");
  }
  stdfs::path config(const std::string& name, int steps) {
    return testing::write_tiny_config(tmp_.path, name, testing::kTinyMidTraining, steps);
  }
  stdfs::path log(const std::string& name) const { return tmp_.path / (name + ".log"); }
  TempDir tmp_{"tensorboard-run"};
};

TEST_F(TensorBoardRun, TensorBoardReadsEveryScalarOfTheMetrics) {
  const auto cfg = config("run", 12);
  ASSERT_EQ(testing::wait_exit(testing::spawn_train(cfg, {"--set", "train.tensorboard=true"}, log("run"))), 0)
      << testing::read_log(log("run"));
  const stdfs::path dir = tmp_.path / "run" / run::kTensorBoardDir, metrics = tmp_.path / "run" / run::kMetricsFile;
  const auto expected = expected_events(metrics);
  ASSERT_EQ(testing::count_step_lines(metrics), 12u);
  ASSERT_GE(expected.size(), 12u + 3u);  // and evaluations after 5, 10 and 12 steps
  EXPECT_EQ(read_with_replay(dir), expected);
  if (!have_oracle()) GTEST_SKIP() << no_oracle_message();
  expect_tensorboard_reads_metrics(dir, metrics);
}

// SIGKILL after a checkpoint, then --resume: the steps computed again after
// the checkpoint are in the event file once, as in the metrics.
TEST_F(TensorBoardRun, KilledAndResumedRunHoldsEachStepOnce) {
  const auto cfg = config("victim", 16);
  const stdfs::path metrics = tmp_.path / "victim" / run::kMetricsFile;
  const std::vector<std::string> on = {"--set", "train.tensorboard=true"};
  const pid_t pid = testing::spawn_train(cfg, on, log("victim"));
  testing::wait_for_step_lines(pid, metrics, 8, log("victim"));  // checkpoints after 3 and 6
  if (HasFatalFailure()) return;
  ::kill(pid, SIGKILL);
  ASSERT_EQ(testing::wait_exit(pid), -SIGKILL);
  ASSERT_LT(testing::count_step_lines(metrics), 16u) << "killed too late to test anything";
  std::vector<std::string> resume = on;
  resume.insert(resume.end(), {"--resume", "auto"});
  ASSERT_EQ(testing::wait_exit(testing::spawn_train(cfg, resume, log("victim"))), 0) << testing::read_log(log("victim"));
  ASSERT_NE(testing::read_log(log("victim")).find("resuming from"), std::string::npos);

  const stdfs::path dir = tmp_.path / "victim" / run::kTensorBoardDir;
  EXPECT_EQ(testing::count_step_lines(metrics), 16u);
  EXPECT_EQ(read_with_replay(dir), expected_events(metrics));
  if (!have_oracle()) GTEST_SKIP() << no_oracle_message();
  expect_tensorboard_reads_metrics(dir, metrics);
}

// `replay sweep --set train.tensorboard=true` reaches every run's trainer,
// the run that starts from the other's shared prefix included (its event
// file starts with the prefix's steps, converted from the metrics).
TEST_F(TensorBoardRun, SweepSetTurnsItOnForEveryRun) {
  testing::write_text(tmp_.path / "sweep.toml",
                      "name = \"tb\"\nbase = \"base.toml\"\n"
                      "[[group]]\nname = \"a\"\nset = { \"schedule.rho\" = 0.0 }\n"
                      "[[group]]\nname = \"b\"\nset = { \"schedule.rho\" = 0.5 }\n");
  (void)config("base", 16);  // base.toml; the sweep sets each run's out
  const stdfs::path runs = tmp_.path / "runs";
  const CliResult r = run_shell("cd '" + tmp_.path.string() + "' && '" + std::string(REPLAY_BINARY) +
                                "' sweep sweep.toml --runs runs --set train.tensorboard=true -j 1 2>&1");
  ASSERT_EQ(r.status, 0) << r.out;
  int checked = 0;
  bool branched = false;
  for (const auto& entry : stdfs::directory_iterator(runs)) {
    if (!stdfs::exists(entry.path() / run::kMetricsFile)) continue;
    const auto dir = entry.path() / run::kTensorBoardDir, metrics = entry.path() / run::kMetricsFile;
    EXPECT_EQ(read_with_replay(dir), expected_events(metrics)) << entry.path();
    EXPECT_EQ(testing::count_step_lines(metrics), 16u);
    branched = branched || stdfs::exists(entry.path() / run::kBranchFile);
    if (have_oracle()) expect_tensorboard_reads_metrics(dir, metrics);
    ++checked;
  }
  EXPECT_EQ(checked, 2) << r.out;
  EXPECT_TRUE(branched) << "no run started from a shared prefix: the converted-prefix path was not exercised\n"
                        << r.out;
  if (!have_oracle()) GTEST_SKIP() << no_oracle_message();

  // `tensorboard --logdir runs`: the server's multiplexer finds both runs,
  // named by their folders, with every step's loss.
  const json served = read_with_tensorboard("--runs '" + runs.string() + "'");
  ASSERT_TRUE(served.contains("runs"));
  ASSERT_EQ(served["runs"].size(), 2u) << served.dump();
  for (const auto& [name, curves] : served["runs"].items()) {
    const stdfs::path folder = runs / stdfs::path(name).parent_path();
    EXPECT_EQ(stdfs::path(name).filename(), run::kTensorBoardDir) << name;
    ASSERT_TRUE(stdfs::exists(folder / run::kMetricsFile)) << name;
    const auto steps = testing::read_metrics(folder / run::kMetricsFile).steps;
    ASSERT_EQ(curves["train/loss"].size(), steps.size()) << name;
    for (size_t i = 0; i < steps.size(); ++i) {
      EXPECT_EQ(curves["train/loss"][i][0].get<int64_t>(), steps[i].step) << name;
      EXPECT_EQ(curves["train/loss"][i][1].get<float>(), static_cast<float>(steps[i].loss)) << name;
    }
  }
}

// Data parallel: rank 0 alone writes the run folder, so one event file that
// holds each step once (a second writer would leave two files, or each
// step twice).
TEST_F(TensorBoardRun, DataParallelRankZeroAloneWritesIt) {
  const auto cfg = config("two", 8);
  // A port of its own, apart from tests/dist's (20000-25999) and below
  // Linux's ephemeral range.
  const std::string port = std::to_string(26000 + ::getpid() % 1000);
  const CliResult r = run_shell(std::string("'") + REPLAY_BINARY + "' launch --nproc 2 --port " + port +
                                " -- train '" + cfg.string() + "' --set train.tensorboard=true 2>&1");
  ASSERT_EQ(r.status, 0) << r.out;
  const stdfs::path dir = tmp_.path / "two" / run::kTensorBoardDir, metrics = tmp_.path / "two" / run::kMetricsFile;
  EXPECT_EQ(event_files(dir).size(), 1u);
  EXPECT_EQ(testing::count_step_lines(metrics), 8u);
  EXPECT_EQ(read_with_replay(dir), expected_events(metrics));
}

}  // namespace
}  // namespace replay::train
