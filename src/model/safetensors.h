// safetensors files (the Hugging Face format): 8-byte little-endian header
// length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__":
// {string: string}}, then the raw little-endian tensor bytes. Model weights
// use the Hugging Face Llama names, so the files load in transformers too.
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "util/fs.h"

namespace replay::model {

using Metadata = std::map<std::string, std::string>;
using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Writes atomically (temporary file, fsync, rename): a crash never leaves a
// partial file under `path`. Tensors are copied to CPU as they are written,
// one at a time, in the given order; with `float_dtype`, floating tensors are
// converted to it on the way (e.g. kBFloat16 for a half-size export).
void write_safetensors(const std::filesystem::path& path, const NamedTensors& tensors,
                       const Metadata& metadata = {},
                       std::optional<torch::ScalarType> float_dtype = std::nullopt);

// One safetensors file, memory-mapped, its header validated as the reference
// reader (Rust `safetensors`) does: header length at most 100 MB and inside
// the file, a JSON object, no duplicate names, known dtypes, each tensor's
// byte count = product(shape) x dtype size, and the tensors tiling the data
// buffer contiguously from 0 to the end of the file (no gaps, no overlaps,
// no trailing bytes). Errors name the file and the tensor. Tensor data is
// read straight from the map, so opening costs no copy of the weights.
class SafetensorsFile {
 public:
  struct Entry {
    std::string name;
    torch::ScalarType dtype;
    std::vector<int64_t> shape;
    uint64_t begin = 0, end = 0;  // byte range in the data buffer
  };
  explicit SafetensorsFile(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return file_.path(); }
  const Metadata& metadata() const { return metadata_; }
  const std::vector<Entry>& entries() const { return entries_; }  // in header order
  const Entry* find(const std::string& name) const;
  // A tensor over the mapped bytes (no copy): valid while this object lives.
  // Copy it (copy_, clone, to) before the file goes away.
  torch::Tensor view(const Entry& entry) const;
  // Copies the tensor into `target` (same shape, any floating dtype), the
  // loaders' one copy.
  void copy_to(torch::Tensor& target, const Entry& entry) const;
  // Where errors point: "safetensors file <path>".
  std::string where() const { return "safetensors file " + path().string(); }

 private:
  void parse_header(uint64_t header_len);
  void check_tiling(uint64_t data_size) const;
  fs::MappedFile file_;
  const uint8_t* data_ = nullptr;
  Metadata metadata_;
  std::vector<Entry> entries_;
};

// Makes the pages of fresh CPU tensors resident before a loader writes them
// (MADV_POPULATE_WRITE in 16 MiB pieces on the torch threads): left to the
// dtype conversion, they take one page fault per 4 KiB inside its parallel
// loop, where the threads contend and wait on each other. The loaders call
// it for all their targets at once while fs::ReadAhead reads the files, so
// the kernel's zeroing overlaps with the disk (bench/model/hf_load.sh).
// Pages already resident cost nothing.
void populate_for_writing(const std::vector<torch::Tensor>& tensors);

// The safetensors dtype name ("BF16", "F32", ...) of a torch dtype; throws
// replay::Error naming `tensor` for a dtype safetensors cannot store.
std::string safetensors_dtype_name(torch::ScalarType type, const std::string& tensor);

struct SafetensorsContents {
  Metadata metadata;
  NamedTensors tensors;  // in file order, CPU, owning their memory
};
// Validates the whole file (SafetensorsFile) and copies every tensor out.
SafetensorsContents read_safetensors(const std::filesystem::path& path);

// All named parameters and buffers of `module` (for a Llama: the HF names).
void save_safetensors(torch::nn::Module& module, const std::filesystem::path& path,
                      const Metadata& metadata = {});
// Copies every tensor into the module's parameter of the same name (dtype
// converted if needed), one at a time from the memory map, so the peak is
// the module plus the mapped file's pages. Missing, mis-shaped and
// unexpected tensors are errors naming the file and tensor, found before
// anything is copied. Returns the file's metadata.
Metadata load_safetensors(torch::nn::Module& module, const std::filesystem::path& path);

}  // namespace replay::model
