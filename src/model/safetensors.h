// safetensors files (the Hugging Face format): 8-byte little-endian header
// length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__":
// {string: string}}, then the raw little-endian tensor bytes. Model weights
// use the Hugging Face Llama names, so the files load in transformers too.
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace replay::model {

using Metadata = std::map<std::string, std::string>;
using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Writes atomically (temporary file, fsync, rename): a crash never leaves a
// partial file under `path`. Tensors are copied to CPU as they are written.
void write_safetensors(const std::filesystem::path& path, const NamedTensors& tensors,
                       const Metadata& metadata = {});

struct SafetensorsContents {
  Metadata metadata;
  NamedTensors tensors;  // in file order, CPU, owning their memory
};
// Validates the whole file (header size, JSON, dtypes, shapes against byte
// ranges, ranges inside the file and not overlapping); errors name the file
// and the tensor.
SafetensorsContents read_safetensors(const std::filesystem::path& path);

// All named parameters and buffers of `module` (for a Llama: the HF names).
void save_safetensors(torch::nn::Module& module, const std::filesystem::path& path,
                      const Metadata& metadata = {});
// Copies every tensor into the module's parameter of the same name (dtype
// converted if needed). Missing, mis-shaped and unexpected tensors are errors
// naming the file and tensor. Returns the file's metadata.
Metadata load_safetensors(torch::nn::Module& module, const std::filesystem::path& path);

}  // namespace replay::model
