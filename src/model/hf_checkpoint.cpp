#include "model/hf_checkpoint.h"

#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <set>

#include "model/safetensors.h"
#include "text/tokenizer.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/staged_dir.h"

namespace replay::model {

namespace stdfs = std::filesystem;

namespace {

using WeightMap = std::map<std::string, std::string>;  // tensor name -> shard file name

bool is_ignored_buffer(const std::string& name) {
  const std::string suffix = ".rotary_emb.inv_freq";
  return name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The index's weight map; shard names must be plain file names in `dir`.
WeightMap read_index(const stdfs::path& dir) {
  const stdfs::path path = dir / kHfIndexFile;
  WeightMap map;
  try {
    const auto j = nlohmann::json::parse(fs::read_file(path));
    for (const auto& [name, shard] : j.at("weight_map").items()) map[name] = shard.get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(path.string() + ": bad index: " + e.what());
  }
  for (const auto& [name, shard] : map) {
    if (shard.empty() || shard.find('/') != std::string::npos || shard == "." || shard == "..")
      throw Error(path.string() + ": tensor '" + name + "' maps to '" + shard + "', not a file name in the directory");
    if (!stdfs::is_regular_file(dir / shard))
      throw Error(path.string() + ": tensor '" + name + "' is in shard '" + shard + "', which does not exist");
  }
  if (map.empty()) throw Error(path.string() + ": weight_map is empty");
  return map;
}

// One weight file and what to copy out of it.
struct ShardPlan {
  std::unique_ptr<SafetensorsFile> file;
  std::vector<std::pair<torch::Tensor, const SafetensorsFile::Entry*>> copies;
};

// Matches the entries of one file to the model's parameters (removing them
// from `targets`); every mismatch is an error naming the tensor and file.
void plan_shard(ShardPlan& plan, std::map<std::string, torch::Tensor>& targets, const WeightMap* index,
                bool tied) {
  const SafetensorsFile& file = *plan.file;
  const std::string shard = file.path().filename().string();
  for (const auto& entry : file.entries()) {
    const std::string& name = entry.name;
    const std::string where = "tensor '" + name + "' in " + file.path().string();
    if (is_ignored_buffer(name)) continue;
    if (index) {
      auto it = index->find(name);
      if (it == index->end()) throw Error(where + ": not listed in " + kHfIndexFile);
      if (it->second != shard) throw Error(where + ": " + kHfIndexFile + " puts it in '" + it->second + "'");
    }
    if (tied && name == "lm_head.weight") continue;  // tied: the embedding is the head
    auto target = targets.find(name);
    if (target == targets.end())
      throw Error(where + ": not a parameter of this model (or given twice)");
    if (!c10::isFloatingType(entry.dtype))
      throw Error(where + ": dtype " + std::string(c10::toString(entry.dtype)) + " is not a floating type");
    if (target->second.sizes() != c10::IntArrayRef(entry.shape))
      throw Error(where + ": shape " + c10::str(c10::IntArrayRef(entry.shape)) + " but the config (" +
                  kHfConfigFile + ") gives " + c10::str(target->second.sizes()));
    plan.copies.emplace_back(target->second, &entry);
    targets.erase(target);
  }
}

// The weight files of `dir` in the order to read them.
std::vector<stdfs::path> weight_files(const stdfs::path& dir, const WeightMap* index) {
  if (!index) return {dir / kHfWeightsFile};
  std::set<std::string> shards;
  for (const auto& [name, shard] : *index) shards.insert(shard);
  std::vector<stdfs::path> out;
  for (const auto& shard : shards) out.push_back(dir / shard);
  return out;
}

}  // namespace

bool is_hf_model_dir(const stdfs::path& dir) {
  return stdfs::is_regular_file(dir / kHfConfigFile) &&
         (stdfs::is_regular_file(dir / kHfWeightsFile) || stdfs::is_regular_file(dir / kHfIndexFile));
}

ModelConfig read_hf_config(const stdfs::path& dir) {
  const stdfs::path path = dir / kHfConfigFile;
  return from_hf_config_json(fs::read_file(path), path.string());
}

void load_hf_weights(Llama& model, const stdfs::path& dir) {
  const ModelConfig file_config = read_hf_config(dir);
  if (auto diffs = architecture_differences(model->config(), file_config); !diffs.empty()) {
    std::string text;
    for (const auto& d : diffs) text += (text.empty() ? "" : "; ") + d;
    throw Error((dir / kHfConfigFile).string() + " describes another architecture (model vs file: " + text + ")");
  }
  std::optional<WeightMap> index;
  // The index wins when both exist, as in transformers.
  if (stdfs::is_regular_file(dir / kHfIndexFile)) index = read_index(dir);

  std::map<std::string, torch::Tensor> targets;
  for (const auto& item : model->named_parameters()) targets[item.key()] = item.value();
  // Pass 1: open (map and validate) every file and plan every copy.
  std::vector<ShardPlan> plans;
  for (const stdfs::path& path : weight_files(dir, index ? &*index : nullptr)) {
    plans.push_back({std::make_unique<SafetensorsFile>(path), {}});
    plan_shard(plans.back(), targets, index ? &*index : nullptr, model->config().tie_embeddings);
  }
  if (!targets.empty()) {
    std::string missing;
    for (const auto& [name, t] : targets) missing += (missing.empty() ? "" : ", ") + name;
    throw Error(dir.string() + ": missing tensors: " + missing);
  }
  // Pass 2: copy, unmapping each file once done, so at most one shard's
  // pages are resident besides the model. The files are read ahead, in
  // this order, while the parameters are made resident and then converted.
  std::vector<stdfs::path> files;
  std::vector<torch::Tensor> fresh;
  for (const ShardPlan& plan : plans) {
    files.push_back(plan.file->path());
    for (const auto& copy : plan.copies) fresh.push_back(copy.first);
  }
  const fs::ReadAhead read_ahead(files);
  populate_for_writing(fresh);
  torch::NoGradGuard no_grad;
  for (ShardPlan& plan : plans) {
    for (auto& [target, entry] : plan.copies) plan.file->copy_to(target, *entry);
    plan.file.reset();
  }
}

Llama load_hf_model(const stdfs::path& dir) {
  Llama model(read_hf_config(dir), LlamaImpl::Fill::uninitialized);
  load_hf_weights(model, dir);
  return model;
}

torch::ScalarType hf_export_dtype_from_name(const std::string& name) {
  if (name == "f32" || name == "fp32" || name == "float32") return torch::kFloat;
  if (name == "bf16" || name == "bfloat16") return torch::kBFloat16;
  if (name == "f16" || name == "fp16" || name == "float16") return torch::kHalf;
  throw Error("dtype '" + name + "' is not one of f32, bf16, f16");
}

namespace {

std::string torch_dtype_name(torch::ScalarType dtype) {
  if (dtype == torch::kFloat) return "float32";
  if (dtype == torch::kBFloat16) return "bfloat16";
  if (dtype == torch::kHalf) return "float16";
  throw Error("export dtype " + std::string(c10::toString(dtype)) + " is not one of float32, bfloat16, float16");
}

// Greedy split in order: a shard closes when the next tensor would pass the limit.
std::vector<NamedTensors> split_into_shards(const NamedTensors& tensors, torch::ScalarType dtype, uint64_t limit) {
  std::vector<NamedTensors> shards(1);
  uint64_t size = 0;
  for (const auto& item : tensors) {
    const uint64_t bytes = item.second.numel() * c10::elementSize(dtype);
    if (!shards.back().empty() && size + bytes > limit) {
      shards.emplace_back();
      size = 0;
    }
    shards.back().push_back(item);
    size += bytes;
  }
  return shards;
}

std::string shard_name(size_t i, size_t n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", i + 1, n);
  return buf;
}

void write_weights(const NamedTensors& tensors, const stdfs::path& dir, const HfExportOptions& options) {
  const Metadata metadata = {{"format", "pt"}};
  const auto shards = split_into_shards(tensors, options.dtype, options.shard_bytes);
  if (shards.size() == 1) {
    write_safetensors(dir / kHfWeightsFile, shards[0], metadata, options.dtype);
    return;
  }
  nlohmann::json weight_map = nlohmann::json::object();
  uint64_t total = 0;
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string name = shard_name(i, shards.size());
    write_safetensors(dir / name, shards[i], metadata, options.dtype);
    for (const auto& [tensor, t] : shards[i]) {
      weight_map[tensor] = name;
      total += t.numel() * c10::elementSize(options.dtype);
    }
  }
  const nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  fs::write_file_atomic(dir / kHfIndexFile, index.dump(2) + "\n");
}

}  // namespace

void write_hf_model_dir(Llama& model, const stdfs::path& out, const HfExportOptions& options) {
  const std::string dtype_name = torch_dtype_name(options.dtype);
  if (options.shard_bytes == 0) throw Error("export to " + out.string() + ": shard size must be positive");
  if (stdfs::exists(out)) throw Error("export to " + out.string() + ": already exists (choose a new directory)");
  if (!options.tokenizer.empty() && !stdfs::is_regular_file(options.tokenizer))
    throw Error("export to " + out.string() + ": tokenizer " + options.tokenizer.string() + " not found");
  HfTokenIds token_ids;
  if (!options.tokenizer.empty()) {
    const auto tokenizer = text::Tokenizer::load(options.tokenizer);
    if (tokenizer.vocab_size() > static_cast<size_t>(model->config().vocab_size))
      throw Error("export to " + out.string() + ": tokenizer " + options.tokenizer.string() + " has " +
                  std::to_string(tokenizer.vocab_size()) + " ids, more than the model's vocab_size " +
                  std::to_string(model->config().vocab_size));
    if (tokenizer.has_bos()) token_ids.bos = tokenizer.bos_id();
    if (tokenizer.has_eot()) token_ids.eos = tokenizer.eot_id();
  }
  StagedDir staged(out);
  NamedTensors tensors;
  for (const auto& item : model->named_parameters()) tensors.emplace_back(item.key(), item.value());
  write_weights(tensors, staged.path(), options);
  fs::write_file_atomic(staged.path() / kHfConfigFile, to_hf_config_json(model->config(), dtype_name, token_ids));
  if (!options.tokenizer.empty())
    stdfs::copy_file(options.tokenizer, staged.path() / kHfTokenizerFile);
  staged.publish(StagedDir::Mode::replace);
}

}  // namespace replay::model
