#include <gtest/gtest.h>

#include "error_of.h"

#include <nlohmann/json.hpp>

#include "model/config.h"
#include "util/error.h"

using namespace replay::model;

namespace {
toml::table parse(const char* text) { return toml::parse(text); }

}  // namespace

TEST(ModelConfig, EveryPresetIsValid) {
  for (const auto& name : preset_names()) EXPECT_NO_THROW(preset(name).validate(name)) << name;
  EXPECT_NE(error_of([] { preset("nope"); }).find("150m4k"), std::string::npos);
}

TEST(ModelConfig, PaperShapes) {
  const ModelConfig c = preset("600m4k");
  EXPECT_EQ(c.dim, 1024);
  EXPECT_EQ(c.ffn_dim, 3584);
  EXPECT_EQ(c.n_layers, 24);
  EXPECT_EQ(c.n_kv_heads, 8);
  EXPECT_EQ(c.vocab_size, 128256);
  const ModelConfig l = preset("llama-3.1-8b");
  ASSERT_TRUE(l.rope_scaling.has_value());
  EXPECT_EQ(l.rope_theta, 500000.0);
  EXPECT_EQ(l.rope_scaling->original_max_position, 8192);
  // Llama 3.1 8B has 8.03B parameters.
  EXPECT_EQ(count_params(l).total, 8030261248);
}

TEST(ModelConfig, CpuPresetSizes) {
  const ParamCounts micro = count_params(preset("micro"));
  EXPECT_GT(micro.non_embedding_with_head, 1'000'000);
  EXPECT_LT(micro.non_embedding_with_head, 3'000'000);
  const ParamCounts gpt2 = count_params(preset("gpt2-124m"));
  // Blocks + one 50257 x 768 matrix: GPT-2 small's 124M (it ties the head).
  EXPECT_NEAR(static_cast<double>(gpt2.non_embedding + gpt2.embedding), 124e6, 1.5e6);
}

TEST(ModelConfig, ValidationNamesTheKey) {
  ModelConfig c = preset("tiny");
  c.n_kv_heads = 3;
  EXPECT_NE(error_of([&] { c.validate("run.toml [model]"); }).find("n_kv_heads"), std::string::npos);
  c = preset("tiny");
  c.head_dim = 15;
  EXPECT_NE(error_of([&] { c.validate(); }).find("head_dim"), std::string::npos);
  c = preset("tiny");
  c.dim = 0;
  EXPECT_NE(error_of([&] { c.validate(); }).find("dim"), std::string::npos);
  c = preset("tiny");
  c.init_std = 1e30;  // every activation saturates: a dead model that would still "train"
  EXPECT_NE(error_of([&] { c.validate(); }).find("init_std must be in [0, 1]"), std::string::npos);
}

TEST(ModelConfig, TomlPresetAndOverrides) {
  auto t = parse(R"(preset = "micro"
dim = 96
n_heads = 6
n_kv_heads = 2
head_dim = 16
rope_theta = 500000
tie_embeddings = true
[rope_scaling]
factor = 4.0
original_max_position = 128
)");
  const ModelConfig c = config_from_toml(t, "run.toml");
  EXPECT_EQ(c.dim, 96);
  EXPECT_EQ(c.n_layers, preset("micro").n_layers);
  EXPECT_EQ(c.n_kv_heads, 2);
  EXPECT_EQ(c.rope_theta, 500000.0);
  EXPECT_TRUE(c.tie_embeddings);
  ASSERT_TRUE(c.rope_scaling);
  EXPECT_EQ(c.rope_scaling->factor, 4.0);
  EXPECT_EQ(c.rope_scaling->original_max_position, 128);
  EXPECT_EQ(count_params(c).lm_head, 0);
}

TEST(ModelConfig, TomlErrorsNameKeyAndFile) {
  auto unknown = parse("preset = \"tiny\"\nlayers = 3\n");
  std::string e = error_of([&] { config_from_toml(unknown, "run.toml"); });
  EXPECT_NE(e.find("run.toml"), std::string::npos);
  EXPECT_NE(e.find("unknown key 'model.layers' (known: "), std::string::npos) << e;
  auto wrong_type = parse("dim = \"big\"\n");
  EXPECT_NE(error_of([&] { config_from_toml(wrong_type, "r.toml"); }).find("r.toml: model.dim: expected an integer"),
            std::string::npos);
  auto bad_gqa = parse("preset = \"tiny\"\nn_kv_heads = 3\n");
  EXPECT_NE(error_of([&] { config_from_toml(bad_gqa, "r.toml"); }).find("n_kv_heads"),
            std::string::npos);
  auto bad_preset = parse("preset = \"huge\"\n");
  EXPECT_NE(error_of([&] { config_from_toml(bad_preset, "r.toml"); }).find("huge"),
            std::string::npos);
  auto bad_sub = parse("[rope_scaling]\nfactr = 2.0\n");
  EXPECT_NE(error_of([&] { config_from_toml(bad_sub, "r.toml"); }).find("model.rope_scaling.factr"),
            std::string::npos);
}

TEST(ModelConfig, SetFieldFromText) {
  ModelConfig c = preset("tiny");
  set_field(c, "n_layers", "3", "--set");
  set_field(c, "norm_eps", "1e-6", "--set");
  set_field(c, "rope_scaling", "llama3", "--set");
  EXPECT_EQ(c.n_layers, 3);
  EXPECT_EQ(c.norm_eps, 1e-6);
  EXPECT_TRUE(c.rope_scaling);
  EXPECT_NE(error_of([&] { set_field(c, "n_layers", "x3", "--set"); }).find("n_layers"),
            std::string::npos);
  EXPECT_NE(error_of([&] { set_field(c, "depth", "3", "--set"); }).find("depth"),
            std::string::npos);
}

TEST(ModelConfig, HfConfigJsonRoundTrip) {
  ModelConfig c = preset("llama-3.1-8b");
  c.init = InitRecipe::hf;  // config.json does not carry the init recipe (Replay's own field)
  EXPECT_EQ(from_hf_config_json(to_hf_config_json(c), "x"), c);
  c = preset("tiny");
  c.tie_embeddings = true;
  EXPECT_EQ(from_hf_config_json(to_hf_config_json(c), "x"), c);
  EXPECT_NE(error_of([] { from_hf_config_json("{}", "cfg.json"); }).find("cfg.json"),
            std::string::npos);
}

TEST(ModelConfig, FlopsPerToken) {
  const ModelConfig c = preset("150m4k");
  const ParamCounts p = count_params(c);
  EXPECT_DOUBLE_EQ(train_flops_per_token(c, 4096),
                   6.0 * p.non_embedding_with_head + 12.0 * 6 * 8 * 64 * 4096);
}

TEST(ModelConfig, InitRecipeIsParsedSerializedAndSetByPresets) {
  // The paper's models use the reference init; the CPU presets keep HF's.
  for (const char* paper : {"150m4k", "300m4k", "600m4k", "1_4b4k", "1_9b4k", "llama-3.1-8b"})
    EXPECT_EQ(preset(paper).init, InitRecipe::reference) << paper;
  for (const char* cpu : {"micro", "tiny", "gpt2-124m"}) EXPECT_EQ(preset(cpu).init, InitRecipe::hf) << cpu;

  toml::table t = parse("preset = \"micro\"\ninit = \"reference\"\n");
  ModelConfig c = config_from_toml(t, "run.toml");
  EXPECT_EQ(c.init, InitRecipe::reference);
  toml::table back = parse("preset = \"150m4k\"\ninit = \"hf\"\n");
  EXPECT_EQ(config_from_toml(back, "run.toml").init, InitRecipe::hf);
  toml::table bad = parse("init = \"xavier\"\n");
  const std::string e = error_of([&] { config_from_toml(bad, "run.toml"); });
  EXPECT_NE(e.find("run.toml: model.init"), std::string::npos) << e;
  EXPECT_NE(e.find("xavier"), std::string::npos) << e;
  ModelConfig s = preset("tiny");
  set_field(s, "init", "reference", "--set");
  EXPECT_EQ(s.init, InitRecipe::reference);
  EXPECT_THROW(set_field(s, "init", "normal", "--set"), replay::Error);

  // Part of the run's description, and read back from it.
  EXPECT_EQ(to_json(c)["init"], "reference");
  EXPECT_NE(to_json(c), to_json(preset("micro")));
  EXPECT_EQ(model_config_from_json(to_json(c), "run config"), c);
  const ModelConfig l8 = preset("llama-3.1-8b");
  EXPECT_EQ(model_config_from_json(to_json(l8), "run config"), l8);
  nlohmann::json old = to_json(preset("micro"));
  old.erase("init");  // descriptions written before the field: HF's init
  EXPECT_EQ(model_config_from_json(old, "old run").init, InitRecipe::hf);
}
