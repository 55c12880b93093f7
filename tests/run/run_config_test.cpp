// Resolution of whole runs against real (tiny) token stores: what is part of
// a run's identity and what is not, and that the key of a reusable state
// follows the cadence of the trainer.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace replay::run
