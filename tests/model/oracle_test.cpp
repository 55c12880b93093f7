// Replay's Llama against an independent Python implementation of the Hugging
// Face Llama forward (tests/model/reference_llama.py, Debian's python3-torch),
// fed the safetensors file and config.json Replay writes.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "model/hf_checkpoint.h"
#include "model/llama.h"
#include "model/safetensors.h"
#include "temp_dir.h"
#include "util/fs.h"

using namespace replay::model;
namespace stdfs = std::filesystem;

namespace {

constexpr const char* kPython = "/usr/bin/python3";

// Runs the reference on `dir` (config.json, weights, tokens.safetensors)
// and compares its logits and loss with `model`'s.
void compare_with_reference(Llama& model, const stdfs::path& dir, const torch::Tensor& tokens,
                            const std::string& name) {
  write_safetensors(dir / "tokens.safetensors", {{"tokens", tokens}});
  const std::string cmd = std::string(kPython) + " " + REPLAY_SOURCE_DIR +
                          "/tests/model/reference_llama.py " + dir.string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const auto ref = read_safetensors(dir / "reference.safetensors");
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

Llama large_random_model(ModelConfig config) {
  // Larger weights than the 0.02 init: peaked attention and large logits,
  // so a wrong rotation, mask or head mapping cannot hide in the noise.
  config.init_std = 0.25;
  torch::manual_seed(123);
  Llama model(config);
  torch::NoGradGuard no_grad;
  for (auto& item : model->named_parameters())
    if (item.key().find("norm") != std::string::npos) item.value().uniform_(0.5, 1.5);
  return model;
}

void check_against_reference(ModelConfig config, const std::string& name) {
  if (!stdfs::exists(kPython)) GTEST_SKIP() << kPython << " (Debian python3-torch) not found";
  Llama model = large_random_model(config);
  const TempDir dir("oracle_" + name);
  save_safetensors(*model, dir.path / "model.safetensors", {{"format", "pt"}});
  replay::fs::write_file_atomic(dir.path / "config.json", to_hf_config_json(config));
  const torch::Tensor tokens = torch::randint(config.vocab_size, {2, config.max_seq_len}, torch::kLong);
  compare_with_reference(model, dir.path, tokens, name);
}

// A Hugging Face directory (bf16 shards; config.json in transformers v5's
// rope_parameters form when `v5_config`) imported by Replay against the
// reference reading the same directory.
void check_import_against_reference(ModelConfig config, const std::string& name, bool v5_config) {
  if (!stdfs::exists(kPython)) GTEST_SKIP() << kPython << " (Debian python3-torch) not found";
  Llama source = large_random_model(config);
  const TempDir tmp("oracle_hf_" + name);
  const stdfs::path dir = tmp.path / "hf";
  write_hf_model_dir(source, dir, {16384, torch::kBFloat16, {}});
  ASSERT_TRUE(stdfs::exists(dir / kHfIndexFile));
  if (v5_config) {
    auto j = nlohmann::json::parse(replay::fs::read_file(dir / kHfConfigFile));
    j["rope_parameters"] = j["rope_scaling"].is_null() ? nlohmann::json{{"rope_type", "default"}} : j["rope_scaling"];
    j["rope_parameters"]["rope_theta"] = j["rope_theta"];
    j.erase("rope_scaling");
    j.erase("rope_theta");
    replay::fs::write_file_atomic(dir / kHfConfigFile, j.dump(2));
  }
  Llama imported = load_hf_model(dir);
  const torch::Tensor tokens = torch::randint(config.vocab_size, {2, config.max_seq_len}, torch::kLong);
  compare_with_reference(imported, dir, tokens, name);
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

TEST(Oracle, ImportedHfDirectoryUntiedGqa) {
  ModelConfig c = preset("tiny");
  c.n_heads = 4;
  c.n_kv_heads = 2;
  check_import_against_reference(c, "hf_untied_gqa", false);
}

TEST(Oracle, ImportedHfDirectoryTiedLlama3RopeParameters) {
  ModelConfig c = preset("tiny");
  c.n_kv_heads = 1;
  c.rope_theta = 500000.0;
  c.rope_scaling = RopeScaling{8.0, 1.0, 4.0, 64};
  c.tie_embeddings = true;
  check_import_against_reference(c, "hf_tied_llama3_v5", true);
}
