#include "eval/results.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/fs.h"
#include "util/lines.h"
#include "util/staged_dir.h"

namespace replay::eval {

namespace {

using nlohmann::json;

std::string items_jsonl(const TaskResult& r) {
  std::string out;
  for (const auto& item : r.items) {
    json j = {{"id", item.id},           {"scores", item.scores},   {"tokens", item.tokens},
              {"chars", item.chars},     {"predicted", item.predicted}, {"predicted_norm", item.predicted_norm},
              {"gold", item.gold},       {"correct", item.correct}, {"correct_norm", item.correct_norm}};
    out += j.dump() + "\n";
  }
  return out;
}

json task_summary(const TaskResult& r) {
  const Accuracy acc = r.accuracy(false), norm = r.accuracy(true);
  json metrics = json::array();
  if (r.acc) metrics.push_back("acc");
  if (r.acc_norm) metrics.push_back("acc_norm");
  return {{"items", r.items.size()},     {"acc", acc.mean},           {"acc_stderr", acc.stderr_},
          {"acc_norm", norm.mean},       {"acc_norm_stderr", norm.stderr_}, {"metrics", metrics},
          {"requests", r.requests},      {"mismatches", r.mismatches}, {"truncated", r.truncated},
          {"seconds", r.seconds},
          {"items_per_second", r.seconds > 0 ? static_cast<double>(r.items.size()) / r.seconds : 0.0}};
}

void write_into(const std::filesystem::path& dir, const std::string& model, const std::vector<TaskResult>& results) {
  json summary = {{"model", model}, {"tasks", json::object()}};
  for (const auto& r : results) {
    fs::write_file_atomic(dir / (r.task + ".jsonl"), items_jsonl(r));
    summary["tasks"][r.task] = task_summary(r);
  }
  fs::write_file_atomic(dir / "summary.json", summary.dump(2) + "\n");
}

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

json read_summary(const std::filesystem::path& dir) {
  const auto file = dir / "summary.json";
  try {
    return json::parse(fs::read_file(file));
  } catch (const json::exception& e) {
    throw Error(file.string() + ": invalid JSON: " + e.what());
  }
}

// c.gold_a and c.gold_b hold sums over the shared items on entry.
void set_gold_change(Comparison& c, const std::vector<double>& diffs) {
  const double n = static_cast<double>(diffs.size());
  c.gold_a /= n;
  c.gold_b /= n;
  c.gold_diff = c.gold_b - c.gold_a;
  double ss = 0;
  for (double d : diffs) ss += (d - c.gold_diff) * (d - c.gold_diff);
  c.gold_diff_se = n > 1 ? std::sqrt(ss / (n - 1) / n) : 0.0;
}

Comparison compare_outcomes(const std::string& task, bool norm, const std::vector<ItemOutcome>& a,
                            const std::vector<ItemOutcome>& b) {
  Comparison c;
  c.task = task;
  c.norm = norm;
  std::map<std::string, const ItemOutcome*> in_b;
  for (const auto& o : b) in_b[o.id] = &o;
  std::vector<int> xa, xb;
  std::vector<double> gold_diffs;
  for (const auto& o : a) {
    const auto it = in_b.find(o.id);
    if (it == in_b.end()) {
      ++c.only_a;
      continue;
    }
    xa.push_back(norm ? o.correct_norm : o.correct);
    xb.push_back(norm ? it->second->correct_norm : it->second->correct);
    c.gold_a += o.gold_loglik;
    c.gold_b += it->second->gold_loglik;
    gold_diffs.push_back(it->second->gold_loglik - o.gold_loglik);
  }
  c.shared = static_cast<int64_t>(xa.size());
  c.only_b = static_cast<int64_t>(b.size()) - c.shared;
  if (c.shared == 0) throw Error("task '" + task + "': the two result directories share no item id");
  for (size_t i = 0; i < xa.size(); ++i) {
    c.acc_a += xa[i];
    c.acc_b += xb[i];
    c.a_only_right += xa[i] && !xb[i];
    c.b_only_right += !xa[i] && xb[i];
  }
  c.acc_a /= static_cast<double>(c.shared);
  c.acc_b /= static_cast<double>(c.shared);
  c.diff = c.acc_b - c.acc_a;
  set_gold_change(c, gold_diffs);
  c.p_value = mcnemar_exact_p(c.a_only_right, c.b_only_right);
  c.ci = paired_bootstrap(xa, xb, 10000, 1234, 0.95);
  return c;
}

}  // namespace

void write_results(const std::filesystem::path& dir, const std::string& model, const std::vector<TaskResult>& results) {
  if (std::filesystem::is_directory(dir)) {
    write_into(dir, model, results);
    return;
  }
  StagedDir staged(dir);
  write_into(staged.path(), model, results);
  if (!staged.publish(StagedDir::Mode::keep_existing))
    throw Error(dir.string() + ": appeared while results were being written; nothing written");
}

std::vector<ItemOutcome> read_item_outcomes(const std::filesystem::path& jsonl) {
  std::vector<ItemOutcome> out;
  const std::string text = fs::read_file(jsonl);
  for_each_line(text, [&](size_t line, std::string_view content) {
    if (content.empty()) return;
    try {
      const json j = json::parse(content);
      const auto& scores = j.at("scores");
      out.push_back({j.at("id").get<std::string>(), j.at("correct").get<bool>(), j.at("correct_norm").get<bool>(),
                     scores.at(j.at("gold").get<size_t>()).get<double>()});
    } catch (const json::exception& e) {
      throw Error(jsonl.string() + ": line " + std::to_string(line) + ": " + e.what());
    }
  });
  return out;
}

double mcnemar_exact_p(int64_t b, int64_t c) {
  const int64_t n = b + c, k = std::min(b, c);
  if (n == 0) return 1.0;
  double tail = 0;
  for (int64_t i = 0; i <= k; ++i)
    tail += std::exp(std::lgamma(n + 1.0) - std::lgamma(i + 1.0) - std::lgamma(n - i + 1.0) - n * std::log(2.0));
  return std::min(1.0, 2.0 * tail);
}

Interval paired_bootstrap(const std::vector<int>& a, const std::vector<int>& b, int64_t resamples, uint64_t seed,
                          double level) {
  const size_t n = a.size();
  if (n == 0 || resamples <= 0) return {};
  std::vector<double> diffs(static_cast<size_t>(resamples));
  uint64_t state = seed;
  for (auto& d : diffs) {
    int64_t sum = 0;
    for (size_t i = 0; i < n; ++i) {
      const size_t k = splitmix64(state) % n;
      sum += b[k] - a[k];
    }
    d = static_cast<double>(sum) / static_cast<double>(n);
  }
  std::sort(diffs.begin(), diffs.end());
  const auto lo = static_cast<size_t>(std::floor((1 - level) / 2 * static_cast<double>(resamples)));
  return {diffs[lo], diffs[diffs.size() - 1 - lo]};
}

std::vector<Comparison> compare_dirs(const std::filesystem::path& a, const std::filesystem::path& b) {
  const json sa = read_summary(a), sb = read_summary(b);
  std::vector<Comparison> out;
  const json tasks_a = sa.value("tasks", json::object()), tasks_b = sb.value("tasks", json::object());
  for (const auto& [task, ta] : tasks_a.items()) {
    if (!tasks_b.contains(task)) continue;
    const auto ia = read_item_outcomes(a / (task + ".jsonl")), ib = read_item_outcomes(b / (task + ".jsonl"));
    out.push_back(compare_outcomes(task, false, ia, ib));
    const json& tb = tasks_b.at(task);
    auto has_norm = [](const json& t) {
      const auto m = t.value("metrics", json::array());
      return std::find(m.begin(), m.end(), "acc_norm") != m.end();
    };
    if (has_norm(ta) && has_norm(tb)) out.push_back(compare_outcomes(task, true, ia, ib));
  }
  if (out.empty()) throw Error(a.string() + " and " + b.string() + " share no task (see their summary.json)");
  return out;
}

}  // namespace replay::eval
