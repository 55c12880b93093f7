// `replay runs`: lists the runs of the registry with their target, status and
// final metrics. Safe to run while a sweep is writing (the registry is in WAL
// mode). A run with several names in its sweep (identical configs) is one
// line, "a = b"; a `running` run whose trainer is gone is shown `stale`.
// When some cell (runs differing only in their seed, analysis/cells.h) has
// two or more runs, a second table follows the runs: one line per cell with
// its seeds and the mean +- SE of each split's final loss over the done
// runs ("1 seed" where there is one). --json prints both as one object.
//
// `replay runs rebuild --runs DIR [--db FILE]` adds every run folder under
// DIR to the registry (default DIR/registry.sqlite), from what the folders
// hold (sweep/run_record.h): after a sweep spread over workers with their own
// registries, or to recover a lost registry. Idempotent; into an existing
// registry it merges.
#include <algorithm>
#include <cmath>
#include <memory>
#include <cstdio>
#include <ctime>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/cells.h"
#include "analysis/registry.h"
#include "analysis/summaries.h"
#include "cli/command.h"
#include "cli/options.h"
#include "run/layout.h"
#include "sweep/run_record.h"
#include "util/duration.h"
#include "util/error.h"
#include "util/fs.h"

namespace {

using namespace replay::analysis;

struct Options {
  std::string db = kDefaultRegistryPath;
  std::string sweep, status, target;
  std::vector<std::string> compares;  // "P/Q": cell names
  bool show_ids = false;
  bool json = false;
};

// A stale run has no end time: its time is unknown, not still counting.
std::string duration_text(const RunRecord& r, bool stale) {
  if (!r.started_at || (stale && !r.ended_at)) return "";
  double end = r.ended_at ? *r.ended_at : static_cast<double>(std::time(nullptr));
  return replay::format_duration(end - *r.started_at);
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], row[i].size());
    }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      std::string cell = row[i];
      if (i + 1 < row.size()) cell.resize(width[i], ' ');
      line += cell + (i + 1 < row.size() ? "  " : "");
    }
    std::printf("%s\n", line.c_str());
  }
}


std::string seeds_text(const Cell& c) {
  std::string out;
  for (int64_t s : c.seeds()) out += (out.empty() ? "" : ",") + std::to_string(s);
  return out;
}

void print_cells(const std::vector<Cell>& cells) {
  std::printf("\ncells (runs that differ only in their seed; final loss mean \u00b1 SE over done seeds)\n");
  std::vector<std::vector<std::string>> rows = {{"sweep", "cell", "runs", "seeds", "final losses"}};
  for (const auto& c : cells) {
    std::string losses;
    for (const auto& split : cell_splits(c))
      losses += (losses.empty() ? "" : "  ") + split + "=" + mean_se_text(c.stats(split), 4);
    rows.push_back({c.sweep, c.name, std::to_string(c.runs.size()), seeds_text(c), losses});
  }
  print_table(rows);
}

// --compare P/Q: cells P and Q, their final losses paired over the seeds
// they share, per split both have (analysis/stats.h).
struct CellComparison {
  std::string p, q;
  std::map<std::string, std::optional<PairedDifference>> by_split;
};

const Cell& find_cell(const std::vector<Cell>& cells, const std::string& name, const std::string& pair) {
  const Cell* found = nullptr;
  for (const auto& c : cells) {
    if (c.name != name) continue;
    if (found)
      throw replay::Error("--compare " + pair + ": cell '" + name + "' is in sweeps " + found->sweep + " and " +
                          c.sweep + ": select one with --sweep");
    found = &c;
  }
  if (!found) throw replay::Error("--compare " + pair + ": no cell named '" + name + "' (see `replay runs`)");
  return *found;
}

std::vector<CellComparison> compare_cells(const std::vector<Cell>& cells, const std::vector<std::string>& pairs) {
  std::vector<CellComparison> out;
  for (const auto& pair : pairs) {
    const auto slash = pair.find('/');
    if (slash == std::string::npos) throw replay::Error("--compare expects P/Q (cell names), got '" + pair + "'");
    const Cell& p = find_cell(cells, pair.substr(0, slash), pair);
    const Cell& q = find_cell(cells, pair.substr(slash + 1), pair);
    CellComparison c{p.name, q.name, {}};
    const std::set<std::string> q_splits = cell_splits(q);
    for (const auto& split : cell_splits(p))
      if (q_splits.count(split)) c.by_split[split] = paired_difference(p.losses(split), q.losses(split));
    out.push_back(std::move(c));
  }
  return out;
}

void print_comparisons(const std::vector<CellComparison>& comparisons) {
  std::printf("\ncomparisons (final loss P - Q, paired over the seeds both ran; 95%% t interval)\n");
  for (const auto& c : comparisons) {
    std::printf("  %s - %s\n", c.p.c_str(), c.q.c_str());
    for (const auto& [split, d] : c.by_split) {
      const std::string text =
          d ? paired_text(*d) + ": " + paired_verdict(*d) : "fewer than 2 shared seeds: no paired difference";
      std::printf("    %-10s %s\n", split.c_str(), text.c_str());
    }
  }
}

nlohmann::json comparisons_json(const std::vector<CellComparison>& comparisons) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& c : comparisons) {
    nlohmann::json splits = nlohmann::json::object();
    for (const auto& [split, d] : c.by_split) splits[split] = d ? paired_json(*d) : nlohmann::json(nullptr);
    out.push_back({{"p", c.p}, {"q", c.q}, {"paired", splits}});
  }
  return out;
}


void run(const Options& o) {
  Registry reg(o.db, /*create=*/false);
  RunFilter filter;
  if (!o.sweep.empty()) filter.sweep = o.sweep;
  if (!o.status.empty()) filter.status = parse_run_status(o.status);
  auto runs = reg.list_runs(filter);
  if (!o.target.empty())
    std::erase_if(runs, [&](const RunRecord& r) { return !r.effective_target().matches(o.target); });
  const std::vector<Cell> cells = group_cells(runs);
  const std::vector<CellComparison> comparisons = compare_cells(cells, o.compares);
  if (o.json) {
    nlohmann::json j = runs_json(runs, cells);
    if (!o.compares.empty()) j["comparisons"] = comparisons_json(comparisons);
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  std::vector<std::vector<std::string>> rows = {
      {"sweep", "run", o.show_ids ? "id" : "id (short)", "target", "status", "step", "time", "tokens/s",
       "final losses", "notes"}};
  size_t counts[5] = {0, 0, 0, 0, 0}, stale_runs = 0;
  for (const auto& r : runs) {
    // The registry says running, but its trainer is gone (its sweep was killed).
    const bool stale = r.trainer_gone();
    ++counts[static_cast<int>(r.status)];
    stale_runs += stale;
    std::string name = r.name;
    for (const auto& alias : r.aliases) name += " = " + alias;
    std::string losses;
    for (const auto& [split, m] : r.final_metrics) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "%s%s=%.4f", losses.empty() ? "" : " ", split.c_str(), m.loss);
      losses += buf;
    }
    std::string notes;
    if (!r.branched_from.empty())
      notes = "branched from " + r.branched_from.substr(0, 12) + " @ step " + std::to_string(r.branch_step);
    if (stale)
      notes += (notes.empty() ? "" : "; ") + std::string("pid ") + std::to_string(r.pid) +
               " gone: rerun the sweep to resume";
    else if (r.status == RunStatus::running && r.pid > 0)
      notes += (notes.empty() ? "" : "; ") + std::string("pid ") + std::to_string(r.pid) + " on " + r.host;
    if (!r.error.empty()) notes += (notes.empty() ? "" : "; ") + r.error.substr(0, 100);
    char tps[32] = "";
    if (r.tokens_per_s) std::snprintf(tps, sizeof tps, "%.0f", *r.tokens_per_s);
    TargetIdentity t = r.effective_target();
    std::string target = o.show_ids ? t.label() : (t.domain.empty() ? t.source : t.domain);
    rows.push_back({r.sweep, name, o.show_ids ? r.id : r.id.substr(0, 12), target.empty() ? "-" : target,
                    stale ? "stale" : run_status_name(r.status), std::to_string(r.step), duration_text(r, stale),
                    tps, losses, notes});
  }
  print_table(rows);
  const auto count = [&](RunStatus s) { return counts[static_cast<int>(s)]; };
  // Interrupted and stale runs are named only when there are some.
  std::string rare;
  if (count(RunStatus::interrupted)) rare += ", " + std::to_string(count(RunStatus::interrupted)) + " interrupted";
  if (stale_runs) rare += ", " + std::to_string(stale_runs) + " stale (trainer gone)";
  std::printf("%zu runs: %zu done, %zu running, %zu queued, %zu failed%s  (%s)\n", runs.size(),
              count(RunStatus::done), count(RunStatus::running) - stale_runs, count(RunStatus::queued),
              count(RunStatus::failed), rare.c_str(), o.db.c_str());
  if (any_repeated(cells)) print_cells(cells);
  if (!comparisons.empty()) print_comparisons(comparisons);
}

struct RebuildOptions {
  std::string runs = replay::run::kDefaultRunsDir;
  std::string db;  // empty: <runs>/registry.sqlite
};

void rebuild(RebuildOptions o) {
  // Before the registry is opened: a registry beside a missing runs folder would create it.
  if (!std::filesystem::is_directory(o.runs)) throw replay::Error(o.runs + ": no such runs folder");
  if (o.db.empty()) o.db = (std::filesystem::path(o.runs) / replay::run::kRegistryFile).string();
  replay::fs::check_output_path(o.db, replay::fs::OutputKind::file, replay::cli::kDbFlag);
  Registry reg(o.db);
  const replay::sweep::RebuildSummary s = replay::sweep::rebuild_registry(o.runs, reg);
  std::printf("rebuilt %s from %s: %d run folders (%d names): %d done, %d failed, %d interrupted, %d not finished\n",
              o.db.c_str(), o.runs.c_str(), s.folders, s.names, s.done, s.failed, s.interrupted, s.unfinished);
  for (const auto& dir : s.skipped) std::printf("  skipped %s: no sweep membership recorded\n", dir.c_str());
}

void setup(CLI::App& app) {
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("runs", "List runs in the registry with status and final metrics");
  cmd->add_option("--db", opts->db, "Run registry (SQLite)")->capture_default_str();
  cmd->add_option("--sweep", opts->sweep, "Only runs of this sweep");
  cmd->add_option("--status", opts->status, "Only runs with this status")
      ->check(CLI::IsMember({"queued", "running", "done", "failed", "interrupted"}));
  cmd->add_option("--target", opts->target,
                  "Only runs on this target: its domain (math), store path, or validation split name");
  cmd->add_flag("--ids", opts->show_ids, "Print full run ids (and target stores)");
  cmd->add_flag("--json", opts->json, "Print the runs and their cells (mean and SE over seeds) as JSON");
  cmd->add_option("--compare", opts->compares,
                  "P/Q (cell names, repeatable): the paired difference of their final losses over shared seeds");
  auto rebuild_opts = std::make_shared<RebuildOptions>();
  auto* rebuild_cmd = cmd->add_subcommand(
      "rebuild", "Add every run folder of a runs folder to a registry (idempotent; merges into an existing one): "
                 "after a sweep spread over workers (--shard), or to recover a lost registry");
  replay::cli::add_runs_option(rebuild_cmd, rebuild_opts->runs);
  replay::cli::add_db_option(rebuild_cmd, rebuild_opts->db);
  rebuild_cmd->callback([rebuild_opts] { rebuild(*rebuild_opts); });
  cmd->callback([cmd, rebuild_cmd, opts] {
    if (cmd->got_subcommand(rebuild_cmd)) return;
    run(*opts);
  });
}

}  // namespace

REPLAY_COMMAND(75, setup);
