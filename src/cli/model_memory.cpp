// `replay model memory MODEL`: the bytes training a model needs on one
// device, term by term (model/memory_plan.h), and which of the standard ways
// make it fit given device sizes. MODEL is a preset, a Hugging Face
// config.json or a folder holding one. With --ranks N --shard-optimizer the
// plan is one rank's of N sharing the AdamW moments (train.shard_optimizer).
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/command.h"
#include "model/config.h"
#include "model/memory_plan.h"
#include "util/error.h"
#include "util/fs.h"

namespace {

namespace stdfs = std::filesystem;
using replay::model::ModelConfig;

struct MemoryArgs {
  std::string model;
  int64_t microbatch = 1;
  int64_t seq = 0;
  std::string compute = "bf16", state = "fp32";
  int64_t ranks = 1;
  bool checkpointing = false;
  bool shard_optimizer = false;
  std::vector<double> device_gb = {80, 141};
};

ModelConfig model_named(const std::string& what) {
  stdfs::path file = what;
  if (stdfs::is_directory(file)) file /= "config.json";
  if (stdfs::is_regular_file(file)) return replay::model::from_hf_config_json(replay::fs::read_file(file), file.string());
  return replay::model::preset(what);
}

double gb(double bytes) { return bytes / 1e9; }

void print_breakdown(const replay::model::MemoryBreakdown& m, double params) {
  const double state = m.weights + m.gradients + m.optimizer;
  std::printf("  weights          %9.1f GB\n", gb(m.weights));
  std::printf("  gradients        %9.1f GB\n", gb(m.gradients));
  std::printf("  AdamW moments    %9.1f GB\n", gb(m.optimizer));
  std::printf("  = state          %9.1f GB (%.1f bytes/parameter)\n", gb(state), state / params);
  std::printf("  activations      %9.1f GB\n", gb(m.activations));
  std::printf("  loss chunk       %9.1f GB\n", gb(m.loss));
  std::printf("  total            %9.1f GB\n", gb(m.total()));
}

void run(const MemoryArgs& a) {
  const ModelConfig c = model_named(a.model);
  replay::model::MemoryPlanOptions o;
  o.microbatch = a.microbatch;
  o.seq_len = a.seq > 0 ? a.seq : std::min<int64_t>(c.max_seq_len, 4096);
  o.bf16_compute = a.compute == "bf16";
  o.bf16_state = a.state == "bf16";
  o.checkpointing = a.checkpointing;
  o.ranks = a.ranks;
  o.shard_optimizer = a.shard_optimizer;
  const double params = static_cast<double>(replay::model::count_params(c).total);
  std::printf("memory plan for %s: %.3g parameters, microbatch %lld x %lld tokens, %s compute, %s weights, "
              "gradients and moments%s, %lld rank(s)%s; GB = 10^9 bytes, one device (one rank)\n",
              a.model.c_str(), params, static_cast<long long>(o.microbatch), static_cast<long long>(o.seq_len),
              a.compute.c_str(), a.state.c_str(), o.checkpointing ? ", activation checkpointing" : "",
              static_cast<long long>(o.ranks), o.shard_optimizer ? ", AdamW moments sharded across the ranks" : "");
  print_breakdown(replay::model::plan_memory(c, o), params);
  for (double device : a.device_gb) {
    std::printf("on a %.0f GB device:\n", device);
    for (const auto& way : replay::model::ways_to_fit(c, o, device * 1e9))
      std::printf("  %-72s %7.1f GB  %s\n", way.name.c_str(), gb(way.memory.total()), way.fits ? "fits" : "does not fit");
  }
}

void setup(CLI::App& app) {
  CLI::App* model = app.get_subcommand("model");
  auto args = std::make_shared<MemoryArgs>();
  auto* cmd = model->add_subcommand(
      "memory", "Bytes of weights, gradients, optimizer state and activations for training a model on one "
                "device, and which standard ways (activation checkpointing, bf16 state, optimizer offloading "
                "or sharding) make it fit given device sizes");
  cmd->add_option("model", args->model, "Preset, Hugging Face config.json, or a folder holding one")->required();
  cmd->add_option("--microbatch", args->microbatch, "Sequences per forward/backward")->capture_default_str();
  cmd->add_option("--seq", args->seq, "Sequence length (default: min(max_seq_len, 4096))");
  cmd->add_option("--compute", args->compute, "Matmul dtype")->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();
  cmd->add_option("--state", args->state, "Weights, gradients and moments: fp32 (the paper) or bf16")
      ->check(CLI::IsMember({"fp32", "bf16"}))->capture_default_str();
  cmd->add_option("--ranks", args->ranks, "Data-parallel ranks (optimizer sharding divides the moments)")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_flag("--shard-optimizer", args->shard_optimizer,
                "Plan one rank of --ranks that share the AdamW moments (train.shard_optimizer, ZeRO-1)");
  cmd->add_flag("--checkpointing", args->checkpointing, "Per-layer activation checkpointing");
  cmd->add_option("--device-gb", args->device_gb, "Device sizes to plan for, in GB")->capture_default_str();
  cmd->callback([args] {
    if (args->shard_optimizer && args->ranks < 2)
      throw CLI::ValidationError("--shard-optimizer", "needs --ranks of 2 or more (one rank has nothing to share)");
    run(*args);
  });
}

}  // namespace

REPLAY_COMMAND(41, setup);  // after `model` (40), which it extends
