// The memory plan against the spec's numbers for an 8B fine-tune (16 bytes
// per parameter = 128.5 GB at the paper's precision; an H200 only with
// per-layer activation checkpointing; an H100 only with bf16 state or the
// optimizer state offloaded), and `replay model memory` on a Llama-3.1-8B
// config.json.
#include <gtest/gtest.h>

#include <fstream>

#include "model/memory_plan.h"
#include "replay_cli.h"
#include "temp_dir.h"

using namespace replay::model;

namespace {

const FitWay& way(const std::vector<FitWay>& ways, const std::string& name) {
  for (const auto& w : ways)
    if (w.name == name) return w;
  throw std::runtime_error("no way named " + name);
}

// Llama-3.1-8B's config.json as Meta publishes it (the fields we read).
const char* kLlama31_8b = R"({
  "architectures": ["LlamaForCausalLM"], "hidden_size": 4096, "intermediate_size": 14336,
  "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256,
  "max_position_embeddings": 131072, "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
  "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "tie_word_embeddings": false, "torch_dtype": "bfloat16", "model_type": "llama"})";

}  // namespace

TEST(MemoryPlan, EightBillionAtThePapersPrecision) {
  const ModelConfig c = preset("llama-3.1-8b");
  MemoryPlanOptions o;  // microbatch 1 x 4096, bf16 compute, fp32 state
  const MemoryBreakdown m = plan_memory(c, o);
  const double state = m.weights + m.gradients + m.optimizer;
  EXPECT_NEAR(state / 1e9, 128.5, 0.05);
  EXPECT_DOUBLE_EQ(state, 16.0 * static_cast<double>(count_params(c).total));

  const auto h200 = ways_to_fit(c, o, 141e9);
  EXPECT_FALSE(way(h200, "as configured").fits);
  EXPECT_TRUE(way(h200, "activation checkpointing").fits);
  const auto h100 = ways_to_fit(c, o, 80e9);
  EXPECT_FALSE(way(h100, "as configured").fits);
  EXPECT_FALSE(way(h100, "activation checkpointing").fits);
  EXPECT_TRUE(way(h100, "bf16 weights and moments + activation checkpointing").fits);
  EXPECT_TRUE(way(h100, "optimizer state offloaded to the host + activation checkpointing").fits);
  EXPECT_NEAR(plan_memory(c, way(h100, "bf16 weights and moments").options).weights /
                  static_cast<double>(count_params(c).total),
              2.0, 1e-12);
}

// ZeRO-1 (train.shard_optimizer): only the moments divide by the ranks; an
// 8B fine-tune at the paper's precision then fits 8 x 80 GB with
// activation checkpointing (72.3 GB of state per rank), not without.
TEST(MemoryPlan, ShardingDividesTheMomentsByTheRanks) {
  const ModelConfig c = preset("llama-3.1-8b");
  const double p = static_cast<double>(count_params(c).total);
  for (int64_t ranks : {2, 4, 8}) {
    MemoryPlanOptions o;
    o.ranks = ranks;
    o.shard_optimizer = true;
    const MemoryBreakdown m = plan_memory(c, o);
    EXPECT_DOUBLE_EQ(m.weights, 4.0 * p);
    EXPECT_DOUBLE_EQ(m.gradients, 4.0 * p);
    EXPECT_DOUBLE_EQ(m.optimizer, 8.0 * p / static_cast<double>(ranks));
    o.shard_optimizer = false;  // ranks alone shard nothing
    EXPECT_DOUBLE_EQ(plan_memory(c, o).optimizer, 8.0 * p);
  }
  MemoryPlanOptions eight;
  eight.ranks = 8;
  const auto h100 = ways_to_fit(c, eight, 80e9);
  EXPECT_TRUE(way(h100, "optimizer sharded across 8 ranks + activation checkpointing").fits);
  eight.shard_optimizer = true;
  EXPECT_FALSE(way(ways_to_fit(c, eight, 80e9), "as configured").fits);  // activations: 4096 tokens, kept
}

TEST(MemoryPlan, CheckpointingKeepsOneInputPerLayer) {
  const ModelConfig c = preset("gpt2-124m");
  const double full = activation_floats_per_token(c, 1024, true, false);
  const double kept = activation_floats_per_token(c, 1024, true, true);
  EXPECT_LT(kept * 3, full);  // 12 layers: ~3.9x fewer floats kept
  const double per_layer = (full - 4.0 * static_cast<double>(c.dim)) / static_cast<double>(c.n_layers);
  EXPECT_DOUBLE_EQ(kept,
                   static_cast<double>(c.n_layers * c.dim) + 2.5 * per_layer + 4.0 * static_cast<double>(c.dim));
}

TEST(MemoryPlan, CommandReadsAHuggingFaceConfigAndSaysWhatFits) {
  TempDir dir("memory_plan");
  std::ofstream(dir.path / "config.json") << kLlama31_8b;
  const CliResult r = run_replay("model memory " + dir.path.string());
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("= state              128.5 GB (16.0 bytes/parameter)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("on a 141 GB device:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("on a 80 GB device:"), std::string::npos) << r.out;
  const size_t h200 = r.out.find("on a 141 GB device:");
  const size_t line = r.out.find("activation checkpointing ", h200);
  ASSERT_NE(line, std::string::npos);
  EXPECT_NE(r.out.substr(line, r.out.find('\n', line) - line).find(" fits"), std::string::npos) << r.out;
}

TEST(MemoryPlan, CommandPrintsOneRanksPlanWithTheMomentsSharded) {
  const CliResult r = run_replay("model memory llama-3.1-8b --ranks 8 --shard-optimizer --checkpointing --device-gb 80");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("8 rank(s), AdamW moments sharded across the ranks"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  gradients             32.1 GB"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  AdamW moments          8.0 GB"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("= state               72.3 GB (9.0 bytes/parameter)"), std::string::npos) << r.out;
  const size_t line = r.out.find("  as configured");
  ASSERT_NE(line, std::string::npos) << r.out;
  EXPECT_NE(r.out.substr(line, r.out.find('\n', line) - line).find(" fits"), std::string::npos) << r.out;

  const CliResult alone = run_replay("model memory llama-3.1-8b --shard-optimizer");
  EXPECT_EQ(alone.status, 2) << alone.out;
  EXPECT_NE(alone.out.find("--ranks of 2 or more"), std::string::npos) << alone.out;
}
