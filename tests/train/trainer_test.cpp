// The trainer in-process on the tiny model and tiny stores: accumulation
// equivalence, separate validation sets, NaN stop, corrupt-checkpoint
// fallback, shared-phase reuse and whole-config bad inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "error_of.h"
#include "replay_cli.h"
#include "model/hf_checkpoint.h"
#include "model/llama.h"
#include "model/threads.h"
#include "train/checkpoint.h"
#include "run/cadence.h"
#include "run/layout.h"
#include "run/run_config.h"
#include "run/state_key.h"
#include "text/byte_level.h"
#include "train/train_state.h"
#include "train/train_step.h"
#include "train/trainer.h"
#include "tiny_run.h"
#include "util/error.h"
#include "util/fs.h"

namespace replay::train {
namespace {

using run::RunConfig;
using run::load_run_config;

// Options of an in-process run without console output.
TrainOptions quiet(ResumeMode resume) {
  TrainOptions options;
  options.resume = resume;
  options.console = nullptr;
  return options;
}

// Stores are built once for the whole suite (the builder is the slow part).
class TrainerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    stores_ = new TempDir("stores");
    testing::make_store(stores_->path / "generic", "generic");
    testing::make_store(stores_->path / "math", "math");
    model::configure_threads(1);
  }
  static void TearDownTestSuite() {
    delete stores_;
    stores_ = nullptr;
  }
  static std::string store(const std::string& name) { return (stores_->path / name).string(); }

  // Two sources, mid-training (mixture switches at the paper boundary).
  std::string mid_training_config(const std::string& out, const std::string& extra = "") {
    return "seed = 5\nout = \"" + out + "\"\nthreads = 1\n" +
           "[model]\npreset = \"tiny\"\n"
           "[data.sources.generic]\nstore = \"" + store("generic") + "\"\n"
           "[data.sources.math]\nstore = \"" + store("math") + "\"\n"
           "[schedule]\nprotocol = \"mid-training\"\ntarget = \"math\"\ngeneric = \"generic\"\n"
           "f = 0.0625\ne = 4\nrho = 0.5\nalpha = 1.0\nblock_size = 8\n"
           "[train]\nsteps = 16\nbatch_size = 8\nmicrobatch = 4\n"
           "[optim]\nlr = 3e-3\n[lr_schedule]\nkind = \"wsd\"\n"
           "[eval]\nevery = 4\nsequences = 8\n[checkpoint]\nevery = 2\nkeep = 3\n" + extra;
  }

  RunConfig load(const std::string& text, const std::vector<std::string>& overrides = {}) {
    stdfs::path file = tmp_.path / "run.toml";
    testing::write_text(file, text);
    return load_run_config(file, overrides);
  }

  TempDir tmp_{"run"};
  static TempDir* stores_;
};
TempDir* TrainerTest::stores_ = nullptr;

// Whether two models hold bit-identical weights.
bool same_weights(model::Llama& a, model::Llama& b) {
  const auto pa = a->named_parameters(), pb = b->named_parameters();
  if (pa.size() != pb.size()) return false;
  for (const auto& item : pa)
    if (!torch::equal(item.value(), pb[item.key()])) return false;
  return true;
}

std::vector<schedule::SequenceRef> whole_stream(const RunConfig& c) {
  std::vector<schedule::SequenceRef> out(static_cast<size_t>(c.plan.mixture->num_positions()));
  c.plan.mixture->fill(0, out);
  return out;
}

// Each seed stream changes its own randomness only: the data and pool seeds
// leave the initial weights bit for bit, the init seed leaves every sequence
// index of the stream.
TEST_F(TrainerTest, SeedsChangeOnlyWhatTheyShould) {
  const std::string out = (tmp_.path / "out").string();
  const RunConfig plain = load(mid_training_config(out));
  const RunConfig data = load(mid_training_config(out), {"seeds.data=6"});
  const RunConfig pool = load(mid_training_config(out), {"seeds.pool=6"});
  const RunConfig init = load(mid_training_config(out), {"seeds.init=6"});
  model::Llama w = initial_model(plain), w_data = initial_model(data), w_pool = initial_model(pool),
               w_init = initial_model(init);
  EXPECT_TRUE(same_weights(w, w_data));
  EXPECT_TRUE(same_weights(w, w_pool));
  EXPECT_FALSE(same_weights(w, w_init));
  EXPECT_EQ(whole_stream(init), whole_stream(plain));
  EXPECT_NE(whole_stream(data), whole_stream(plain));
  EXPECT_NE(whole_stream(pool), whole_stream(plain));
}

TEST_F(TrainerTest, AccumulationMatchesFullBatch) {
  model::ModelConfig c = model::preset("tiny");
  torch::manual_seed(0);
  model::Llama full(c);
  torch::manual_seed(0);
  model::Llama accum(c);
  auto tokens = torch::randint(0, c.vocab_size, {8, 32}, torch::kInt64);
  double loss_full = accumulate_gradients(full, tokens, 8);
  double loss_accum = accumulate_gradients(accum, tokens, 2);
  EXPECT_NEAR(loss_full, loss_accum, 1e-6 * std::abs(loss_full));
  auto a = full->named_parameters();
  auto b = accum->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    const auto& ga = a[i].value().grad();
    const auto& gb = b[i].value().grad();
    ASSERT_TRUE(ga.defined() && gb.defined()) << a[i].key();
    EXPECT_TRUE(torch::allclose(ga, gb, 1e-4, 1e-7))
        << a[i].key() << " max diff " << (ga - gb).abs().max().item<double>();
  }
}

TEST_F(TrainerTest, RunsEvaluatesEachSourceSeparatelyAndCheckpoints) {
  RunConfig cfg = load(mid_training_config((tmp_.path / "out").string()));
  ASSERT_EQ(cfg.plan.phases.size(), 1u);
  TrainResult r = train(cfg, quiet(ResumeMode::automatic));
  EXPECT_EQ(r.steps, 16);
  EXPECT_EQ(r.steps_run, 16);
  auto m = testing::read_metrics(tmp_.path / "out" / "metrics.jsonl");
  ASSERT_EQ(m.steps.size(), 16u);
  for (size_t i = 0; i < m.steps.size(); ++i) EXPECT_EQ(m.steps[i].step, static_cast<int64_t>(i + 1));
  EXPECT_LT(m.steps.back().loss, m.steps.front().loss);  // it learns something
  ASSERT_EQ(m.evals.size(), 4u);                         // steps 4, 8, 12, 16
  for (const auto& e : m.evals) {
    ASSERT_EQ(e["val"].size(), 2u);
    EXPECT_TRUE(e["val"].contains("generic"));
    EXPECT_TRUE(e["val"].contains("math"));
    EXPECT_NE(e["val"]["generic"].get<double>(), e["val"]["math"].get<double>());
  }
  EXPECT_EQ(m.evals.back()["step"], 16);
  EXPECT_EQ(m.evals.back()["tokens"], 16 * 8 * 32);
  EXPECT_DOUBLE_EQ(m.evals.back()["val"]["math"].get<double>(), r.final_eval.at("math"));
  // The final evaluation per sequence: one loss per validation sequence,
  // averaging to the recorded loss.
  auto seqs = nlohmann::json::parse(replay::fs::read_file(tmp_.path / "out" / replay::run::kValSequencesFile));
  EXPECT_EQ(seqs["step"], 16);
  for (const char* split : {"math", "generic"}) {
    const auto losses = seqs["splits"][split].get<std::vector<double>>();
    ASSERT_GT(losses.size(), 1u) << split;
    double sum = 0;
    for (double l : losses) sum += l;
    EXPECT_NEAR(sum / losses.size(), r.final_eval.at(split), 1e-4) << split;
    EXPECT_NE(losses.front(), losses.back()) << split;
  }
  // keep = 3 of checkpoints at 2, 4, ..., 16.
  auto ckpts = list_checkpoints(tmp_.path / "out" / "checkpoints");
  ASSERT_EQ(ckpts.size(), 3u);
  EXPECT_EQ(ckpts[0].filename(), "step-000000016");
  for (const auto& c : ckpts) EXPECT_EQ(verify_checkpoint(c), "");
  EXPECT_TRUE(stdfs::exists(tmp_.path / "out" / "config.json"));
  EXPECT_TRUE(stdfs::exists(tmp_.path / "out" / "summary.json"));

  // A corrupt newest checkpoint: reported, set aside, and the run redoes the
  // steps after the previous good one with the very same losses.
  auto newest = ckpts[0];
  {
    std::fstream f(newest / kWeightsFile, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(2000);
    f.put('\x55');
  }
  TrainResult again = train(cfg, quiet(ResumeMode::automatic));
  ASSERT_TRUE(again.resumed_from);
  EXPECT_EQ(*again.resumed_from, 14);
  EXPECT_EQ(again.steps_run, 2);
  auto m2 = testing::read_metrics(tmp_.path / "out" / "metrics.jsonl");
  ASSERT_EQ(m2.steps.size(), 16u);
  for (size_t i = 0; i < 16; ++i) EXPECT_EQ(m2.steps[i].loss, m.steps[i].loss) << "step " << i + 1;
  EXPECT_EQ(m2.evals.back()["val"], m.evals.back()["val"]);
  EXPECT_TRUE(stdfs::exists(tmp_.path / "out" / "checkpoints" / "step-000000016.corrupt"));
  // A finished run has nothing left to do.
  EXPECT_EQ(train(cfg, quiet(ResumeMode::automatic)).steps_run, 0);
}

TEST_F(TrainerTest, NonFiniteLossStopsWithCheckpointIntact) {
  RunConfig cfg = load(mid_training_config((tmp_.path / "out").string()),
                       {"optim.lr=1e30", "checkpoint.every=1", "lr_schedule.kind=\"constant\""});
  try {
    train(cfg, quiet(ResumeMode::automatic));
    FAIL() << "training with lr 1e30 did not stop";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("training stopped"), std::string::npos) << msg;
    EXPECT_NE(msg.find("last good checkpoint"), std::string::npos) << msg;
    EXPECT_NE(msg.find("Lower optim.lr (now 1e+30"), std::string::npos) << msg;  // the LR in effect
  }
  auto m = testing::read_metrics(tmp_.path / "out" / "metrics.jsonl");
  ASSERT_EQ(m.other.size(), 1u);
  EXPECT_EQ(m.other[0]["kind"], "stop");
  const int64_t stopped = m.other[0]["step"].get<int64_t>();
  auto good = latest_good_checkpoint(tmp_.path / "out" / "checkpoints", [](const std::string&) {});
  ASSERT_TRUE(good);
  EXPECT_EQ(good->state.step, stopped - 1);
  for (const auto& s : m.steps) EXPECT_TRUE(std::isfinite(s.loss));
}

TEST_F(TrainerTest, FineTuningSharesItsPretrainingPhase) {
  // N = 16, B = 8, pool = f N B = 8 sequences (one batch), e = 4, m = 2:
  // fine-tuning n_FT = 1 * 4 * 2 = 8 steps after 8 steps of pre-training.
  auto config = [&](const std::string& out, double ft_lr) {
    return "seed = 5\nout = \"" + out + "\"\nthreads = 1\nshared = \"" +
           (tmp_.path / "shared").string() + "\"\n" +
           "[model]\npreset = \"tiny\"\n"
           "[data.sources.generic]\nstore = \"" + store("generic") + "\"\n"
           "[data.sources.math]\nstore = \"" + store("math") + "\"\n"
           "[schedule]\nprotocol = \"fine-tuning\"\ntarget = \"math\"\ngeneric = \"generic\"\n"
           "f = 0.0625\ne = 4\nm = 2\nblock_size = 8\n"
           "[schedule.finetune]\nlr = " + std::to_string(ft_lr) + "\n"
           "[train]\nsteps = 16\nbatch_size = 8\n"
           "[eval]\nevery = 4\nsequences = 4\n[checkpoint]\nevery = 5\n";
  };
  RunConfig a = load(config((tmp_.path / "a").string(), 3e-4));
  ASSERT_EQ(a.plan.phases.size(), 2u);
  ASSERT_TRUE(a.plan.phases[1].reset_optimizer);
  const int64_t boundary = a.plan.phases[1].first_step;
  TrainResult ra = train(a, quiet(ResumeMode::automatic));
  EXPECT_FALSE(ra.branched_at);
  EXPECT_EQ(ra.steps_run, 16);

  RunConfig b = load(config((tmp_.path / "b").string(), 1e-3));
  EXPECT_NE(a.content_hash, b.content_hash);
  TrainResult rb = train(b, quiet(ResumeMode::automatic));
  ASSERT_TRUE(rb.branched_at);
  EXPECT_EQ(*rb.branched_at, boundary);
  EXPECT_EQ(rb.steps_run, 16 - boundary);
  auto ma = testing::read_metrics(tmp_.path / "a" / "metrics.jsonl");
  auto mb = testing::read_metrics(tmp_.path / "b" / "metrics.jsonl");
  ASSERT_EQ(ma.steps.size(), 16u);
  ASSERT_EQ(mb.steps.size(), 16u);
  for (int64_t i = 0; i < boundary; ++i) EXPECT_EQ(ma.steps[i].loss, mb.steps[i].loss);
  EXPECT_NE(ma.steps[boundary + 1].loss, mb.steps[boundary + 1].loss);  // other fine-tuning LR
  EXPECT_EQ(ma.steps[boundary].phase, mb.steps[boundary].phase);

  // A NaN in fine-tuning names the key of the LR in effect, not optim.lr.
  RunConfig c = load(config((tmp_.path / "c").string(), 1e30));
  try {
    train(c, quiet(ResumeMode::automatic));
    FAIL() << "fine-tuning with lr 1e30 did not stop";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Lower schedule.finetune.lr (now 1e+30"), std::string::npos) << e.what();
  }
}

// The trainer evaluates and checkpoints exactly where the run layer's cadence
// says (the cadence prefix sharing hashes into its state keys).
TEST_F(TrainerTest, EvaluatesAndCheckpointsAsTheCadenceSays) {
  RunConfig cfg = load(mid_training_config((tmp_.path / "out").string()),
                       {"eval.every=3", "checkpoint.every=5", "checkpoint.keep=100"});
  train(cfg, quiet(ResumeMode::never));
  const run::Cadence cadence(cfg);
  std::vector<int64_t> evals, expected_evals, checkpoints, expected_checkpoints;
  for (const auto& e : testing::read_metrics(tmp_.path / "out" / "metrics.jsonl").evals)
    evals.push_back(e["step"].get<int64_t>());
  for (const auto& entry : stdfs::directory_iterator(tmp_.path / "out" / "checkpoints"))
    checkpoints.push_back(std::stoll(entry.path().filename().string().substr(5)));
  std::sort(checkpoints.begin(), checkpoints.end());
  for (int64_t d = 1; d <= cfg.settings.train.steps; ++d) {
    if (cadence.evaluates_after(d)) expected_evals.push_back(d);
    if (cadence.checkpoints_after(d)) expected_checkpoints.push_back(d);
  }
  EXPECT_EQ(evals, expected_evals);
  EXPECT_EQ(checkpoints, expected_checkpoints);
  EXPECT_GT(expected_evals.size(), 5u);  // every 3 steps plus the stage and run ends
}

TEST_F(TrainerTest, WholeConfigBadInputsNameTheKey) {
  const std::string out = (tmp_.path / "out").string();
  auto expect_error = [&](const std::string& text, const std::vector<std::string>& overrides,
                          std::initializer_list<const char*> needles) {
    try {
      load(text, overrides);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      for (const char* n : needles) {
        EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << n << " not in: " << e.what();
      }
    }
  };
  std::string good = mid_training_config(out);
  expect_error(good, {"model.n_kv_heads=3"}, {"run.toml", "n_kv_heads"});
  expect_error(good, {"data.sources.math.store=\"/nonexistent/store\""},
               {"run.toml", "data.sources.math.store", "/nonexistent/store"});
  expect_error(good, {"train.microbatch=3"}, {"train.microbatch", "does not divide"});
  expect_error(good, {"model.preset=\"llama-3.1-8b\"", "train.microbatch=8"}, {"MiB", "train.microbatch"});
  expect_error(good, {"model.max_seq_len=16"}, {"max_seq_len"});
  expect_error(good, {"optim.momentum=0.9"}, {"optim.momentum", "unknown"});
  // Everything resolved: defaults present, hash independent of `out`.
  RunConfig a = load(good);
  RunConfig b = load(good, {"out=\"elsewhere\"", "threads=2"});
  EXPECT_EQ(a.content_hash, b.content_hash);
  RunConfig c = load(good, {"optim.weight_decay=0.2"});
  EXPECT_NE(a.content_hash, c.content_hash);
  // The device index does not change the experiment; its type and the
  // compute dtype do.
  EXPECT_EQ(load(good, {"device=\"cuda:1\""}).content_hash, load(good, {"device=\"cuda\""}).content_hash);
  EXPECT_NE(load(good, {"device=\"cuda\""}).content_hash, a.content_hash);
  EXPECT_NE(load(good, {"compute_dtype=\"bf16\""}).content_hash, a.content_hash);
  EXPECT_EQ(a.model.vocab_size, 256);
  EXPECT_EQ(a.model.max_seq_len, 32);
  EXPECT_EQ(a.resolved["optim"]["beta2"], 0.95);
  EXPECT_EQ(a.resolved["data"]["sources"].size(), 2u);
}

TEST_F(TrainerTest, Bf16ComputeAndCudaDevice) {
  // bf16 matmuls (fp32 parameters and optimizer): the run completes with
  // losses close to the fp32 run's. Without a GPU, device = "cuda" is
  // refused before anything is written.
  const std::string fp32_out = (tmp_.path / "fp32").string(), bf16_out = (tmp_.path / "bf16").string();
  train(load(mid_training_config(fp32_out), {"train.steps=4"}), quiet(ResumeMode::never));
  train(load(mid_training_config(bf16_out), {"train.steps=4", "compute_dtype=\"bf16\""}),
        quiet(ResumeMode::never));
  auto fp32 = testing::read_metrics(stdfs::path(fp32_out) / "metrics.jsonl");
  auto bf16 = testing::read_metrics(stdfs::path(bf16_out) / "metrics.jsonl");
  ASSERT_EQ(bf16.steps.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(bf16.steps[i].loss, fp32.steps[i].loss, 0.05) << i;
  EXPECT_NE(bf16.steps[3].loss, fp32.steps[3].loss);

  const std::string cuda_out = (tmp_.path / "cuda").string();
  if (torch::cuda::is_available()) {
    // On a GPU machine the same run trains there (TF32 matmuls may be on:
    // close to the CPU losses, not equal).
    train(load(mid_training_config(cuda_out), {"train.steps=4", "device=\"cuda\""}),
          quiet(ResumeMode::never));
    auto cuda = testing::read_metrics(stdfs::path(cuda_out) / "metrics.jsonl");
    ASSERT_EQ(cuda.steps.size(), 4u);
    for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(cuda.steps[i].loss, fp32.steps[i].loss, 1e-2) << i;
    return;
  }
  try {
    train(load(mid_training_config(cuda_out), {"device=\"cuda\""}), quiet(ResumeMode::never));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("device = \"cuda\""), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("run.toml"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(stdfs::exists(tmp_.path / "cuda" / "metrics.jsonl"));
}

}  // namespace
}  // namespace replay::train

namespace replay::train {
namespace {

// init_from a Hugging Face directory: the run starts from its weights, its
// checkpoint exports as a Hugging Face directory that re-imports to the very
// same model, and a directory of another architecture is refused by name.
TEST_F(TrainerTest, InitFromHuggingFaceDirectoryTrainsExportsAndReimports) {
  const stdfs::path hf_dir = tmp_.path / "hf";
  RunConfig plain = load(mid_training_config((tmp_.path / "plain").string()), {"train.steps=4"});
  model::ModelConfig big = plain.model;
  big.init_std = 0.3;  // far from the run's own init: the first loss shows which one trained
  torch::manual_seed(11);
  model::Llama source(big);
  model::write_hf_model_dir(source, hf_dir, {20000, torch::kBFloat16, {}});

  const std::string out = (tmp_.path / "from_hf").string();
  RunConfig cfg = load(mid_training_config(out), {"train.steps=4", "train.init_from=\"" + hf_dir.string() + "\""});
  train(plain, quiet(ResumeMode::never));
  train(cfg, quiet(ResumeMode::never));
  const auto from_hf = testing::read_metrics(stdfs::path(out) / "metrics.jsonl");
  const auto from_seed = testing::read_metrics(tmp_.path / "plain" / "metrics.jsonl");
  ASSERT_EQ(from_hf.steps.size(), 4u);
  EXPECT_GT(from_hf.steps[0].loss, from_seed.steps[0].loss + 1.0);

  LoadedModel trained = load_model_from(out);
  EXPECT_EQ(trained.weights.filename(), "step-000000004");
  EXPECT_FALSE(torch::equal(trained.model->embedding_weight(),
                            source->embedding_weight().to(torch::kBFloat16).to(torch::kFloat)));
  model::write_hf_model_dir(trained.model, tmp_.path / "export");
  model::Llama reimported = model::load_hf_model(tmp_.path / "export");
  const torch::Tensor tokens = torch::randint(256, {2, 32}, torch::kLong);
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(reimported->forward(tokens), trained.model->forward(tokens)));

  // The real `replay model export` on the run folder, in bf16 shards, with
  // the tokenizer its config names (the test stores have none: name one).
  const stdfs::path config_file = stdfs::path(out) / "config.json";
  auto run_config = nlohmann::json::parse(fs::read_file(config_file));
  // A byte-level tokenizer.json of exactly the 256 byte tokens (the tiny
  // model's vocabulary; export refuses a tokenizer with more ids).
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[text::bytes_to_byte_level(std::string(1, static_cast<char>(b)))] = b;
  const nlohmann::json tokenizer = {{"version", "1.0"},
                                    {"added_tokens", nlohmann::json::array()},
                                    {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}}},
                                    {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", nlohmann::json::array()}}}};
  fs::write_file_atomic(tmp_.path / "tok.json", tokenizer.dump());
  run_config["config"]["data"]["tokenizer"] = (tmp_.path / "tok.json").string();
  fs::write_file_atomic(config_file, run_config.dump(2));
  const stdfs::path cli_out = tmp_.path / "cli_export";
  const CliResult r = run_replay("model export " + out + " " + cli_out.string() + " --dtype bf16 --shard-size 20KB");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(fs::read_file(cli_out / "tokenizer.json"), fs::read_file(tmp_.path / "tok.json"));
  EXPECT_TRUE(stdfs::exists(cli_out / model::kHfIndexFile));
  model::Llama from_cli = model::load_hf_model(cli_out);
  for (const auto& item : trained.model->named_parameters())
    EXPECT_TRUE(torch::equal(from_cli->named_parameters()[item.key()],
                             item.value().to(torch::kBFloat16).to(torch::kFloat))) << item.key();
  EXPECT_NE(run_replay("model export " + out + " " + cli_out.string()).out.find("already exists"), std::string::npos);
  // `replay model info` reads a Hugging Face directory's config.json.
  const CliResult info = run_replay("model info " + cli_out.string());
  ASSERT_EQ(info.status, 0) << info.out;
  EXPECT_NE(info.out.find("dim 64, layers 2, heads 4 (kv 2, head_dim 16)"), std::string::npos) << info.out;

  // config.json of another architecture: refused, naming the file and key.
  model::ModelConfig other = big;
  other.rope_theta = 1234.0;
  fs::write_file_atomic(hf_dir / model::kHfConfigFile, model::to_hf_config_json(other));
  const std::string e = error_of([&] { train(load(mid_training_config(out), {"train.steps=4", "train.init_from=\"" + hf_dir.string() + "\""}), quiet(ResumeMode::never)); });
  EXPECT_NE(e.find("config.json"), std::string::npos) << e;
  EXPECT_NE(e.find("rope_theta"), std::string::npos) << e;
}

}  // namespace
}  // namespace replay::train

namespace replay::train {
namespace {

// The target sequence indices a run's plan feeds the trainer, in order.
std::vector<int64_t> target_stream(const RunConfig& cfg) {
  std::vector<int64_t> out;
  std::vector<schedule::SequenceRef> buf(static_cast<size_t>(cfg.settings.train.batch_size));
  for (const auto& phase : cfg.plan.phases)
    for (int64_t step = 0; step < phase.num_steps; ++step) {
      phase.data->batch(step, buf);
      for (const auto& r : buf)
        if (r.source == cfg.plan.target) out.push_back(r.index);
    }
  return out;
}

}  // namespace

// continued-pretraining end to end: `replay train` from a tiny run's
// checkpoint (init_from) for rho = 0 and rho = 0.5. train.steps is derived
// (T = 4: 4 and 8 steps), both runs read the same 32 target sequences in the
// same order, and they share no training state from step 1 on.
TEST_F(TrainerTest, ContinuedPretrainingFromACheckpointSameTargetStreamForEveryRho) {
  const stdfs::path pretrained = tmp_.path / "pretrained";
  train(load(mid_training_config(pretrained.string()), {"train.steps=4"}), quiet(ResumeMode::never));
  auto config = [&](const std::string& name, const std::string& rho) {
    const stdfs::path file = tmp_.path / (name + ".toml");
    testing::write_text(file, "seed = 5\nout = \"" + (tmp_.path / name).string() + "\"\nthreads = 1\n" +
                                  "[model]\npreset = \"tiny\"\n"
                                  "[data.sources.generic]\nstore = \"" + store("generic") + "\"\n"
                                  "[data.sources.math]\nstore = \"" + store("math") + "\"\n"
                                  "[schedule]\nprotocol = \"continued-pretraining\"\ntarget = \"math\"\n"
                                  "generic = \"generic\"\ntarget_steps = 4\nrho = " + rho + "\n"
                                  "[train]\nbatch_size = 8\nmicrobatch = 4\ninit_from = \"" +
                                  pretrained.string() + "\"\n[optim]\nlr = 1e-5\n"
                                  "[lr_schedule]\nkind = \"cosine\"\nwarmup = 0.25\n"
                                  "[eval]\nevery = 0\nsequences = 8\n[checkpoint]\nevery = 0\n");
    return file;
  };
  const stdfs::path a = config("rho0", "0.0"), b = config("rho05", "0.5");
  const RunConfig ca = load_run_config(a, {}), cb = load_run_config(b, {});
  EXPECT_EQ(ca.settings.train.steps, 4);
  EXPECT_EQ(cb.settings.train.steps, 8);
  const std::vector<int64_t> ta = target_stream(ca), tb = target_stream(cb);
  EXPECT_EQ(ta.size(), 32u);
  EXPECT_EQ(ta, tb);
  EXPECT_NE(run::state_key(ca, 1), run::state_key(cb, 1));

  const CliResult plan = run_replay("plan " + b.string());
  EXPECT_EQ(plan.status, 0) << plan.out;
  EXPECT_NE(plan.out.find("protocol continued-pretraining"), std::string::npos) << plan.out;
  EXPECT_NE(plan.out.find("8 steps, target weight 0.500000, target exposure 32 sequences"), std::string::npos)
      << plan.out;
  for (const auto& [file, steps] : {std::pair{a, 4}, std::pair{b, 8}}) {
    const CliResult r = run_replay("train " + file.string());
    ASSERT_EQ(r.status, 0) << r.out;
    const auto metrics = testing::read_metrics(file.parent_path() / file.stem() / "metrics.jsonl");
    ASSERT_EQ(metrics.steps.size(), static_cast<size_t>(steps)) << r.out;
    EXPECT_EQ(metrics.steps.back().step, steps);
    EXPECT_EQ(metrics.steps.front().phase, "continued-pretraining");
    EXPECT_NE(r.out.find("initialized weights from " + pretrained.string()), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("(optimizer fresh)"), std::string::npos) << r.out;
  }
}

}  // namespace replay::train
