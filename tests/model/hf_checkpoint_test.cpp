// Hugging Face model directories in and out (model/hf_checkpoint.h), the
// safetensors reader's reference checks, RoPE config forms and Llama-3
// frequencies against the published values.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "error_of.h"
#include "model/hf_checkpoint.h"
#include "model/safetensors.h"
#include "temp_dir.h"
#include "text/tokenizer.h"
#include "util/fs.h"

using namespace replay::model;
namespace stdfs = std::filesystem;

namespace {

Llama random_model(const ModelConfig& c, uint64_t seed) {
  torch::manual_seed(seed);
  Llama model(c);
  torch::NoGradGuard no_grad;
  // Norm weights away from 1, so a norm that is not loaded shows.
  for (auto& item : model->named_parameters())
    if (item.key().find("norm") != std::string::npos) item.value().uniform_(0.5, 1.5);
  return model;
}

void expect_same_parameters(Llama& a, Llama& b) {
  auto pb = b->named_parameters();
  ASSERT_EQ(a->named_parameters().size(), pb.size());
  for (const auto& item : a->named_parameters())
    EXPECT_TRUE(torch::equal(item.value(), pb[item.key()])) << item.key();
}

std::vector<std::string> file_names(const stdfs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : stdfs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

void expect_identical_dirs(const stdfs::path& a, const stdfs::path& b) {
  ASSERT_EQ(file_names(a), file_names(b));
  for (const auto& name : file_names(a))
    EXPECT_TRUE(replay::fs::read_file(a / name) == replay::fs::read_file(b / name)) << name;
}

// A safetensors file from a raw header and data bytes, for the reader checks.
void write_raw(const stdfs::path& path, const std::string& header, const std::string& data) {
  const uint64_t n = header.size();
  std::string bytes(8, '\0');
  std::memcpy(bytes.data(), &n, 8);
  replay::fs::write_file_atomic(path, bytes + header + data);
}

// A real byte-level BPE tokenizer.json of `vocab` ids, <|endoftext|> last.
void write_tokenizer(const stdfs::path& file, size_t vocab) {
  int left = 50;
  const auto next = [&](std::string& text) {
    text = "the cat sat on the mat and the cat ran";
    return left-- > 0;
  };
  replay::text::BpeTrainOptions options;
  options.vocab_size = vocab;
  options.threads = 1;
  replay::text::train_bpe(next, options).save(file);
}

}  // namespace

TEST(HfCheckpoint, ExportImportExportIsByteIdentical) {
  const TempDir tmp("hf_roundtrip");
  ModelConfig c = preset("tiny");
  c.vocab_size = 288;  // room for a byte-level tokenizer's 256 bytes, merges and <|endoftext|>
  Llama model = random_model(c, 1);
  // F32 in one file.
  write_hf_model_dir(model, tmp.path / "a");
  EXPECT_TRUE(is_hf_model_dir(tmp.path / "a"));
  EXPECT_FALSE(stdfs::exists(tmp.path / "a" / kHfIndexFile));
  Llama loaded = load_hf_model(tmp.path / "a");
  expect_same_parameters(model, loaded);
  write_hf_model_dir(loaded, tmp.path / "b");
  expect_identical_dirs(tmp.path / "a", tmp.path / "b");

  // BF16, sharded (tiny's tensors are 2-32 KiB in bf16), with a tokenizer.
  write_tokenizer(tmp.path / "tok.json", 260);
  HfExportOptions bf16{20000, torch::kBFloat16, tmp.path / "tok.json"};
  write_hf_model_dir(model, tmp.path / "c", bf16);
  const auto index = nlohmann::json::parse(replay::fs::read_file(tmp.path / "c" / kHfIndexFile));
  EXPECT_EQ(index["weight_map"].size(), model->named_parameters().size());
  std::set<std::string> shards;
  for (const auto& [name, shard] : index["weight_map"].items()) shards.insert(shard.get<std::string>());
  ASSERT_GT(shards.size(), 2u);
  const std::string of_n = "-of-" + std::string(5 - std::to_string(shards.size()).size(), '0') +
                           std::to_string(shards.size()) + ".safetensors";
  EXPECT_EQ(index["weight_map"]["model.embed_tokens.weight"], "model-00001" + of_n);
  EXPECT_EQ(*shards.rbegin(), "model-" + std::string(5 - std::to_string(shards.size()).size(), '0') +
                                  std::to_string(shards.size()) + of_n);
  EXPECT_EQ(index["metadata"]["total_size"], count_params(c).total * 2);
  uint64_t largest_group = 0;
  for (const auto& shard : shards) {
    const SafetensorsFile f(tmp.path / "c" / shard);
    EXPECT_EQ(f.metadata().at("format"), "pt");
    // Over the limit only as a lone tensor (the embedding, 36 KiB).
    if (f.entries().size() > 1) largest_group = std::max<uint64_t>(largest_group, f.entries().back().end);
  }
  EXPECT_LE(largest_group, 20000u);
  const auto config = nlohmann::json::parse(replay::fs::read_file(tmp.path / "c" / kHfConfigFile));
  EXPECT_EQ(config["torch_dtype"], "bfloat16");
  // The exported tokenizer's end-of-text id; it adds no BOS, so none is named.
  EXPECT_EQ(config["eos_token_id"], 259);
  EXPECT_FALSE(config.contains("bos_token_id"));
  Llama from_bf16 = load_hf_model(tmp.path / "c");
  EXPECT_TRUE(torch::equal(from_bf16->embedding_weight(), model->embedding_weight().to(torch::kBFloat16).to(torch::kFloat)));
  bf16.tokenizer = tmp.path / "c" / kHfTokenizerFile;
  write_hf_model_dir(from_bf16, tmp.path / "d", bf16);
  expect_identical_dirs(tmp.path / "c", tmp.path / "d");
  // Every header is padded so the data starts 8-byte aligned.
  for (const auto& name : file_names(tmp.path / "d")) {
    if (name.find(".safetensors") == std::string::npos || name.find("index") != std::string::npos) continue;
    uint64_t n = 0;
    std::memcpy(&n, replay::fs::read_file(tmp.path / "d" / name).data(), 8);
    EXPECT_EQ(n % 8, 0u) << name;
  }
  // A tokenizer with ids the model cannot embed is refused, before writing.
  Llama small = random_model(preset("tiny"), 3);  // vocab_size 256
  const std::string refused =
      error_of([&] { write_hf_model_dir(small, tmp.path / "e", {20000, torch::kFloat, tmp.path / "tok.json"}); });
  EXPECT_NE(refused.find("260 ids, more than the model's vocab_size 256"), std::string::npos) << refused;
  EXPECT_FALSE(stdfs::exists(tmp.path / "e"));
  // An existing output is never overwritten.
  EXPECT_NE(error_of([&] { write_hf_model_dir(model, tmp.path / "d"); }).find("already exists"), std::string::npos);
}

// What other writers produce: F16/BF16 mixes, arbitrary shard splits and
// orders, a stored lm_head of a tied model, stray rotary buffers.
TEST(HfCheckpoint, ReadsForeignLayouts) {
  const TempDir tmp("hf_foreign");
  ModelConfig c = preset("tiny");
  c.tie_embeddings = true;
  Llama model = random_model(c, 2);
  NamedTensors first, second;
  int i = 0;
  for (const auto& item : model->named_parameters()) {
    torch::Tensor t = item.value().detach();
    // Values exactly representable in both half formats survive any dtype.
    t = t.to(torch::kBFloat16).to(torch::kFloat);
    if (i % 3 == 1) t = t.to(torch::kHalf).to(torch::kFloat);
    torch::NoGradGuard no_grad;
    item.value().copy_(t);
    const torch::Tensor stored = i % 3 == 0 ? t.to(torch::kBFloat16) : i % 3 == 1 ? t.to(torch::kHalf) : t;
    (i++ % 2 ? first : second).emplace_back(item.key(), stored);
  }
  first.emplace_back("model.layers.0.self_attn.rotary_emb.inv_freq", torch::ones({8}));
  second.emplace_back("lm_head.weight", torch::zeros({c.vocab_size, c.dim}));  // tied: ignored
  std::reverse(second.begin(), second.end());
  write_safetensors(tmp.path / "part-a.safetensors", first, {{"format", "pt"}});
  write_safetensors(tmp.path / "part-b.safetensors", second);
  nlohmann::json map;
  for (const auto& [name, t] : first) map[name] = "part-a.safetensors";
  for (const auto& [name, t] : second) map[name] = "part-b.safetensors";
  replay::fs::write_file_atomic(tmp.path / kHfIndexFile, nlohmann::json({{"metadata", {}}, {"weight_map", map}}).dump());
  replay::fs::write_file_atomic(tmp.path / kHfConfigFile, to_hf_config_json(c));
  Llama loaded = load_hf_model(tmp.path);
  expect_same_parameters(model, loaded);
}

TEST(HfCheckpoint, MismatchesNameTensorAndFileAndLeaveTheModelUntouched) {
  const TempDir tmp("hf_bad");
  ModelConfig c = preset("tiny");
  Llama model = random_model(c, 3);
  write_hf_model_dir(model, tmp.path / "good", {30000, torch::kFloat, {}});
  Llama target = random_model(c, 4);
  const torch::Tensor before = target->embedding_weight().clone();
  auto copy_good = [&](const std::string& name) {
    stdfs::copy(tmp.path / "good", tmp.path / name);
    return tmp.path / name;
  };
  // config.json of another architecture.
  ModelConfig other = c;
  other.rope_theta = 500000;
  stdfs::path dir = copy_good("theta");
  replay::fs::write_file_atomic(dir / kHfConfigFile, to_hf_config_json(other));
  std::string e = error_of([&] { load_hf_weights(target, dir); });
  EXPECT_NE(e.find("rope_theta"), std::string::npos) << e;
  EXPECT_NE(e.find("config.json"), std::string::npos) << e;
  // A shard with a mis-shaped tensor (the last one, after valid shards).
  const auto index = nlohmann::json::parse(replay::fs::read_file(tmp.path / "good" / kHfIndexFile));
  const std::string last_shard = index["weight_map"]["lm_head.weight"];
  dir = copy_good("shape");
  auto contents = read_safetensors(dir / last_shard);
  contents.tensors.back().second = torch::zeros({3, 3});
  stdfs::remove(dir / last_shard);
  write_safetensors(dir / last_shard, contents.tensors);
  e = error_of([&] { load_hf_weights(target, dir); });
  EXPECT_NE(e.find("'lm_head.weight'"), std::string::npos) << e;
  EXPECT_NE(e.find(last_shard), std::string::npos) << e;
  EXPECT_NE(e.find("shape"), std::string::npos) << e;
  // The index naming another shard than the one holding a tensor.
  dir = copy_good("index");
  auto moved = index;
  const std::string first_shard = index["weight_map"]["model.embed_tokens.weight"];
  const std::string norm = "model.layers.0.input_layernorm.weight";  // shares its shard
  ASSERT_NE(index["weight_map"][norm], first_shard);
  moved["weight_map"][norm] = first_shard;
  replay::fs::write_file_atomic(dir / kHfIndexFile, moved.dump());
  e = error_of([&] { load_hf_weights(target, dir); });
  EXPECT_NE(e.find("'" + norm + "'"), std::string::npos) << e;
  EXPECT_NE(e.find("puts it in '" + first_shard + "'"), std::string::npos) << e;
  // A missing tensor; an unexpected one.
  dir = copy_good("missing");
  contents = read_safetensors(dir / last_shard);
  contents.tensors.back().first = "model.layers.9.mlp.up_proj.weight";
  stdfs::remove(dir / last_shard);
  write_safetensors(dir / last_shard, contents.tensors);
  auto renamed = index;
  renamed["weight_map"].erase("lm_head.weight");
  renamed["weight_map"]["model.layers.9.mlp.up_proj.weight"] = last_shard;
  replay::fs::write_file_atomic(dir / kHfIndexFile, renamed.dump());
  e = error_of([&] { load_hf_weights(target, dir); });
  EXPECT_NE(e.find("model.layers.9.mlp.up_proj.weight"), std::string::npos) << e;
  EXPECT_NE(e.find("not a parameter"), std::string::npos) << e;
  EXPECT_TRUE(torch::equal(target->embedding_weight(), before));
  // The untouched copy loads.
  load_hf_weights(target, tmp.path / "good");
  expect_same_parameters(model, target);
}

// The checks of the reference safetensors reader.
TEST(Safetensors, ReaderRefusesWhatTheReferenceRefuses) {
  const TempDir tmp("st_checks");
  const std::string f32x2 = R"("dtype":"F32","shape":[2])";
  auto error_for = [&](const std::string& header, size_t data_bytes) {
    write_raw(tmp.path / "t.safetensors", header, std::string(data_bytes, '\0'));
    return error_of([&] { SafetensorsFile f(tmp.path / "t.safetensors"); });
  };
  // Good: two tensors tiling 16 bytes.
  EXPECT_EQ(error_for(R"({"a":{)" + f32x2 + R"(,"data_offsets":[0,8]},"b":{)" + f32x2 + R"(,"data_offsets":[8,16]}})", 16),
            "(no error)");
  EXPECT_NE(error_for(R"({"a":{)" + f32x2 + R"(,"data_offsets":[0,8]},"a":{)" + f32x2 + R"(,"data_offsets":[8,16]}})", 16)
                .find("'a' occurs twice"),
            std::string::npos);
  EXPECT_NE(error_for(R"({"a":{)" + f32x2 + R"(,"data_offsets":[0,8]},"b":{)" + f32x2 + R"(,"data_offsets":[12,20]}})", 20)
                .find("'b' starts at byte 12"),
            std::string::npos);  // a gap
  EXPECT_NE(error_for(R"({"a":{)" + f32x2 + R"(,"data_offsets":[0,8]},"b":{)" + f32x2 + R"(,"data_offsets":[4,12]}})", 12)
                .find("overlaps"),
            std::string::npos);
  EXPECT_NE(error_for(R"({"a":{)" + f32x2 + R"(,"data_offsets":[0,8]}})", 12).find("trailing"), std::string::npos);
  EXPECT_NE(error_for(R"({"a":{)" + f32x2 + R"(,"data_offsets":[0,8]}})", 4).find("truncated"), std::string::npos);
  EXPECT_NE(error_for(R"({"a":{)" + f32x2 + R"(,"data_offsets":[0,6]}})", 6).find("needs 8 bytes"), std::string::npos);
  EXPECT_NE(error_for(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", 0).find("impossible shape"),
            std::string::npos);
  EXPECT_NE(error_for(R"({"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", 8).find("unsupported dtype"),
            std::string::npos);
  // A header length over the reference's 100 MB limit.
  std::string huge(8, '\0');
  const uint64_t n = 100'000'001;
  std::memcpy(huge.data(), &n, 8);
  replay::fs::write_file_atomic(tmp.path / "h.safetensors", huge);
  EXPECT_NE(error_of([&] { SafetensorsFile f(tmp.path / "h.safetensors"); }).find("100 MB"), std::string::npos);
}

TEST(HfConfig, ReadsBothRopeFormsAndRefusesUnknownTypes) {
  ModelConfig c = preset("llama-3.1-8b");
  const ModelConfig expected = from_hf_config_json(to_hf_config_json(c), "ours");
  EXPECT_TRUE(architecture_differences(c, expected).empty());
  auto j = nlohmann::json::parse(to_hf_config_json(c));
  // Legacy "type" instead of "rope_type".
  j["rope_scaling"].erase("rope_type");
  j["rope_scaling"]["type"] = "llama3";
  EXPECT_TRUE(architecture_differences(from_hf_config_json(j.dump(), "legacy"), c).empty());
  // transformers v5: one rope_parameters dict holding rope_theta too.
  auto v5 = j;
  v5["rope_parameters"] = v5["rope_scaling"];
  v5["rope_parameters"]["rope_theta"] = 500000.0;
  v5.erase("rope_scaling");
  v5.erase("rope_theta");
  v5.erase("head_dim");  // older files: hidden / heads
  EXPECT_TRUE(architecture_differences(from_hf_config_json(v5.dump(), "v5"), c).empty());
  auto plain = v5;
  plain["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 10000.0}};
  const ModelConfig p = from_hf_config_json(plain.dump(), "plain");
  EXPECT_FALSE(p.rope_scaling.has_value());
  EXPECT_EQ(p.rope_theta, 10000.0);
  auto yarn = j;
  yarn["rope_scaling"]["type"] = "yarn";
  EXPECT_NE(error_of([&] { from_hf_config_json(yarn.dump(), "yarn.json"); }).find("unsupported RoPE type 'yarn'"),
            std::string::npos);
}

// Spec finetune.md section 2: for Llama-3.1-8B (theta 5e5, head_dim 128),
// indices 0-28 unchanged, 29-34 smoothed, 35-63 divided by 8; entry 29 goes
// from 0.0026161 to 0.0021666.
TEST(HfConfig, Llama3InverseFrequenciesMatchThePublishedValues) {
  ModelConfig c = preset("llama-3.1-8b");
  const torch::Tensor scaled = rope_inverse_frequencies(c);
  c.rope_scaling.reset();
  const torch::Tensor plain = rope_inverse_frequencies(c);
  ASSERT_EQ(scaled.numel(), 64);
  for (int64_t i = 0; i < 64; ++i) {
    const double s = scaled[i].item<double>(), p = plain[i].item<double>();
    if (i <= 28) EXPECT_EQ(s, p) << i;
    else if (i <= 34) EXPECT_TRUE(s < p && s > p / 8 * 1.000001) << i;
    else EXPECT_NEAR(s, p / 8, 1e-6 * p) << i;
  }
  EXPECT_NEAR(plain[29].item<double>(), 0.0026161, 5e-8);
  EXPECT_NEAR(scaled[29].item<double>(), 0.0021666, 5e-8);
}
