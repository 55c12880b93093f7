#include "analysis/task_scores.h"

#include <cmath>
#include <cstdio>

namespace replay::analysis {

bool Effect::within_noise() const { return mean == 0 || std::fabs(mean) < 2 * se; }

Effect TaskChange::change() const {
  return {final.acc - first.acc, std::hypot(first.acc_stderr, final.acc_stderr)};
}

std::map<std::string, TaskChange> task_changes(const std::vector<TaskScoreRecord>& scores) {
  std::map<std::string, TaskChange> out;
  for (const auto& s : scores) {
    auto [it, added] = out.try_emplace(s.task, TaskChange{s.task, s, s});
    if (added) continue;
    if (s.step < it->second.first.step) it->second.first = s;
    if (s.step >= it->second.final.step) it->second.final = s;
  }
  return out;
}

std::optional<Effect> mean_change(const std::map<std::string, TaskChange>& changes,
                                  const std::vector<std::string>& tasks) {
  if (tasks.empty()) return std::nullopt;
  double sum = 0, var = 0;
  for (const auto& task : tasks) {
    auto it = changes.find(task);
    if (it == changes.end() || !it->second.has_change()) return std::nullopt;
    Effect e = it->second.change();
    sum += e.mean;
    var += e.se * e.se;
  }
  double n = static_cast<double>(tasks.size());
  return Effect{sum / n, std::sqrt(var) / n};
}

std::string effect_text(const Effect& effect, int decimals) {
  if (!std::isfinite(effect.mean)) return "n/a";
  char buf[96];
  std::snprintf(buf, sizeof buf, "%+.*f ± %.*f", decimals, effect.mean, decimals, effect.se);
  return buf;
}

}  // namespace replay::analysis
