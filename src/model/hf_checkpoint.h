// Hugging Face Llama model directories (LlamaForCausalLM), in and out.
//
// The format (transformers' save_pretrained, spec finetune.md section 2):
//   <dir>/config.json                       LlamaConfig (model/config.h,
//                                           from_hf_config_json: both RoPE forms)
//   <dir>/model.safetensors                 all weights in one file, or
//   <dir>/model.safetensors.index.json      {"metadata": {"total_size": bytes
//                                           of tensor data}, "weight_map":
//                                           {tensor name: shard file name}}
//   <dir>/model-00001-of-0000K.safetensors  the shards it names
//   <dir>/tokenizer.json                    optional, copied through on export
// Tensor names are the HF Llama names (model/llama.h), shapes [out, in];
// `lm_head.weight` is absent when tie_word_embeddings is true (and ignored if
// present); `model.layers.N.self_attn.rotary_emb.inv_freq` buffers of older
// files are ignored. Weights may be F32, BF16, F16 or F64: they are converted
// to the model's fp32 parameters.
//
// Loading is streamed: the shards are memory-mapped and every tensor copied
// straight from the map into its parameter, one shard mapped with pages in
// use at a time, so the peak host memory is the model plus one shard.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "model/config.h"
#include "model/llama.h"

namespace replay::model {

inline constexpr const char* kHfConfigFile = "config.json";
inline constexpr const char* kHfWeightsFile = "model.safetensors";
inline constexpr const char* kHfIndexFile = "model.safetensors.index.json";
inline constexpr const char* kHfTokenizerFile = "tokenizer.json";
// transformers' default max_shard_size ("5GB", decimal).
inline constexpr uint64_t kHfDefaultShardBytes = 5'000'000'000;

// Whether `dir` holds config.json and model.safetensors or the index.
bool is_hf_model_dir(const std::filesystem::path& dir);

// The model config of `dir`/config.json; errors name the file.
ModelConfig read_hf_config(const std::filesystem::path& dir);

// Copies the weights of `dir` into `model`. First checks, without copying
// anything, that config.json describes the model's architecture
// (architecture_differences), that the index and the shards agree, and that
// every tensor is expected, shaped as the model's and of a floating dtype,
// and none missing: errors name the tensor and the file. A failed load leaves
// the model untouched.
void load_hf_weights(Llama& model, const std::filesystem::path& dir);

// A model built from `dir`'s config.json (init recipe and std as there, or
// defaults, kept for runs that continue from it) with its weights loaded.
// No initialization is drawn first: every parameter comes from the files.
Llama load_hf_model(const std::filesystem::path& dir);

struct HfExportOptions {
  // Weights are split greedily, in parameter order, into shards of at most
  // this many bytes (a larger single tensor gets a shard of its own); one
  // shard is written as model.safetensors without an index.
  uint64_t shard_bytes = kHfDefaultShardBytes;
  torch::ScalarType dtype = torch::kFloat;  // kFloat, kBFloat16 or kHalf
  std::filesystem::path tokenizer;          // copied as tokenizer.json when set
};

// Writes `model` as a Hugging Face directory at `out`, which must not exist.
// Built in a staging directory (util/staged_dir.h): `out` appears complete or
// not at all. Safetensors metadata {"format": "pt"}; config.json's
// torch_dtype names the dtype written. Writing a directory that
// load_hf_weights read, in the dtype it had, reproduces it byte for byte when
// it was written here (parameter order in the files, this sharding).
void write_hf_model_dir(Llama& model, const std::filesystem::path& out, const HfExportOptions& options = {});

// "f32"/"float32", "bf16"/"bfloat16", "f16"/"float16" -> dtype; others throw.
torch::ScalarType hf_export_dtype_from_name(const std::string& name);

}  // namespace replay::model
