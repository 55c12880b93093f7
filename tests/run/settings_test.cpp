// Bad inputs of the run layer's own config tables: each error names the key and
// the file; defaults are filled in the resolved form.
#include <gtest/gtest.h>

#include "run/settings.h"
#include "util/toml_reader.h"
#include "util/error.h"

namespace replay::run {
namespace {

RunSettings parse(const std::string& text) {
  return parse_run_settings(toml::parse(text), "run.toml");
}

// Expects replay::Error whose message contains every one of `needles`.
void expect_error(const std::string& text, std::initializer_list<const char*> needles) {
  try {
    parse(text);
    FAIL() << "no error for:\n" << text;
  } catch (const Error& e) {
    std::string msg = e.what();
    for (const char* n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' not in: " << msg;
  }
}

const char* kMinimal = "out = \"runs/x\"\n[train]\nsteps = 10\n";

TEST(Settings, DefaultsFilledIn) {
  RunSettings s = parse(kMinimal);
  EXPECT_EQ(s.train.steps, 10);
  EXPECT_EQ(s.seed, 42);
  EXPECT_EQ(s.microbatch(), 32);
  auto j = to_json(s);
  EXPECT_EQ(j["train"]["microbatch"], 32);
  EXPECT_DOUBLE_EQ(j["optim"]["beta2"].get<double>(), 0.95);
  EXPECT_FALSE(j.contains("lr_schedule"));  // the schedule stage owns it
  EXPECT_DOUBLE_EQ(j["optim"]["lr"].get<double>(), 3e-3);
  EXPECT_FALSE(to_json(s, /*with_base_lr=*/false)["optim"].contains("lr"));
  EXPECT_EQ(j["shared"], "runs/_shared");
}

TEST(Settings, ReadsEveryTable) {
  RunSettings s = parse(R"(
seed = 7
out = "runs/y"
threads = 2
[train]
steps = 100
batch_size = 16
microbatch = 4
[optim]
lr = 1e-3
weight_decay = 0
grad_clip = 0.5
[lr_schedule]
kind = "wsd"
cooldown = 0.2
[eval]
every = 10
sequences = 8
[checkpoint]
every = 25
keep = 2
[model]
anything = "parsed by the model stage"
)");
  EXPECT_EQ(s.seed, 7);
  EXPECT_EQ(s.microbatch(), 4);
  EXPECT_DOUBLE_EQ(s.optim.lr, 1e-3);
  EXPECT_DOUBLE_EQ(s.optim.weight_decay, 0.0);
  EXPECT_EQ(s.eval.every, 10);
  EXPECT_EQ(s.checkpoint.keep, 2);
}

TEST(Settings, BadInputsNameKeyAndFile) {
  expect_error("out = \"x\"\n[train]\nsteps = 10\nstpes = 3\n", {"run.toml", "train.stpes", "unknown"});
  expect_error("out = \"x\"\nsed = 1\n[train]\nsteps = 10\n", {"run.toml", "'sed'"});
  expect_error("out = \"x\"\n[train]\nsteps = \"ten\"\n", {"train.steps", "integer", "string"});
  expect_error("out = \"x\"\n[train]\nsteps = 0\n", {"train.steps", "> 0"});
  expect_error("out = \"x\"\n[train]\nsteps = 1000000000000\n", {"train.steps", "more than 1000000000"});
  expect_error("out = \"x\"\n[train]\nsteps = 5\nbatch_size = 32\nmicrobatch = 5\n",
               {"train.microbatch", "does not divide"});
  expect_error("out = \"x\"\n[train]\nsteps = 5\n[optim]\nlr = \"big\"\n", {"optim.lr", "number"});
  expect_error("out = \"x\"\n[train]\nsteps = 5\n[optim]\nbeta2 = 1.5\n", {"optim.beta2"});
  expect_error("out = \"x\"\n[train]\nsteps = 5\n[optim]\nlr = 0\n", {"optim.lr", "> 0"});
  expect_error("out = \"x\"\n[train]\nsteps = 5\n[checkpoint]\nkeep = 0\n", {"checkpoint.keep"});
  expect_error("out = \"x\"\n[train]\nsteps = 5\n[eval]\nevery = -1\n", {"eval.every"});
  // train.steps left out: 0 here; the run description derives it or reports it
  // missing (description_test: ContinuedPretraining*).
  EXPECT_EQ(parse("out = \"x\"\n").train.steps, 0);
  expect_error("out = \"x\"\ntrain = 5\n", {"train", "table"});
  expect_error("out = \"x\"\nthreads = -1\n[train]\nsteps = 5\n", {"threads"});
  expect_error("out = \"x\"\ndevice = \"gpu\"\n[train]\nsteps = 5\n", {"run.toml", "device", "'gpu'"});
  expect_error("out = \"x\"\ndevice = \"cuda:x\"\n[train]\nsteps = 5\n", {"device", "cuda:N"});
  expect_error("out = \"x\"\ncompute_dtype = \"fp16\"\n[train]\nsteps = 5\n",
               {"compute_dtype", "'fp16'", "bf16"});
}

TEST(Settings, DeviceAndComputeDtype) {
  RunSettings s = parse(kMinimal);
  EXPECT_EQ(s.device, "cpu");
  EXPECT_EQ(s.compute_dtype, "fp32");
  s = parse("out = \"x\"\ndevice = \"cuda:1\"\ncompute_dtype = \"bf16\"\n[train]\nsteps = 5\n");
  EXPECT_EQ(s.device, "cuda:1");
  EXPECT_EQ(s.compute_dtype, "bf16");
  EXPECT_EQ(to_json(s)["compute_dtype"], "bf16");
}

TEST(Settings, OverridesApplyToAnyKey) {
  toml::table root = toml::parse(kMinimal);
  apply_override(root, "train.steps=3");
  apply_override(root, "optim.lr=1e-4");
  apply_override(root, "out=runs/other");
  apply_override(root, "lr_schedule.kind=\"wsd\"");
  apply_override(root, "model.preset=tiny");
  RunSettings s = parse_run_settings(root, "run.toml");
  EXPECT_EQ(s.train.steps, 3);
  EXPECT_DOUBLE_EQ(s.optim.lr, 1e-4);
  EXPECT_EQ(s.out, "runs/other");
  EXPECT_EQ(root["lr_schedule"]["kind"].value<std::string>(), "wsd");
  EXPECT_EQ(root["model"]["preset"].value<std::string>(), "tiny");
  EXPECT_THROW(apply_override(root, "novalue"), Error);
  EXPECT_THROW(apply_override(root, "out.x=1"), Error);  // out is a string, not a table
}

// The resolved text of a config without [seeds], pinned: the run ids of
// every config from before the seed streams stay what they were.
TEST(Settings, ResolvedTextWithoutSeedStreamsIsPinned) {
  EXPECT_EQ(to_json(parse(kMinimal)).dump(),
            R"({"checkpoint":{"every":100,"keep":3},"compute_dtype":"fp32","device":"cpu","eval":{"every":0,"microbatch":32,"sequences":64},"optim":{"beta1":0.9,"beta2":0.95,"eps":1e-08,"grad_clip":1.0,"lr":0.003,"weight_decay":0.1},"out":"runs/x","seed":42,"shared":"runs/_shared","threads":0,"train":{"activation_checkpointing":false,"batch_size":32,"init_from":"","microbatch":32,"steps":10}})");
}

// [seeds] gives one stream its own seed; the others follow `seed`.
TEST(Settings, SeedStreamsFollowSeedUnlessGiven) {
  RunSettings s = parse(std::string(kMinimal) + "[seeds]\ninit = 1\ndata = 2\n");
  EXPECT_EQ(s.init_seed(), 1u);
  EXPECT_EQ(s.data_seed(), 2u);
  EXPECT_EQ(s.pool_seed(), 42u);
  auto j = to_json(s);
  EXPECT_FALSE(j.contains("seed"));  // it decides nothing here
  EXPECT_EQ(j["seeds"], nlohmann::json({{"init", 1}, {"data", 2}, {"pool", 42}}));
  // Streams that all agree are the one-seed run, whatever the file spelled.
  const std::string plain = to_json(parse(kMinimal)).dump();
  EXPECT_EQ(to_json(parse(std::string(kMinimal) + "[seeds]\ninit = 42\ndata = 42\npool = 42\n")).dump(), plain);
  EXPECT_EQ(to_json(parse(std::string(kMinimal) + "[seeds]\npool = 42\n")).dump(), plain);
  auto all3 = to_json(parse(std::string("seed = 9\n") + kMinimal + "[seeds]\ninit = 3\ndata = 3\npool = 3\n"));
  EXPECT_EQ(all3["seed"], 3);
  EXPECT_FALSE(all3.contains("seeds"));
}

TEST(Settings, BadSeedsNameFileAndKey) {
  const std::string m = kMinimal;
  expect_error("seed = -1\n" + m, {"run.toml", "seed", ">= 0", "-1"});
  expect_error("seed = 1.5\n" + m, {"run.toml", "seed", "expected an integer"});
  expect_error(m + "[seeds]\ninit = -3\n", {"run.toml", "seeds.init", ">= 0", "-3"});
  expect_error(m + "[seeds]\ndata = 2.5\n", {"run.toml", "seeds.data", "expected an integer"});
  expect_error(m + "[seeds]\npool = \"7\"\n", {"run.toml", "seeds.pool", "expected an integer"});
  expect_error(m + "[seeds]\norder = 1\n", {"run.toml", "unknown key 'seeds.order'", "known: data, init, pool"});
  expect_error("seeds = 3\n" + m, {"run.toml", "seeds", "expected a table"});
}

}  // namespace
}  // namespace replay::run
