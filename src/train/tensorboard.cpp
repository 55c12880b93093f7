#include "train/tensorboard.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_set>

#include "util/hash.h"
#include "util/lines.h"

namespace replay::train {

namespace {

namespace stdfs = std::filesystem;

// The step-record fields TensorBoard shows, as metrics_log.h names them.
constexpr const char* kStepFields[] = {"loss", "lr", "grad_norm", "tokens_per_s"};

// The event files of `dir`, in name order (the order TensorBoard reads them),
// a temporary a start killed mid-write left behind included: its records
// are copies (kept once below) or the only copy of that start's history.
std::vector<stdfs::path> event_files(const stdfs::path& dir) {
  std::vector<stdfs::path> files;
  if (!stdfs::is_directory(dir)) return files;
  for (const auto& entry : stdfs::directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().filename().string().find(tfevents::kFileNamePart) != std::string::npos)
      files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// The scalar events of steps <= `step` in `files`, each distinct record once
// (told apart by a 64-bit hash: a long run's history need not be held twice).
std::vector<std::string> events_through(const std::vector<stdfs::path>& files, int64_t step) {
  std::vector<std::string> kept;
  std::unordered_set<uint64_t> seen;
  for (const auto& file : files) {
    for (std::string& record : tfevents::read_records(file).records) {
      const tfevents::EventFields event = tfevents::parse_event(record);
      if (event.file_version || event.step > step || !seen.insert(hash::xxh3_64(record)).second) continue;
      kept.push_back(std::move(record));
    }
  }
  return kept;
}

std::vector<std::string> converted(std::string_view metrics_text, double wall_time) {
  std::vector<std::string> events;
  for_each_line(metrics_text, [&](std::string_view line) {
    if (line.empty()) return;
    const nlohmann::json record = nlohmann::json::parse(line);
    auto scalars = tensorboard_scalars(record);
    if (!scalars.empty()) events.push_back(tfevents::scalars_event(wall_time, record.at("step").get<int64_t>(), scalars));
  });
  return events;
}

}  // namespace

std::vector<tfevents::Scalar> tensorboard_scalars(const nlohmann::json& record) {
  std::vector<tfevents::Scalar> scalars;
  // Non-finite values are left out: the metrics text a start converts holds
  // them as null, and a curve has no point for them either way.
  auto add = [&](const std::string& tag, const nlohmann::json& value) {
    if (value.is_number() && std::isfinite(value.get<double>()))
      scalars.push_back({tag, static_cast<float>(value.get<double>())});
  };
  const std::string kind = record.value("kind", "");
  if (kind == "step") {
    for (const char* field : kStepFields) add(std::string("train/") + field, record.at(field));
  } else if (kind == "eval") {
    for (const auto& [source, loss] : record.at("val").items()) add("val/" + source, loss);
  } else if (kind == "task") {
    const std::string prefix = "task/" + record.at("task").get<std::string>() + "/";
    add(prefix + "acc", record.at("acc"));
    if (record.contains("acc_norm")) add(prefix + "acc_norm", record.at("acc_norm"));
  }
  return scalars;
}

TensorBoardLog::TensorBoardLog(const stdfs::path& dir, std::optional<int64_t> resumed_after,
                               std::string_view kept_metrics) {
  const double now = tfevents::now_seconds();
  const std::vector<stdfs::path> older = event_files(dir);
  std::vector<std::string> history;
  if (resumed_after) history = events_through(older, *resumed_after);
  if (history.empty()) history = converted(kept_metrics, now);
  file_ = std::make_unique<tfevents::EventFileWriter>(dir / tfevents::event_file_name(now), history);
  for (const auto& file : older) stdfs::remove(file);
}

void TensorBoardLog::write(const nlohmann::json& record) {
  const auto scalars = tensorboard_scalars(record);
  if (!scalars.empty()) 
    file_->write(tfevents::scalars_event(tfevents::now_seconds(), record.at("step").get<int64_t>(), scalars));
}

}  // namespace replay::train
