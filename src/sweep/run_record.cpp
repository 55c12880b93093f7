#include "sweep/run_record.h"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "analysis/metrics.h"
#include "run/layout.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/hash.h"

namespace replay::sweep {

namespace stdfs = std::filesystem;
using analysis::RunStatus;
using nlohmann::json;

namespace {

// "<sweep with unsafe characters as _>-<8 hex digits of its hash>.json".
std::string membership_file_name(const std::string& sweep) {
  std::string safe;
  for (char c : sweep) safe += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.') ? c : '_';
  return safe + "-" + hash::xxh128_hex(sweep).substr(0, 8) + ".json";
}

json target_json(const analysis::TargetIdentity& t) {
  return {{"source", t.source}, {"domain", t.domain}, {"store", t.store}, {"manifest_hash", t.manifest_hash}};
}

analysis::TargetIdentity target_of(const json& j) {
  return {j.at("source").get<std::string>(), j.at("domain").get<std::string>(), j.at("store").get<std::string>(),
          j.at("manifest_hash").get<std::string>()};
}

Membership read_membership(const stdfs::path& file) {
  try {
    const json j = json::parse(fs::read_file(file));
    Membership m{j.at("sweep"), j.at("id"), j.at("config"), target_of(j.at("target")), {}};
    for (const auto& n : j.at("names"))
      m.names.emplace_back(n.at("name").get<std::string>(), n.at("tags").get<std::map<std::string, std::string>>());
    return m;
  } catch (const json::exception& e) {
    throw Error(file.string() + ": not a sweep membership record: " + e.what());
  }
}

std::vector<Membership> memberships_of(const stdfs::path& run_dir) {
  std::vector<Membership> out;
  const stdfs::path dir = run_dir / run::kMembershipsDir;
  if (!stdfs::is_directory(dir)) return out;
  std::vector<stdfs::path> files;
  for (const auto& entry : stdfs::directory_iterator(dir))
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  std::sort(files.begin(), files.end());  // the same order on every rebuild
  for (const auto& f : files) out.push_back(read_membership(f));
  return out;
}

// Writes the folder's status where the registry's differs; done is final.
// True when it marked the run done.
bool apply_outcome(analysis::Registry& registry, const std::string& id, const RunOutcome& outcome) {
  const RunStatus now = registry.get_run(id).status;
  if (now == RunStatus::done || now == outcome.status) return false;
  switch (outcome.status) {
    case RunStatus::done:
      registry.mark_done(id, outcome.tokens_per_s);
      return true;
    case RunStatus::failed:
      registry.mark_failed(id, outcome.error);
      return false;
    case RunStatus::interrupted:
      registry.mark_interrupted(id, outcome.error);
      return false;
    default:
      return false;
  }
}

}  // namespace

void write_membership(const stdfs::path& run_dir, const Membership& m) {
  json names = json::array();
  for (const auto& [name, tags] : m.names) names.push_back({{"name", name}, {"tags", tags}});
  const json j = {{"sweep", m.sweep}, {"id", m.id}, {"config", m.config}, {"target", target_json(m.target)},
                  {"names", names}};
  stdfs::create_directories(run_dir / run::kMembershipsDir);
  fs::write_file_atomic(run_dir / run::kMembershipsDir / membership_file_name(m.sweep), j.dump(2) + "\n");
}

void write_outcome(const stdfs::path& run_dir, const RunOutcome& o) {
  const json j = {{"status", analysis::run_status_name(o.status)},
                  {"error", o.error},
                  {"tokens_per_s", o.tokens_per_s ? json(*o.tokens_per_s) : json(nullptr)},
                  {"branched_from", o.branched_from},
                  {"branch_step", o.branch_step}};
  fs::write_file_atomic(run_dir / run::kStatusFile, j.dump(2) + "\n");
}

std::optional<RunOutcome> read_outcome(const stdfs::path& run_dir) {
  const stdfs::path file = run_dir / run::kStatusFile;
  if (!stdfs::exists(file)) return std::nullopt;
  try {
    const json j = json::parse(fs::read_file(file));
    RunOutcome o;
    o.status = analysis::parse_run_status(j.at("status").get<std::string>());
    o.error = j.at("error").get<std::string>();
    if (!j.at("tokens_per_s").is_null()) o.tokens_per_s = j.at("tokens_per_s").get<double>();
    o.branched_from = j.at("branched_from").get<std::string>();
    o.branch_step = j.at("branch_step").get<int64_t>();
    return o;
  } catch (const json::exception& e) {
    throw Error(file.string() + ": not a run status record: " + e.what());
  }
}

std::optional<RunOutcome> folder_outcome(const stdfs::path& run_dir) {
  std::optional<RunOutcome> outcome = read_outcome(run_dir);
  if (!stdfs::exists(run_dir / run::kSummaryFile)) return outcome;
  if (!outcome || outcome->status != RunStatus::done) return RunOutcome{};  // completed since
  return outcome;
}

RebuildSummary rebuild_registry(const stdfs::path& runs_dir, analysis::Registry& registry) {
  if (!stdfs::is_directory(runs_dir)) throw Error(runs_dir.string() + ": no such runs folder");
  std::vector<stdfs::path> dirs;
  for (const auto& entry : stdfs::directory_iterator(runs_dir))
    if (entry.is_directory() && entry.path().filename() != run::kSharedDirName &&
        entry.path().filename() != run::kReportsDir)
      dirs.push_back(entry.path());
  std::sort(dirs.begin(), dirs.end());
  RebuildSummary summary;
  std::vector<std::pair<std::string, RunOutcome>> branched;  // recorded once every parent is in
  for (const auto& dir : dirs) {
    const std::vector<Membership> memberships = memberships_of(dir);
    if (memberships.empty()) {
      summary.skipped.push_back(dir.string());
      continue;
    }
    std::vector<analysis::NewRun> entries;
    for (const Membership& m : memberships)
      for (const auto& [name, tags] : m.names)
        entries.push_back({m.config, m.id, m.sweep, name, tags, stdfs::absolute(dir).string(), m.target});
    registry.add_runs(entries);
    ++summary.folders;
    summary.names += static_cast<int>(entries.size());
    const std::string& id = memberships.front().id;
    if (stdfs::exists(dir / run::kMetricsFile))
      registry.import_metrics(id, analysis::read_metrics(dir / run::kMetricsFile));
    const std::optional<RunOutcome> outcome = folder_outcome(dir);
    if (!outcome) {
      ++summary.unfinished;
      continue;
    }
    if (apply_outcome(registry, id, *outcome) && !outcome->branched_from.empty()) branched.emplace_back(id, *outcome);
    if (outcome->status == RunStatus::done) ++summary.done;
    else if (outcome->status == RunStatus::failed) ++summary.failed;
    else ++summary.interrupted;
  }
  for (const auto& [id, outcome] : branched)
    if (registry.find_run(outcome.branched_from)) registry.record_branch(id, outcome.branched_from, outcome.branch_step);
  return summary;
}

}  // namespace replay::sweep
