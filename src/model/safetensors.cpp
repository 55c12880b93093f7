#include "model/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "util/error.h"
#include "util/fs.h"

namespace replay::model {

static_assert(std::endian::native == std::endian::little,
              "safetensors stores little-endian data; this code copies bytes as they are");

namespace {

const std::vector<std::pair<std::string, torch::ScalarType>>& dtype_names() {
  static const std::vector<std::pair<std::string, torch::ScalarType>> names = {
      {"F64", torch::kDouble}, {"F32", torch::kFloat},  {"F16", torch::kHalf},
      {"BF16", torch::kBFloat16}, {"I64", torch::kLong}, {"I32", torch::kInt},
      {"I16", torch::kShort},  {"I8", torch::kChar},    {"U8", torch::kByte},
      {"BOOL", torch::kBool}};
  return names;
}

std::string dtype_name(torch::ScalarType type, const std::string& tensor) {
  for (const auto& [name, t] : dtype_names())
    if (t == type) return name;
  throw Error("safetensors: tensor '" + tensor + "' has unsupported dtype " +
              std::string(c10::toString(type)));
}

}  // namespace

void write_safetensors(const std::filesystem::path& path, const NamedTensors& tensors,
                       const Metadata& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> data;
  uint64_t offset = 0;
  std::set<std::string> seen;
  for (const auto& [name, tensor] : tensors) {
    if (name == "__metadata__" || !seen.insert(name).second)
      throw Error("safetensors: duplicate or reserved tensor name '" + name + "' for " +
                  path.string());
    torch::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
    const uint64_t bytes = t.numel() * t.element_size();
    header[name] = {{"dtype", dtype_name(t.scalar_type(), name)},
                    {"shape", t.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(std::move(t));
  }
  std::string json = header.dump();
  // Pad with spaces so the data starts 8-byte aligned (as the reference writer does).
  json.append((8 - json.size() % 8) % 8, ' ');
  const uint64_t header_len = json.size();

  fs::AtomicFile file(path);
  file.write(&header_len, sizeof header_len);
  file.write(json);
  for (const torch::Tensor& t : data) file.write(t.data_ptr(), t.numel() * t.element_size());
  file.commit();
}

SafetensorsContents read_safetensors(const std::filesystem::path& path) {
  const fs::MappedFile file(path);
  const std::string where = "safetensors file " + path.string();
  if (file.size() < 8) throw Error(where + ": too short for a header (" +
                                   std::to_string(file.size()) + " bytes)");
  uint64_t header_len = 0;
  std::memcpy(&header_len, file.data(), 8);
  if (header_len > file.size() - 8)
    throw Error(where + ": header length " + std::to_string(header_len) +
                " runs past the end of the file (truncated?)");
  nlohmann::ordered_json header;
  try {
    header = nlohmann::ordered_json::parse(
        std::string_view(reinterpret_cast<const char*>(file.data()) + 8, header_len));
  } catch (const nlohmann::json::exception& e) {
    throw Error(where + ": header is not valid JSON: " + e.what());
  }
  if (!header.is_object()) throw Error(where + ": header is not a JSON object");
  const uint8_t* data = file.data() + 8 + header_len;
  const uint64_t data_size = file.size() - 8 - header_len;

  SafetensorsContents out;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const auto& [name, entry] : header.items()) {
    try {
      if (name == "__metadata__") {
        for (const auto& [key, value] : entry.items())
          out.metadata[key] = value.get<std::string>();
        continue;
      }
      const std::string dtype = entry.at("dtype").get<std::string>();
      auto it = std::find_if(dtype_names().begin(), dtype_names().end(),
                             [&](const auto& p) { return p.first == dtype; });
      if (it == dtype_names().end())
        throw Error(where + ": tensor '" + name + "' has unsupported dtype '" + dtype + "'");
      const auto shape = entry.at("shape").get<std::vector<int64_t>>();
      const auto offsets = entry.at("data_offsets").get<std::vector<uint64_t>>();
      if (offsets.size() != 2 || offsets[0] > offsets[1] || offsets[1] > data_size)
        throw Error(where + ": tensor '" + name + "' has data_offsets outside the file");
      torch::Tensor t = torch::empty(shape, it->second);
      const uint64_t bytes = t.numel() * t.element_size();
      if (bytes != offsets[1] - offsets[0])
        throw Error(where + ": tensor '" + name + "' shape needs " + std::to_string(bytes) +
                    " bytes but data_offsets span " + std::to_string(offsets[1] - offsets[0]));
      if (bytes) std::memcpy(t.data_ptr(), data + offsets[0], bytes);
      ranges.emplace_back(offsets[0], offsets[1]);
      out.tensors.emplace_back(name, std::move(t));
    } catch (const nlohmann::json::exception& e) {
      throw Error(where + ": bad header entry '" + name + "': " + e.what());
    } catch (const c10::Error& e) {
      throw Error(where + ": bad shape for tensor '" + name + "'");
    }
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second)
      throw Error(where + ": tensor data ranges overlap");
  return out;
}

void save_safetensors(torch::nn::Module& module, const std::filesystem::path& path,
                      const Metadata& metadata) {
  NamedTensors tensors;
  for (const auto& item : module.named_parameters()) tensors.emplace_back(item.key(), item.value());
  for (const auto& item : module.named_buffers()) tensors.emplace_back(item.key(), item.value());
  write_safetensors(path, tensors, metadata);
}

Metadata load_safetensors(torch::nn::Module& module, const std::filesystem::path& path) {
  SafetensorsContents contents = read_safetensors(path);
  std::map<std::string, torch::Tensor> targets;
  for (const auto& item : module.named_parameters()) targets[item.key()] = item.value();
  for (const auto& item : module.named_buffers()) targets[item.key()] = item.value();

  const std::string where = "safetensors file " + path.string();
  // Validate everything before copying anything: a bad file leaves the
  // model untouched.
  std::vector<std::pair<torch::Tensor, const torch::Tensor*>> copies;
  std::string unexpected;
  for (const auto& [name, tensor] : contents.tensors) {
    auto it = targets.find(name);
    if (it == targets.end()) {
      // A tied model has no lm_head parameter; HF writers may still store it.
      if (name == "lm_head.weight" && targets.count("model.embed_tokens.weight")) continue;
      unexpected += (unexpected.empty() ? "" : ", ") + name;
      continue;
    }
    if (it->second.sizes() != tensor.sizes())
      throw Error(where + ": tensor '" + name + "' has shape " + c10::str(tensor.sizes()) +
                  " but the model expects " + c10::str(it->second.sizes()));
    copies.emplace_back(it->second, &tensor);
    targets.erase(it);
  }
  if (!unexpected.empty()) throw Error(where + ": unexpected tensors: " + unexpected);
  if (!targets.empty()) {
    std::string missing;
    for (const auto& [name, t] : targets) missing += (missing.empty() ? "" : ", ") + name;
    throw Error(where + ": missing tensors: " + missing);
  }
  torch::NoGradGuard no_grad;
  for (auto& [target, source] : copies) target.copy_(*source);
  return contents.metadata;
}

}  // namespace replay::model
