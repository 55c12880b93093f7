#include "analysis/cells.h"

#include <algorithm>
#include <cctype>
#include <cmath>

namespace replay::analysis {

namespace {

int64_t seed_of(const RunRecord& r) {
  auto s = r.tag_number("seed");
  return s ? static_cast<int64_t>(std::llround(*s)) : 0;
}

std::string cell_key(const RunRecord& r) {
  std::string key = r.sweep + '\n' + cell_name(r.name);
  for (const auto& [k, v] : r.tags)
    if (k != "seed") key += '\n' + k + '=' + v;
  return key;
}

}  // namespace

std::string cell_name(const std::string& run_name) {
  auto at = run_name.rfind("-seed=");
  if (at == std::string::npos || at + 6 == run_name.size()) return run_name;
  for (size_t i = at + 6; i < run_name.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(run_name[i]))) return run_name;
  return run_name.substr(0, at);
}

std::vector<int64_t> Cell::seeds() const {
  std::vector<int64_t> out;
  for (const auto& r : runs) out.push_back(seed_of(r));
  return out;
}

std::vector<SeedLoss> Cell::losses(const std::string& split) const {
  std::vector<SeedLoss> out;
  for (const auto& r : runs) {
    if (r.status != RunStatus::done) continue;
    auto it = r.final_metrics.find(split);
    if (it != r.final_metrics.end() && std::isfinite(it->second.loss)) out.push_back({seed_of(r), it->second.loss});
  }
  return out;
}

std::vector<Cell> group_cells(const std::vector<RunRecord>& runs) {
  std::vector<Cell> cells;
  std::map<std::string, size_t> index;
  for (const auto& r : runs) {
    auto [it, fresh] = index.emplace(cell_key(r), cells.size());
    if (fresh) {
      Cell c{r.sweep, cell_name(r.name), r.tags, {}};
      c.tags.erase("seed");
      cells.push_back(std::move(c));
    }
    cells[it->second].runs.push_back(r);
  }
  for (auto& c : cells)
    std::stable_sort(c.runs.begin(), c.runs.end(),
                     [](const RunRecord& a, const RunRecord& b) { return seed_of(a) < seed_of(b); });
  return cells;
}

bool any_repeated(const std::vector<Cell>& cells) {
  return std::any_of(cells.begin(), cells.end(), [](const Cell& c) { return c.runs.size() >= 2; });
}

}  // namespace replay::analysis
