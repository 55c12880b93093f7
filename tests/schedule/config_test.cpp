// Parsing of [data] and [schedule]: values, defaults and clear errors.
#include <gtest/gtest.h>

#include "schedule/config.h"
#include "util/error.h"

using namespace replay::schedule;

namespace {

const char* kMid = R"(
seed = 7
[data]
tokenizer = "tok.json"
seq_len = 128
[data.sources.generic]
store = "stores/generic"
[data.sources.math]
store = "stores/math"
repeat = "reshuffle"
[schedule]
protocol = "mid-training"
target = "math"
generic = "generic"
f = 0.00390625
e = 32
rho = 0.5
alpha = 1
block_size = 64
[train]
steps = 256
batch_size = 32
[optim]
lr = 0.002
[lr_schedule]
kind = "wsd"
cooldown = 0.2
)";

toml::table parse(const std::string& text) { return toml::parse(text); }
int64_t sizes(const SourceConfig& s) { return s.name == "generic" ? 100000 : 400; }

std::string error_of(const std::string& text) {
  try {
    const toml::table root = parse(text);
    load_run_plan(root, "run.toml", sizes);
  } catch (const replay::Error& e) {
    return e.what();
  }
  return "";
}

// Unknown-key messages end with the table's known keys: "... (known: a, b)".
std::string before_known_keys(const std::string& message) { return message.substr(0, message.find(" (known: ")); }

std::string replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

}  // namespace

TEST(Config, ParsesAMidTrainingRun) {
  const toml::table root = parse(kMid);
  const ScheduleConfig cfg = parse_data_and_schedule(root, "run.toml");
  EXPECT_EQ(cfg.data.tokenizer, "tok.json");
  EXPECT_EQ(cfg.data.seq_len, 128);
  ASSERT_EQ(cfg.data.sources.size(), 2u);
  EXPECT_EQ(cfg.data.sources[1].name, "math");
  EXPECT_EQ(cfg.data.sources[1].repeat, Repeat::reshuffle);
  EXPECT_EQ(cfg.spec.seed, 7u);
  EXPECT_EQ(cfg.spec.steps, 256);
  EXPECT_EQ(cfg.spec.batch_size, 32);
  EXPECT_DOUBLE_EQ(cfg.spec.lr.peak, 0.002);
  EXPECT_EQ(cfg.spec.lr.kind, LrKind::wsd);
  EXPECT_DOUBLE_EQ(cfg.spec.lr.cooldown, 0.2);
  EXPECT_EQ(cfg.spec.apportion, Apportion::exact);
  const RunPlan plan = load_run_plan(root, "run.toml", sizes);
  EXPECT_EQ(plan.paper->pool, 32);
  EXPECT_EQ(plan.paper->boundary_step, 192);
  EXPECT_EQ(plan.phases[0].lr.total_steps, 256);
}

TEST(Config, UnknownKeysNameTheKeyAndFile) {
  const std::string rhoo = error_of(replace(kMid, "rho = 0.5", "rho = 0.5\nrhoo = 1"));
  EXPECT_EQ(before_known_keys(rhoo), "run.toml: unknown key \'schedule.rhoo\'");
  EXPECT_NE(rhoo.find(" (known: "), std::string::npos) << rhoo;
  EXPECT_NE(rhoo.find(", rho, "), std::string::npos) << rhoo;
  EXPECT_EQ(before_known_keys(error_of(replace(kMid, "repeat = \"reshuffle\"", "repeat = \"reshuffle\"\nrepeats = 2"))),
            "run.toml: unknown key \'data.sources.math.repeats\'");
  EXPECT_EQ(before_known_keys(error_of(replace(kMid, "seq_len = 128", "seq_len = 128\nshuffle = 1"))),
            "run.toml: unknown key \'data.shuffle\'");
}

TEST(Config, BadValuesAreClearErrors) {
  EXPECT_EQ(error_of(replace(kMid, "e = 32", "e = \"many\"")), "run.toml: schedule.e: expected a number, got a string");
  EXPECT_EQ(error_of(replace(kMid, "block_size = 64", "block_size = 6.5")),
            "run.toml: schedule.block_size: expected an integer, got a float");
  EXPECT_NE(error_of(replace(kMid, "protocol = \"mid-training\"", "protocol = \"midtraining\"")).find("not one of"),
            std::string::npos);
  EXPECT_NE(error_of(replace(kMid, "repeat = \"reshuffle\"", "repeat = \"again\"")).find("data.sources.math.repeat"),
            std::string::npos);
  EXPECT_NE(error_of(replace(kMid, "steps = 256", "")).find("train.steps is required"), std::string::npos);
  EXPECT_NE(error_of(replace(kMid, "store = \"stores/math\"", "")).find("data.sources.math.store"), std::string::npos);
  // Inconsistent knobs and oversize pools keep the file name.
  const std::string three = error_of(replace(kMid, "alpha = 1", "alpha = 1\ndelta = 0.5"));
  EXPECT_EQ(three.rfind("run.toml", 0), 0u) << three;
  EXPECT_NE(three.find("inconsistent"), std::string::npos) << three;
  const std::string pool = error_of(replace(kMid, "repeat = \"reshuffle\"", "pool = 64"));
  EXPECT_NE(pool.find("disagrees"), std::string::npos) << pool;
  EXPECT_NE(error_of(replace(kMid, "protocol = \"mid-training\"", "protocol = \"mid-training\"\nm = 2")).find("fine-tuning"),
            std::string::npos);
}

TEST(Config, FineTuningAndGeneral) {
  const std::string ft = replace(replace(kMid, "protocol = \"mid-training\"", "protocol = \"fine-tuning\"\nm = 2"),
                                 "rho = 0.5\nalpha = 1\n", "");
  const std::string ft2 = replace(replace(ft, "e = 32", "e = 64"), "block_size = 64\n",
                                  "block_size = 64\n[schedule.finetune]\nlr = 0.0005\n");
  const RunPlan plan = load_run_plan(parse(ft2), "run.toml", sizes);
  ASSERT_EQ(plan.phases.size(), 2u);
  EXPECT_DOUBLE_EQ(plan.phases[1].lr.peak, 5e-4);
  EXPECT_DOUBLE_EQ(plan.phases[0].lr.peak, 1e-3);
  EXPECT_EQ(plan.phases[1].num_steps, 128);

  const char* general = R"(
[data.sources.generic]
store = "g"
[data.sources.math]
store = "m"
pool = 40
[schedule]
protocol = "general"
block_size = 32
[[schedule.stages]]
start_step = 0
weights = { generic = 1 }
[[schedule.stages]]
start_step = 50
weights = { generic = 0.5, math = 0.5 }
reset_optimizer = true
lr = 0.0003
lr_schedule = { kind = "constant", warmup = 0 }
[train]
steps = 80
batch_size = 16
)";
  const RunPlan g = load_run_plan(parse(general), "run.toml", sizes);
  ASSERT_EQ(g.phases.size(), 2u);
  EXPECT_TRUE(g.phases[1].reset_optimizer);
  EXPECT_EQ(g.phases[1].lr.kind, LrKind::constant);
  EXPECT_DOUBLE_EQ(g.phases[1].lr_at_step(50), 3e-4);
  EXPECT_EQ(g.mixture->pool_size(g.mixture->source_index("math")), 40);
  const std::string bad = replace(general, "reset_optimizer = true", "reset_optimiser = true");
  EXPECT_EQ(before_known_keys(error_of(bad)), "run.toml: unknown key \'schedule.stages[1].reset_optimiser\'");
}
