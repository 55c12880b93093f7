#include "train/checkpoint.h"

#include "run/layout.h"

#include <algorithm>
#include <cstdio>

#include "util/error.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/staged_dir.h"

namespace replay::train {

namespace {

constexpr const char* kPrefix = "step-";

uint64_t file_checksum(const stdfs::path& path, uint64_t* size) {
  fs::MappedFile map(path);
  *size = map.size();
  return hash::xxh3_64(map.data(), map.size());
}

// Step number of a "step-NNN" directory name, or -1.
int64_t parse_step(const std::string& name) {
  if (name.rfind(kPrefix, 0) != 0) return -1;
  std::string digits = name.substr(std::string(kPrefix).size());
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), ::isdigit)) return -1;
  return std::stoll(digits);
}

}  // namespace

nlohmann::json to_json(const CheckpointState& s) {
  return {{"step", s.step},
          {"phase", s.phase},
          {"phase_name", s.phase_name},
          {"phase_step", s.phase_step},
          {"lr", s.lr},
          {"sequences_consumed", s.sequences_consumed},
          {"tokens", s.tokens},
          {"metrics_bytes", s.metrics_bytes},
          {"config_hash", s.config_hash},
          {"has_optimizer", s.has_optimizer},
          {"cpu_threads", s.cpu_threads}};
}

CheckpointState state_from_json(const nlohmann::json& j, const std::string& what) {
  try {
    CheckpointState s;
    s.step = j.at("step").get<int64_t>();
    s.phase = j.at("phase").get<int64_t>();
    s.phase_name = j.at("phase_name").get<std::string>();
    s.phase_step = j.at("phase_step").get<int64_t>();
    s.lr = j.at("lr").get<double>();
    s.sequences_consumed = j.at("sequences_consumed").get<int64_t>();
    s.tokens = j.at("tokens").get<int64_t>();
    s.metrics_bytes = j.at("metrics_bytes").get<uint64_t>();
    s.config_hash = j.at("config_hash").get<std::string>();
    s.has_optimizer = j.at("has_optimizer").get<bool>();
    s.cpu_threads = j.value("cpu_threads", int64_t{0});  // absent in older checkpoints
    return s;
  } catch (const nlohmann::json::exception& e) {
    throw Error(what + ": bad checkpoint state: " + e.what());
  }
}

std::string checkpoint_dir_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s%09lld", kPrefix, static_cast<long long>(step));
  return buf;
}

CheckpointWriter::CheckpointWriter(const stdfs::path& root, int64_t step)
    : staged_(root / checkpoint_dir_name(step)) {}

CheckpointWriter::~CheckpointWriter() = default;

void CheckpointWriter::write_file(const std::string& name, const std::string& bytes) {
  const stdfs::path path = dir() / name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw Error("cannot write " + path.string());
  bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) throw Error("short write to " + path.string() + " (disk full?)");
}

stdfs::path CheckpointWriter::commit(const CheckpointState& state) {
  write_file(kStateFile, to_json(state).dump(2) + "\n");
  std::vector<std::string> names;
  for (const auto& entry : stdfs::directory_iterator(dir())) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  nlohmann::json files = nlohmann::json::object();
  for (const auto& name : names) {
    if (name == kCheckpointManifest) continue;
    uint64_t size = 0;
    uint64_t sum = file_checksum(dir() / name, &size);
    files[name] = {{"bytes", size}, {"xxh3", hash::to_hex(sum)}};
  }
  nlohmann::json manifest = {{"format", "replay-checkpoint-1"}, {"step", state.step}, {"files", files}};
  write_file(kCheckpointManifest, manifest.dump(2) + "\n");
  // A stale directory of the same step (a corrupt one set aside earlier, or
  // one written after the checkpoint we resumed from) is replaced.
  staged_.publish(StagedDir::Mode::replace);
  return staged_.final_path();
}

std::string verify_checkpoint(const stdfs::path& dir) {
  nlohmann::json manifest;
  try {
    manifest = nlohmann::json::parse(fs::read_file(dir / kCheckpointManifest));
  } catch (const std::exception& e) {
    return "no readable manifest.json (partial write?)";
  }
  try {
    const auto& files = manifest.at("files");
    for (const char* required : {kWeightsFile, kStateFile}) {
      if (!files.contains(required)) return std::string("manifest lists no ") + required;
    }
    for (const auto& [name, info] : files.items()) {
      stdfs::path path = dir / name;
      if (!stdfs::exists(path)) return name + " is missing";
      uint64_t size = 0;
      uint64_t sum = file_checksum(path, &size);
      if (size != info.at("bytes").get<uint64_t>()) {
        return name + " has " + std::to_string(size) + " bytes, manifest says " +
               std::to_string(info.at("bytes").get<uint64_t>());
      }
      if (hash::to_hex(sum) != info.at("xxh3").get<std::string>()) return name + " checksum mismatch";
    }
  } catch (const std::exception& e) {
    return std::string("bad manifest.json: ") + e.what();
  }
  return "";
}

std::vector<stdfs::path> list_checkpoints(const stdfs::path& root) {
  std::vector<std::pair<int64_t, stdfs::path>> found;
  std::error_code ec;
  if (!stdfs::is_directory(root, ec)) return {};
  for (const auto& entry : stdfs::directory_iterator(root)) {
    if (!entry.is_directory()) continue;
    int64_t step = parse_step(entry.path().filename().string());
    if (step >= 0) found.emplace_back(step, entry.path());
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<stdfs::path> out;
  for (auto& [step, path] : found) out.push_back(path);
  return out;
}

CheckpointInfo read_checkpoint_info(const stdfs::path& dir) {
  auto text = fs::read_file(dir / kStateFile);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error((dir / kStateFile).string() + ": " + e.what());
  }
  return {dir, state_from_json(j, (dir / kStateFile).string())};
}

std::optional<CheckpointInfo> latest_good_checkpoint(
    const stdfs::path& root, const std::function<void(const std::string&)>& report) {
  std::error_code ec;
  if (!stdfs::is_directory(root, ec)) return std::nullopt;
  for (const auto& entry : stdfs::directory_iterator(root)) {
    if (StagedDir::is_leftover(entry.path().filename().string())) {
      report("removing unfinished checkpoint " + entry.path().string());
      stdfs::remove_all(entry.path(), ec);
    }
  }
  for (const auto& dir : list_checkpoints(root)) {
    std::string problem = verify_checkpoint(dir);
    if (problem.empty()) {
      try {
        return read_checkpoint_info(dir);
      } catch (const Error& e) {
        problem = e.what();
      }
    }
    stdfs::path aside = dir;
    aside += ".corrupt";
    report("checkpoint " + dir.string() + " is corrupt (" + problem + "); moved to " +
           aside.string() + ", falling back to the previous one");
    stdfs::remove_all(aside, ec);
    stdfs::rename(dir, aside, ec);
  }
  return std::nullopt;
}

void prune_checkpoints(const stdfs::path& root, int64_t keep) {
  auto dirs = list_checkpoints(root);
  for (size_t i = static_cast<size_t>(std::max<int64_t>(keep, 1)); i < dirs.size(); ++i) {
    std::error_code ec;
    stdfs::remove_all(dirs[i], ec);
  }
}

stdfs::path resolve_init_checkpoint(const stdfs::path& path) {
  if (stdfs::exists(path / kCheckpointManifest)) {
    std::string problem = verify_checkpoint(path);
    if (!problem.empty()) throw Error("init_from " + path.string() + ": corrupt checkpoint: " + problem);
    return path;
  }
  for (const stdfs::path& root : {path / run::kCheckpointsDir, path}) {
    for (const auto& dir : list_checkpoints(root)) {
      if (verify_checkpoint(dir).empty()) return dir;
    }
  }
  throw Error("init_from " + path.string() + ": no good checkpoint there (expected a checkpoint "
              "directory with manifest.json, a run directory with checkpoints/, or a Hugging Face "
              "directory with config.json and model.safetensors or model.safetensors.index.json)");
}

}  // namespace replay::train
