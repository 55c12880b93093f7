#include "model/safetensors.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

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
                       const Metadata& metadata, std::optional<torch::ScalarType> float_dtype) {
  auto stored_dtype = [&](const torch::Tensor& t) {
    return float_dtype && t.is_floating_point() ? *float_dtype : t.scalar_type();
  };
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  std::set<std::string> seen;
  for (const auto& [name, tensor] : tensors) {
    if (name == "__metadata__" || !seen.insert(name).second)
      throw Error("safetensors: duplicate or reserved tensor name '" + name + "' for " +
                  path.string());
    const torch::ScalarType dtype = stored_dtype(tensor);
    const uint64_t bytes = tensor.numel() * c10::elementSize(dtype);
    header[name] = {{"dtype", dtype_name(dtype, name)},
                    {"shape", tensor.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string json = header.dump();
  // Pad with spaces so the data starts 8-byte aligned (as the reference writer does).
  json.append((8 - json.size() % 8) % 8, ' ');
  const uint64_t header_len = json.size();

  fs::AtomicFile file(path);
  file.write(&header_len, sizeof header_len);
  file.write(json);
  // One tensor converted at a time: the peak is one tensor, not the file.
  for (const auto& [name, tensor] : tensors) {
    const torch::Tensor t = tensor.detach().to(torch::kCPU, stored_dtype(tensor)).contiguous();
    file.write(t.data_ptr(), t.numel() * t.element_size());
  }
  file.commit();
}

namespace {

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference reader's limit

// Parses the header JSON, noting any name that occurs twice at the top level
// (a plain parse would silently keep one of them).
nlohmann::ordered_json parse_header_json(std::string_view text, const std::string& where) {
  std::set<std::string> names;
  std::string duplicate;
  auto note_keys = [&](int depth, nlohmann::ordered_json::parse_event_t event,
                       nlohmann::ordered_json& parsed) {
    if (depth == 1 && event == nlohmann::ordered_json::parse_event_t::key &&
        !names.insert(parsed.get<std::string>()).second && duplicate.empty())
      duplicate = parsed.get<std::string>();
    return true;
  };
  nlohmann::ordered_json header;
  try {
    header = nlohmann::ordered_json::parse(text, note_keys);
  } catch (const nlohmann::json::exception& e) {
    throw Error(where + ": header is not valid JSON: " + e.what());
  }
  if (!duplicate.empty()) throw Error(where + ": tensor name '" + duplicate + "' occurs twice in the header");
  if (!header.is_object()) throw Error(where + ": header is not a JSON object");
  return header;
}

torch::ScalarType dtype_of(const std::string& dtype, const std::string& where, const std::string& tensor) {
  for (const auto& [name, type] : dtype_names())
    if (name == dtype) return type;
  throw Error(where + ": tensor '" + tensor + "' has unsupported dtype '" + dtype + "'");
}

// product(shape) x element size, refusing negative sizes and overflow.
uint64_t byte_count(const std::vector<int64_t>& shape, torch::ScalarType dtype, const std::string& where,
                    const std::string& tensor) {
  uint64_t bytes = c10::elementSize(dtype);
  for (int64_t d : shape) {
    if (d < 0 || __builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes))
      throw Error(where + ": tensor '" + tensor + "' has an impossible shape");
  }
  return bytes;
}

}  // namespace

std::string safetensors_dtype_name(torch::ScalarType type, const std::string& tensor) {
  return dtype_name(type, tensor);
}

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path) : file_(path) {
  if (file_.size() < 8)
    throw Error(where() + ": too short for a header (" + std::to_string(file_.size()) + " bytes)");
  uint64_t header_len = 0;
  std::memcpy(&header_len, file_.data(), 8);
  if (header_len > kMaxHeaderBytes)
    throw Error(where() + ": header length " + std::to_string(header_len) + " exceeds 100 MB");
  if (header_len > file_.size() - 8)
    throw Error(where() + ": header length " + std::to_string(header_len) +
                " runs past the end of the file (truncated?)");
  data_ = file_.data() + 8 + header_len;
  parse_header(header_len);
  check_tiling(file_.size() - 8 - header_len);
}

void SafetensorsFile::parse_header(uint64_t header_len) {
  const auto header = parse_header_json(
      std::string_view(reinterpret_cast<const char*>(file_.data()) + 8, header_len), where());
  for (const auto& [name, item] : header.items()) {
    try {
      if (name == "__metadata__") {
        for (const auto& [key, value] : item.items()) metadata_[key] = value.get<std::string>();
        continue;
      }
      Entry e{name, dtype_of(item.at("dtype").get<std::string>(), where(), name),
              item.at("shape").get<std::vector<int64_t>>()};
      const auto offsets = item.at("data_offsets").get<std::vector<uint64_t>>();
      if (offsets.size() != 2 || offsets[0] > offsets[1])
        throw Error(where() + ": tensor '" + name + "' has malformed data_offsets");
      e.begin = offsets[0];
      e.end = offsets[1];
      const uint64_t bytes = byte_count(e.shape, e.dtype, where(), name);
      if (bytes != e.end - e.begin)
        throw Error(where() + ": tensor '" + name + "' shape needs " + std::to_string(bytes) +
                    " bytes but data_offsets span " + std::to_string(e.end - e.begin));
      entries_.push_back(std::move(e));
    } catch (const nlohmann::json::exception& ex) {
      throw Error(where() + ": bad header entry '" + name + "': " + ex.what());
    }
  }
}

// Sorted by offset, the tensors must cover [0, data_size) exactly.
void SafetensorsFile::check_tiling(uint64_t data_size) const {
  std::vector<const Entry*> sorted;
  for (const Entry& e : entries_) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(), [](const Entry* a, const Entry* b) {
    return std::tie(a->begin, a->end) < std::tie(b->begin, b->end);
  });
  uint64_t expected = 0;
  for (const Entry* e : sorted) {
    if (e->begin != expected)
      throw Error(where() + ": tensor '" + e->name + "' starts at byte " + std::to_string(e->begin) +
                  " of the data, expected " + std::to_string(expected) +
                  (e->begin < expected ? " (overlaps the previous tensor)" : " (gap before it)"));
    expected = e->end;
  }
  if (expected != data_size)
    throw Error(where() + ": tensors cover " + std::to_string(expected) + " data bytes but the file holds " +
                std::to_string(data_size) + (expected > data_size ? " (truncated?)" : " (trailing bytes)"));
}

const SafetensorsFile::Entry* SafetensorsFile::find(const std::string& name) const {
  for (const Entry& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

torch::Tensor SafetensorsFile::view(const Entry& e) const {
  // from_blob wants a non-const pointer; the tensor is only ever read.
  void* bytes = const_cast<uint8_t*>(data_ + e.begin);
  return torch::from_blob(bytes, e.shape, torch::TensorOptions().dtype(e.dtype));
}

namespace {

// madvise over the whole pages inside [begin, begin + bytes); advice only, so
// failures (a kernel before 5.14 has no MADV_POPULATE_WRITE) are ignored.
// (Transparent huge pages for the fresh parameters were measured too and
// left out: on this project's VM, first-touching 2.5 GB took 2.3-7.9 s with
// them against 1.5-1.8 s without.)
void advise_pages(const void* begin, size_t bytes, int advice) {
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto start = (reinterpret_cast<uintptr_t>(begin) + page - 1) / page * page;
  const auto stop = (reinterpret_cast<uintptr_t>(begin) + bytes) / page * page;
  if (stop > start) (void)::madvise(reinterpret_cast<void*>(start), stop - start, advice);
}

}  // namespace

void SafetensorsFile::copy_to(torch::Tensor& target, const Entry& entry) const { target.copy_(view(entry)); }

void populate_for_writing(const std::vector<torch::Tensor>& tensors) {
  // 16 MiB pieces of every tensor, spread over the torch threads: zeroing
  // fresh pages is the kernel's work and scales with cores.
  constexpr int64_t kPiece = int64_t{16} << 20;
  std::vector<std::pair<char*, int64_t>> pieces;
  for (const auto& t : tensors) {
    if (!t.device().is_cpu() || !t.is_contiguous()) continue;
    auto* base = static_cast<char*>(t.data_ptr());
    const auto bytes = static_cast<int64_t>(t.nbytes());
    for (int64_t at = 0; at < bytes; at += kPiece) pieces.emplace_back(base + at, std::min(kPiece, bytes - at));
  }
  at::parallel_for(0, static_cast<int64_t>(pieces.size()), 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      advise_pages(pieces[i].first, static_cast<size_t>(pieces[i].second), MADV_POPULATE_WRITE);
  });
}

SafetensorsContents read_safetensors(const std::filesystem::path& path) {
  const SafetensorsFile file(path);
  SafetensorsContents out;
  out.metadata = file.metadata();
  for (const auto& e : file.entries()) out.tensors.emplace_back(e.name, file.view(e).clone());
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
  const SafetensorsFile file(path);
  std::map<std::string, torch::Tensor> targets;
  for (const auto& item : module.named_parameters()) targets[item.key()] = item.value();
  for (const auto& item : module.named_buffers()) targets[item.key()] = item.value();

  const std::string where = file.where();
  // Validate everything before copying anything: a bad file leaves the
  // model untouched.
  std::vector<std::pair<torch::Tensor, const SafetensorsFile::Entry*>> copies;
  std::string unexpected;
  for (const auto& entry : file.entries()) {
    const std::string& name = entry.name;
    auto it = targets.find(name);
    if (it == targets.end()) {
      // A tied model has no lm_head parameter; HF writers may still store it.
      if (name == "lm_head.weight" && targets.count("model.embed_tokens.weight")) continue;
      unexpected += (unexpected.empty() ? "" : ", ") + name;
      continue;
    }
    if (it->second.sizes() != c10::IntArrayRef(entry.shape))
      throw Error(where + ": tensor '" + name + "' has shape " + c10::str(c10::IntArrayRef(entry.shape)) +
                  " but the model expects " + c10::str(it->second.sizes()));
    copies.emplace_back(it->second, &entry);
    targets.erase(it);
  }
  if (!unexpected.empty()) throw Error(where + ": unexpected tensors: " + unexpected);
  if (!targets.empty()) {
    std::string missing;
    for (const auto& [name, t] : targets) missing += (missing.empty() ? "" : ", ") + name;
    throw Error(where + ": missing tensors: " + missing);
  }
  torch::NoGradGuard no_grad;
  const fs::ReadAhead read_ahead({path});
  std::vector<torch::Tensor> fresh;
  for (const auto& copy : copies) fresh.push_back(copy.first);
  populate_for_writing(fresh);
  for (auto& [target, entry] : copies) file.copy_to(target, *entry);
  return file.metadata();
}

}  // namespace replay::model
