#include "train/train_state.h"

#include <ATen/CPUGeneratorImpl.h>

#include <map>
#include <mutex>

#include "model/hf_checkpoint.h"
#include "model/safetensors.h"
#include "run/layout.h"
#include "util/error.h"
#include "util/fs.h"

namespace replay::train {

namespace {

std::string generator_state() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  torch::Tensor state = gen.get_state();
  return std::string(reinterpret_cast<const char*>(state.data_ptr<uint8_t>()),
                     static_cast<size_t>(state.numel()));
}

void set_generator_state(const std::string& bytes, const std::string& what) {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  auto state = torch::empty({static_cast<int64_t>(bytes.size())}, torch::kUInt8);
  std::memcpy(state.data_ptr<uint8_t>(), bytes.data(), bytes.size());
  try {
    gen.set_state(state);
  } catch (const c10::Error& e) {
    throw Error(what + ": not a generator state of this libtorch");
  }
}

}  // namespace

stdfs::path save_training_checkpoint(const stdfs::path& root, model::Llama& model,
                                     const model::NamedTensors& optimizer_state, CheckpointState state, int64_t keep) {
  CheckpointWriter writer(root, state.step);
  model::save_safetensors(*model, writer.dir() / kWeightsFile,
                          {{"format", "pt"}, {"step", std::to_string(state.step)}});
  state.has_optimizer = !optimizer_state.empty();
  if (state.has_optimizer) {
    model::write_safetensors(writer.dir() / kOptimizerFile, optimizer_state);
  }
  writer.write_file(kRngFile, generator_state());
  stdfs::path dir = writer.commit(state);
  prune_checkpoints(root, keep);
  return dir;
}

void load_training_checkpoint(const stdfs::path& dir, model::Llama& model, StepOptimizer* optimizer) {
  model::load_safetensors(*model, dir / kWeightsFile);
  if (!optimizer) return;
  CheckpointState state = read_checkpoint_info(dir).state;
  if (state.has_optimizer) {
    auto contents = model::read_safetensors(dir / kOptimizerFile);
    std::map<std::string, torch::Tensor> tensors(contents.tensors.begin(), contents.tensors.end());
    try {
      optimizer->load_state_tensors(tensors);
    } catch (const Error& e) {
      throw Error((dir / kOptimizerFile).string() + ": " + e.what());
    }
  }
  if (stdfs::exists(dir / kRngFile)) set_generator_state(fs::read_file(dir / kRngFile), (dir / kRngFile).string());
}

model::Llama initial_model(const run::RunConfig& config) {
  torch::manual_seed(config.settings.init_seed());
  return model::Llama(config.model);
}

stdfs::path load_initial_weights(const stdfs::path& path, model::Llama& model) {
  if (model::is_hf_model_dir(path)) {
    model::load_hf_weights(model, path);
    return path;
  }
  const stdfs::path dir = resolve_init_checkpoint(path);
  load_training_checkpoint(dir, model, nullptr);
  return dir;
}

namespace {

// The run folder that holds checkpoint `dir` (<run>/checkpoints/step-N), or
// `dir` itself when it is a run folder.
stdfs::path run_folder_of(const stdfs::path& path, const stdfs::path& checkpoint) {
  if (stdfs::is_regular_file(path / run::kConfigFile)) return path;
  return checkpoint.parent_path().parent_path();
}

}  // namespace

LoadedModel load_model_from(const stdfs::path& path) {
  LoadedModel out;
  if (model::is_hf_model_dir(path)) {
    out.model = model::load_hf_model(path);
    out.weights = path;
    if (stdfs::is_regular_file(path / model::kHfTokenizerFile)) out.tokenizer = path / model::kHfTokenizerFile;
    return out;
  }
  out.weights = resolve_init_checkpoint(path);
  const stdfs::path config_path = run_folder_of(path, out.weights) / run::kConfigFile;
  if (!stdfs::is_regular_file(config_path))
    throw Error(out.weights.string() + ": no run config.json found at " + config_path.string() +
                " to tell the model's architecture");
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(fs::read_file(config_path)).at("config");
  } catch (const nlohmann::json::exception& e) {
    throw Error(config_path.string() + ": not a run config: " + e.what());
  }
  if (!config.contains("model")) throw Error(config_path.string() + ": no model description under config.model");
  out.model = model::Llama(model::model_config_from_json(config["model"], config_path.string() + ": config.model"),
                           model::LlamaImpl::Fill::uninitialized);
  load_training_checkpoint(out.weights, out.model, nullptr);
  // The tokenizer path as the run recorded it (relative paths: from where it ran).
  const std::string tokenizer = config.value("/data/tokenizer"_json_pointer, std::string());
  if (!tokenizer.empty() && stdfs::is_regular_file(tokenizer)) out.tokenizer = tokenizer;
  return out;
}

}  // namespace replay::train
