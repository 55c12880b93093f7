// Replay's Llama against an independent Python implementation of the Hugging
// Face Llama forward (tests/model/reference_llama.py, Debian's python3-torch),
// fed the safetensors file and config.json Replay writes.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "model/llama.h"
#include "model/safetensors.h"
#include "temp_dir.h"
#include "util/fs.h"

using namespace replay::model;
namespace stdfs = std::filesystem;

namespace {

constexpr const char* kPython = "/usr/bin/python3";

void check_against_reference(ModelConfig config, const std::string& name) {
  if (!stdfs::exists(kPython)) GTEST_SKIP() << kPython << " (Debian python3-torch) not found";
  // Larger weights than the 0.02 init: peaked attention and large logits,
  // so a wrong rotation, mask or head mapping cannot hide in the noise.
  config.init_std = 0.25;
  torch::manual_seed(123);
  Llama model(config);
  {
    torch::NoGradGuard no_grad;
    for (auto& item : model->named_parameters())
      if (item.key().find("norm") != std::string::npos) item.value().uniform_(0.5, 1.5);
  }
  const TempDir dir("oracle_" + name);
  save_safetensors(*model, dir.path / "model.safetensors", {{"format", "pt"}});
  replay::fs::write_file_atomic(dir.path / "config.json", to_hf_config_json(config));
  const torch::Tensor tokens = torch::randint(config.vocab_size, {2, config.max_seq_len}, torch::kLong);
  write_safetensors(dir.path / "tokens.safetensors", {{"tokens", tokens}});

  const std::string cmd = std::string(kPython) + " " + REPLAY_SOURCE_DIR +
                          "/tests/model/reference_llama.py " + dir.path.string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const auto ref = read_safetensors(dir.path / "reference.safetensors");
  ASSERT_EQ(ref.tensors.at(0).first, "logits");
  const torch::Tensor ref_logits = ref.tensors.at(0).second;  // float64
  const double ref_loss = ref.tensors.at(1).second.item<double>();

  torch::NoGradGuard no_grad;
  const torch::Tensor logits = model->forward(tokens).to(torch::kDouble);
  ASSERT_EQ(logits.sizes(), ref_logits.sizes());
  const double scale = ref_logits.abs().max().item<double>();
  const double worst = (logits - ref_logits).abs().max().item<double>() / scale;
  EXPECT_GT(scale, 1.0);  // the check is meaningful only with non-trivial logits
  std::printf("oracle %s: max |diff| / max |logit| = %.3g (max |logit| %.3g)\n", name.c_str(),
              worst, scale);
  EXPECT_LT(worst, 1e-4);
  // Element-wise too: every logit within 1e-4 relative (absolute floor 1e-4 x scale).
  EXPECT_TRUE(torch::allclose(logits, ref_logits, 1e-4, 1e-5 * scale));
  EXPECT_NEAR(model->loss(tokens).item<double>(), ref_loss, 1e-4 * ref_loss);
}

}  // namespace

TEST(Oracle, GroupedQueryAttention) { check_against_reference(preset("tiny"), "gqa"); }

TEST(Oracle, Llama3RopeScalingAndTiedEmbeddings) {
  ModelConfig c = preset("tiny");
  c.n_heads = 4;
  c.n_kv_heads = 1;
  c.rope_theta = 500000.0;
  // Short original context so low, medium and high frequencies all occur.
  c.rope_scaling = RopeScaling{8.0, 1.0, 4.0, 64};
  c.tie_embeddings = true;
  check_against_reference(c, "llama3");
}

TEST(Oracle, HeadDimDifferentFromDimOverHeads) {
  ModelConfig c = preset("tiny");
  c.head_dim = 24;
  c.n_heads = 2;
  c.n_kv_heads = 2;
  check_against_reference(c, "headdim");
}
