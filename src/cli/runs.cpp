// `replay runs`: lists the runs of the registry with their target, status and
// final metrics. Safe to run while a sweep is writing (the registry is in WAL
// mode). A run with several names in its sweep (identical configs) is one
// line, "a = b"; a `running` run whose trainer is gone is shown `stale`.
// When some cell (runs differing only in their seed, analysis/cells.h) has
// two or more runs, a second table follows the runs: one line per cell with
// its seeds and the mean +- SE of each split's final loss over the done
// runs ("1 seed" where there is one). --json prints both as one object.
#include <algorithm>
#include <cmath>
#include <memory>
#include <cstdio>
#include <ctime>
#include <set>
#include <string>
#include <vector>

#include "analysis/cells.h"
#include "analysis/registry.h"
#include "analysis/summaries.h"
#include "cli/command.h"

namespace {

using namespace replay::analysis;

struct Options {
  std::string db = kDefaultRegistryPath;
  std::string sweep, status, target;
  bool show_ids = false;
  bool json = false;
};

// A stale run has no end time: its time is unknown, not still counting.
std::string duration_text(const RunRecord& r, bool stale) {
  if (!r.started_at || (stale && !r.ended_at)) return "";
  double end = r.ended_at ? *r.ended_at : static_cast<double>(std::time(nullptr));
  long s = std::lround(end - *r.started_at);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, s / 60 % 60);
  else std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  return buf;
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

void run(const Options& o) {
  Registry reg(o.db, /*create=*/false);
  RunFilter filter;
  if (!o.sweep.empty()) filter.sweep = o.sweep;
  if (!o.status.empty()) filter.status = parse_run_status(o.status);
  auto runs = reg.list_runs(filter);
  if (!o.target.empty())
    std::erase_if(runs, [&](const RunRecord& r) { return !r.effective_target().matches(o.target); });
  const std::vector<Cell> cells = group_cells(runs);
  if (o.json) {
    std::printf("%s\n", runs_json(runs, cells).dump(2).c_str());
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
  cmd->callback([opts] { run(*opts); });
}

}  // namespace

REPLAY_COMMAND(75, setup);
