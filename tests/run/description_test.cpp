// Parsing of a whole run description ([data] and [schedule] by the schedule
// stage, given the run's basics): values, defaults and clear errors.
#include <gtest/gtest.h>

#include "run/run_config.h"
#include "util/error.h"

using namespace replay::schedule;
using replay::run::parse_run_description;

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

RunPlan load_run_plan(const toml::table& root) {
  return plan_run(parse_run_description(root, "run.toml").schedule, "run.toml", sizes);
}

std::string error_of(const std::string& text) {
  try {
    const toml::table root = parse(text);
    load_run_plan(root);
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
  const ScheduleConfig cfg = parse_run_description(root, "run.toml").schedule;
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
  const RunPlan plan = load_run_plan(root);
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
  EXPECT_NE(error_of(replace(kMid, "steps = 256", "")).find("train.steps: missing"), std::string::npos);
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
  const RunPlan plan = load_run_plan(parse(ft2));
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
  const RunPlan g = load_run_plan(parse(general));
  ASSERT_EQ(g.phases.size(), 2u);
  EXPECT_TRUE(g.phases[1].reset_optimizer);
  EXPECT_EQ(g.phases[1].lr.kind, LrKind::constant);
  EXPECT_DOUBLE_EQ(g.phases[1].lr_at_step(50), 3e-4);
  EXPECT_EQ(g.mixture->pool_size(g.mixture->source_index("math")), 40);
  const std::string bad = replace(general, "reset_optimizer = true", "reset_optimiser = true");
  EXPECT_EQ(before_known_keys(error_of(bad)), "run.toml: unknown key \'schedule.stages[1].reset_optimiser\'");
}

// Every key is parsed once: the values the schedule plans with are the run
// settings' own, given or defaulted, and --set reaches both.
TEST(Description, OneParserForTheRunsBasics) {
  const toml::table root = parse(kMid);
  const auto d = parse_run_description(root, "run.toml");
  EXPECT_EQ(d.schedule.spec.seed, static_cast<uint64_t>(d.settings.seed));
  EXPECT_EQ(d.schedule.spec.steps, d.settings.train.steps);
  EXPECT_EQ(d.schedule.spec.batch_size, d.settings.train.batch_size);
  EXPECT_DOUBLE_EQ(d.schedule.spec.lr.peak, d.settings.optim.lr);
  EXPECT_DOUBLE_EQ(d.schedule.spec.lr.peak, 0.002);

  // Defaults: nothing given, both sides see the same defaults.
  const char* bare = R"(
[data.sources.g]
store = "g"
[train]
steps = 10
)";
  const auto b = parse_run_description(parse(bare), "run.toml");
  EXPECT_EQ(b.schedule.spec.seed, 42u);
  EXPECT_EQ(b.schedule.spec.batch_size, 32);
  EXPECT_EQ(b.settings.train.batch_size, 32);
  EXPECT_DOUBLE_EQ(b.schedule.spec.lr.peak, b.settings.optim.lr);
  EXPECT_EQ(b.schedule.spec.lr.kind, LrKind::cosine);
  EXPECT_DOUBLE_EQ(b.schedule.spec.lr.warmup, 0.01);
  const RunPlan plan = plan_run(b.schedule, "run.toml", sizes);
  EXPECT_DOUBLE_EQ(plan.phases[0].lr.peak, b.settings.optim.lr);
  EXPECT_EQ(plan.phases[0].lr.total_steps, b.settings.train.steps);
  EXPECT_EQ(plan.phases[0].lr_key, "optim.lr");

  // Overrides go through the same parser.
  toml::table over = parse(kMid);
  replay::apply_override(over, "train.steps=512");
  replay::apply_override(over, "optim.lr=0.004");
  replay::apply_override(over, "seed=11");
  const auto o = parse_run_description(over, "run.toml");
  EXPECT_EQ(o.schedule.spec.steps, 512);
  EXPECT_EQ(o.settings.train.steps, 512);
  EXPECT_DOUBLE_EQ(o.schedule.spec.lr.peak, 0.004);
  EXPECT_EQ(o.schedule.spec.seed, 11u);
}

TEST(Description, BaseLrErrorsNameTheirKeys) {
  EXPECT_NE(error_of(replace(kMid, "lr = 0.002", "lr = 0")).find("optim.lr"), std::string::npos);
  EXPECT_NE(error_of(replace(kMid, "cooldown = 0.2", "cooldown = 2")).find("lr_schedule"), std::string::npos);
  EXPECT_EQ(error_of(replace(kMid, "cooldown = 0.2", "cooldwn = 0.2")).rfind("run.toml: unknown key 'lr_schedule.cooldwn'", 0),
            0u);
}

TEST(Description, FineTuningSaysTheBaseLrDoesNotApply) {
  const std::string ft = replace(replace(kMid, "protocol = \"mid-training\"", "protocol = \"fine-tuning\"\nm = 2"),
                                 "rho = 0.5\nalpha = 1\n", "");
  const auto d = parse_run_description(parse(ft), "run.toml");
  EXPECT_FALSE(d.base_lr_applies());
  ASSERT_EQ(d.warnings.size(), 1u);
  EXPECT_NE(d.warnings[0].find("optim.lr and [lr_schedule] do not apply"), std::string::npos) << d.warnings[0];
  const RunPlan plan = plan_run(d.schedule, "run.toml", sizes);
  EXPECT_EQ(plan.phases[0].lr_key, "schedule.pretrain.lr");
  EXPECT_EQ(plan.phases[1].lr_key, "schedule.finetune.lr");
  // Mid-training uses them: no warning.
  EXPECT_TRUE(parse_run_description(parse(kMid), "run.toml").warnings.empty());
}

namespace {

const char* kContinued = R"(
[data.sources.generic]
store = "stores/generic"
[data.sources.math]
store = "stores/math"
[schedule]
protocol = "continued-pretraining"
target = "math"
generic = "generic"
target_steps = 40
rho = 0.75
[train]
batch_size = 8
init_from = "runs/pretrained"
[optim]
lr = 1e-5
[lr_schedule]
kind = "cosine"
warmup = 0.1
)";

}  // namespace

// train.steps is derived by the schedule stage (T / (1 - rho)) and taken by
// the run layer; the run's optim.lr / [lr_schedule] is the phase's schedule.
TEST(Config, ContinuedPretrainingDerivesTrainSteps) {
  const toml::table root = parse(kContinued);
  const auto d = parse_run_description(root, "run.toml");
  EXPECT_EQ(d.settings.train.steps, 160);
  EXPECT_EQ(d.schedule.spec.steps, 160);
  EXPECT_EQ(d.schedule.spec.target_steps, 40);
  const RunPlan plan = load_run_plan(root);
  ASSERT_EQ(plan.phases.size(), 1u);
  EXPECT_EQ(plan.phases[0].num_steps, 160);
  EXPECT_EQ(plan.phases[0].lr.total_steps, 160);
  EXPECT_DOUBLE_EQ(plan.phases[0].lr.peak, 1e-5);
  EXPECT_EQ(plan.continued->target_sequences, 320);
  // Given and equal: accepted; rho left out: 0 (no replay).
  EXPECT_EQ(parse_run_description(parse(replace(kContinued, "batch_size = 8", "batch_size = 8\nsteps = 160")), "run.toml")
                .settings.train.steps,
            160);
  EXPECT_EQ(parse_run_description(parse(replace(kContinued, "rho = 0.75", "")), "run.toml").settings.train.steps, 40);
}

TEST(Config, ContinuedPretrainingErrorsNameKeysAndValues) {
  const std::string rho = error_of(replace(kContinued, "rho = 0.75", "rho = 1.0"));
  EXPECT_EQ(rho.rfind("run.toml: schedule.rho = 1", 0), 0u) << rho;
  EXPECT_NE(rho.find("[0, 1)"), std::string::npos) << rho;
  const std::string t = error_of(replace(kContinued, "target_steps = 40", ""));
  EXPECT_NE(t.find("run.toml"), std::string::npos) << t;
  EXPECT_NE(t.find("schedule.target_steps"), std::string::npos) << t;
  EXPECT_NE(t.find("required"), std::string::npos) << t;
  const std::string steps = error_of(replace(kContinued, "batch_size = 8", "batch_size = 8\nsteps = 100"));
  EXPECT_NE(steps.find("run.toml: train.steps = 100 disagrees with schedule.target_steps = 40 / "
                       "(1 - schedule.rho = 0.75) = 160"),
            std::string::npos)
      << steps;
  const std::string init = error_of(replace(kContinued, "init_from = \"runs/pretrained\"", ""));
  EXPECT_NE(init.find("run.toml: train.init_from: missing"), std::string::npos) << init;
  EXPECT_NE(error_of(replace(kContinued, "rho = 0.75", "rho = 0.75\nf = 0.1")).find("schedule.f"), std::string::npos);
  EXPECT_NE(error_of(replace(kMid, "rho = 0.5", "rho = 0.5\ntarget_steps = 4")).find("schedule.target_steps"),
            std::string::npos);
}
