#include "train/train_state.h"

#include <ATen/CPUGeneratorImpl.h>

#include <map>
#include <mutex>

#include "model/safetensors.h"
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
                                     const Optimizer* optimizer, CheckpointState state, int64_t keep) {
  CheckpointWriter writer(root, state.step);
  model::save_safetensors(*model, writer.dir() / kWeightsFile,
                          {{"format", "pt"}, {"step", std::to_string(state.step)}});
  state.has_optimizer = optimizer != nullptr && optimizer->steps_taken() > 0;
  if (state.has_optimizer) {
    model::NamedTensors tensors;
    for (auto& [name, t] : optimizer->state_tensors()) tensors.emplace_back(name, t);
    model::write_safetensors(writer.dir() / kOptimizerFile, tensors);
  }
  writer.write_file(kRngFile, generator_state());
  stdfs::path dir = writer.commit(state);
  prune_checkpoints(root, keep);
  return dir;
}

void load_training_checkpoint(const stdfs::path& dir, model::Llama& model, Optimizer* optimizer) {
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

}  // namespace replay::train
