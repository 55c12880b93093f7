// Resolution of whole runs against real (tiny) token stores: what is part of
// a run's identity and what is not, and that the key of a reusable state
// follows the cadence of the trainer.
#include <gtest/gtest.h>

#include <set>

#include "run/cadence.h"
#include "run/run_config.h"
#include "run/state_key.h"
#include "store_surgery.h"
#include "tiny_run.h"
#include "util/error.h"

namespace replay::run {
namespace {



class RunConfigTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    stores_ = new TempDir("run-stores");
    train::testing::make_store(stores_->path / "generic", "generic");
    train::testing::make_store(stores_->path / "math", "math");
  }
  static void TearDownTestSuite() {
    delete stores_;
    stores_ = nullptr;
  }

  std::string config(const std::string& protocol_keys, const std::string& extra = "") {
    return "seed = 5\nout = \"" + (tmp_.path / "out").string() + "\"\n[model]\npreset = \"tiny\"\n" +
           "[data.sources.generic]\nstore = \"" + (stores_->path / "generic").string() + "\"\n" +
           "[data.sources.math]\nstore = \"" + (stores_->path / "math").string() + "\"\n" +
           "[schedule]\ntarget = \"math\"\ngeneric = \"generic\"\nf = 0.0625\ne = 4\nblock_size = 8\n" +
           protocol_keys + "[train]\nsteps = 16\nbatch_size = 8\n[eval]\nevery = 4\nsequences = 4\n" + extra;
  }
  RunConfig load(const std::string& text, const std::vector<std::string>& overrides = {}) {
    const auto file = tmp_.path / "run.toml";
    train::testing::write_text(file, text);
    return load_run_config(file, overrides);
  }

  TempDir tmp_{"run-config"};
  static TempDir* stores_;
};
TempDir* RunConfigTest::stores_ = nullptr;

const char* kFineTuning = "protocol = \"fine-tuning\"\nm = 2\n";
const char* kMid = "protocol = \"mid-training\"\nrho = 0.5\nalpha = 1.0\n";

// train.tensorboard writes one more file and changes no number: recorded in
// the description when set, never part of the run's id.
TEST_F(RunConfigTest, TensorBoardIsOutsideTheRunId) {
  const RunConfig plain = load(config(kMid));
  const RunConfig on = load(config(kMid), {"train.tensorboard=true"});
  EXPECT_TRUE(on.settings.train.tensorboard);
  EXPECT_FALSE(plain.settings.train.tensorboard);
  EXPECT_EQ(on.content_hash, plain.content_hash);
  EXPECT_EQ(on.resolved["train"]["tensorboard"], true);
  EXPECT_FALSE(plain.resolved["train"].contains("tensorboard"));
  EXPECT_EQ(load(config(kMid), {"train.tensorboard=false"}).resolved, plain.resolved);
  EXPECT_THROW(load(config(kMid), {"train.tensorboard=1"}), Error);
}

// Optimizer sharding is an execution detail (run/settings.h): recorded in
// config.json when on, absent when off, never part of the run's id.
TEST_F(RunConfigTest, ShardingTheOptimizerKeepsTheRunId) {
  const RunConfig plain = load(config(kMid));
  const RunConfig sharded = load(config(kMid), {"train.shard_optimizer=true"});
  EXPECT_EQ(sharded.content_hash, plain.content_hash);
  EXPECT_TRUE(sharded.settings.train.shard_optimizer);
  EXPECT_EQ(sharded.resolved["train"]["shard_optimizer"], true);
  EXPECT_FALSE(plain.resolved["train"].contains("shard_optimizer"));
  EXPECT_NE(load(config(kMid), {"optim.weight_decay=0.2"}).content_hash, plain.content_hash);  // a key that counts
}

TEST_F(RunConfigTest, FineTuningIdIgnoresKeysThatDoNotApply) {
  const RunConfig a = load(config(kFineTuning));
  const RunConfig b = load(config(kFineTuning, "[optim]\nlr = 0.01\n[lr_schedule]\nkind = \"wsd\"\n"));
  EXPECT_EQ(a.content_hash, b.content_hash);
  EXPECT_FALSE(a.resolved.contains("lr_schedule"));
  EXPECT_FALSE(a.resolved["optim"].contains("lr"));
  ASSERT_EQ(b.warnings.size(), 1u);
  EXPECT_NE(b.warnings[0].find("do not apply"), std::string::npos);
  // What does apply changes the id.
  EXPECT_NE(load(config(kFineTuning, "[schedule.finetune]\nlr = 0.001\n")).content_hash, a.content_hash);
  EXPECT_NE(load(config(kFineTuning), {"optim.weight_decay=0.2"}).content_hash, a.content_hash);
  // The base LR drives mid-training: there it is part of the id.
  const RunConfig m = load(config(kMid));
  EXPECT_NE(load(config(kMid, "[optim]\nlr = 0.01\n")).content_hash, m.content_hash);
  EXPECT_EQ(m.resolved["lr_schedule"]["kind"], "cosine");
  EXPECT_TRUE(m.warnings.empty());
}

TEST_F(RunConfigTest, TargetIdentityComesFromTheStore) {
  const RunConfig m = load(config(kMid));
  ASSERT_NE(m.target(), nullptr);
  EXPECT_EQ(m.target()->name, "math");
  EXPECT_EQ(m.target()->domain, "math");
  EXPECT_EQ(m.target()->manifest_hash, m.resolved["data"]["sources"]["math"]["manifest_xxh128"]);
}

TEST_F(RunConfigTest, OutIsRequiredToResolve) {
  const std::string text = config(kMid);
  const std::string no_out = text.substr(text.find('\n', text.find("out =")) + 1);
  try {
    load(no_out);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("out: missing"), std::string::npos) << e.what();
  }
}

// Sources may come from different manifests: each store's largest token id
// must fit the model's vocabulary, not just the first store's.
TEST_F(RunConfigTest, StoreWithTokenIdsBeyondTheModelVocabularyIsRefused) {
  for (const char* name : {"generic", "math"})
    std::filesystem::copy(stores_->path / name, tmp_.path / name);
  store_surgery::edit_manifest_json(tmp_.path / "math", [](nlohmann::json& j) {
    j["tokenizer"]["vocab_size"] = 300;
    j["splits"]["train"]["max_token_id"] = 280;
  });
  std::string text = config(kMid);
  for (const char* name : {"generic", "math"}) {
    const std::string from = (stores_->path / name).string(), to = (tmp_.path / name).string();
    text.replace(text.find(from), from.size(), to);
  }
  try {
    load(text);  // the model's vocabulary comes from the first source, generic: 256
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("data.sources.math.store: token store '" + (tmp_.path / "math").string() +
                       "' holds token id 280, but model.vocab_size is 256"),
              std::string::npos)
        << msg;
  }
}

// The cadence decides which steps evaluate; the state key of step s changes
// exactly when the evaluations up to s change.
TEST_F(RunConfigTest, StateKeysFollowTheCadence) {
  const RunConfig every4 = load(config(kMid));
  const RunConfig every8 = load(config(kMid), {"eval.every=8"});
  const Cadence c4(every4), c8(every8);
  for (int64_t s = 1; s <= 16; ++s) {
    bool same_evals = true;
    for (int64_t d = 1; d <= s; ++d) same_evals = same_evals && c4.evaluates_after(d) == c8.evaluates_after(d);
    EXPECT_EQ(state_key(every4, s) == state_key(every8, s), same_evals) << "step " << s;
  }
  EXPECT_EQ(state_key(every4, 3), state_key(every8, 3));
  EXPECT_NE(state_key(every4, 4), state_key(every8, 4));
  // Phase ends and the run's end always evaluate and checkpoint.
  EXPECT_TRUE(c8.evaluates_after(16));
  EXPECT_TRUE(c8.checkpoints_after(16));
  EXPECT_FALSE(c8.publishes_after(8));
  const RunConfig ft = load(config(kFineTuning));
  const Cadence cft(ft);
  const int64_t boundary = ft.plan.phases[1].first_step;
  EXPECT_TRUE(cft.publishes_after(boundary));  // others may start fine-tuning there
  EXPECT_TRUE(cft.evaluates_after(boundary));
  EXPECT_EQ(*cft.reset_starts().begin(), boundary);
}

std::vector<schedule::SequenceRef> whole_stream(const RunConfig& c) {
  std::vector<schedule::SequenceRef> out(static_cast<size_t>(c.plan.mixture->num_positions()));
  c.plan.mixture->fill(0, out);
  return out;
}

std::set<int64_t> indices_of(const std::vector<schedule::SequenceRef>& v, int32_t source) {
  std::set<int64_t> out;
  for (const auto& r : v)
    if (r.source == source) out.insert(r.index);
  return out;
}

// [seeds] that agree with `seed` are the run the config always was: same
// resolved text, same id, same state keys.
TEST_F(RunConfigTest, SeedStreamsEqualToSeedKeepTheRunId) {
  const RunConfig plain = load(config(kMid));
  const RunConfig spelled = load(config(kMid, "[seeds]\ninit = 5\ndata = 5\npool = 5\n"));
  EXPECT_EQ(spelled.resolved.dump(), plain.resolved.dump());
  EXPECT_EQ(spelled.content_hash, plain.content_hash);
  EXPECT_EQ(state_key(spelled, 16), state_key(plain, 16));
  EXPECT_EQ(plain.resolved["seed"], 5);
  EXPECT_FALSE(plain.resolved.contains("seeds"));
}

// Each seed changes its own stream only, and a state key holds exactly the
// seeds that shaped the state: the init seed itself, the data and pool seeds
// through the batches of each step.
TEST_F(RunConfigTest, SeedsChangeOnlyWhatTheyShould) {
  const RunConfig plain = load(config(kMid));
  const int32_t math = plain.plan.target;
  ASSERT_GE(math, 0);
  ASSERT_LT(plain.plan.mixture->pool_size(math), plain.sources[static_cast<size_t>(math)].train_sequences);
  const auto base = whole_stream(plain);

  const RunConfig data = load(config(kMid), {"seeds.data=6"});
  EXPECT_NE(data.content_hash, plain.content_hash);
  EXPECT_NE(whole_stream(data), base);
  EXPECT_EQ(indices_of(whole_stream(data), math), indices_of(base, math));  // the same pool
  EXPECT_EQ(state_key(data, 0), state_key(plain, 0));  // same initial weights
  EXPECT_NE(state_key(data, 16), state_key(plain, 16));

  const RunConfig init = load(config(kMid), {"seeds.init=6"});
  EXPECT_NE(init.content_hash, plain.content_hash);
  EXPECT_EQ(whole_stream(init), base);
  EXPECT_EQ(step_signatures(init, 16), step_signatures(plain, 16));
  EXPECT_NE(state_key(init, 0), state_key(plain, 0));

  const RunConfig pool = load(config(kMid), {"seeds.pool=6"});
  const auto pooled = whole_stream(pool);
  EXPECT_NE(pool.content_hash, plain.content_hash);
  EXPECT_NE(indices_of(pooled, math), indices_of(base, math));
  for (size_t i = 0; i < base.size(); ++i) {
    ASSERT_EQ(pooled[i].source, base[i].source) << "position " << i;
    if (pooled[i].source != math) {
      ASSERT_EQ(pooled[i].index, base[i].index) << "position " << i;
    }
  }
  EXPECT_EQ(state_key(pool, 0), state_key(plain, 0));
  EXPECT_NE(state_key(pool, 16), state_key(plain, 16));
}

}  // namespace
}  // namespace replay::run
