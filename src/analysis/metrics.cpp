#include "analysis/metrics.h"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>

#include "run/layout.h"
#include "util/error.h"
#include "util/fs.h"

namespace replay::analysis {

namespace {

using json = nlohmann::json;

int64_t get_int(const json& obj, const char* key, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number())
    throw Error(where + ": missing or non-numeric \"" + key + "\"");
  return it->get<int64_t>();
}

double get_number(const json& obj, const char* key, const std::string& where, bool required) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    if (required) throw Error(where + ": missing \"" + key + "\"");
    return 0.0;
  }
  // nlohmann writes NaN/inf (a diverged run) as null: keep it as NaN.
  if (it->is_null()) return std::numeric_limits<double>::quiet_NaN();
  if (!it->is_number()) throw Error(where + ": \"" + key + "\" is not a number");
  return it->get<double>();
}

std::string get_string(const json& obj, const char* key, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string() || it->get_ref<const std::string&>().empty())
    throw Error(where + ": missing or empty \"" + key + "\"");
  return it->get<std::string>();
}

TaskScoreRecord parse_task(const json& obj, const std::string& where) {
  TaskScoreRecord r;
  r.step = get_int(obj, "step", where);
  r.tokens = get_int(obj, "tokens", where);
  r.task = get_string(obj, "task", where);
  r.items = get_int(obj, "items", where);
  r.acc = get_number(obj, "acc", where, true);
  r.acc_stderr = get_number(obj, "acc_stderr", where, true);
  r.mismatches = get_int(obj, "mismatches", where);
  r.gold_loglik = get_number(obj, "gold_loglik", where, true);
  bool norm = obj.contains("acc_norm"), norm_se = obj.contains("acc_norm_stderr");
  if (norm != norm_se)
    throw Error(where + ": task " + r.task + " has \"" + (norm ? "acc_norm" : "acc_norm_stderr") +
                "\" without \"" + (norm ? "acc_norm_stderr" : "acc_norm") + "\"");
  if (norm) {
    r.acc_norm = get_number(obj, "acc_norm", where, true);
    r.acc_norm_stderr = get_number(obj, "acc_norm_stderr", where, true);
  }
  return r;
}

}  // namespace

const EvalRecord* RunMetrics::final_eval() const {
  const EvalRecord* best = nullptr;
  for (const auto& e : evals)
    if (!best || e.step >= best->step) best = &e;
  return best;
}

std::optional<double> RunMetrics::median_tokens_per_s() const {
  std::vector<double> v;
  for (const auto& s : steps)
    if (s.tokens_per_s > 0) v.push_back(s.tokens_per_s);
  if (v.empty()) return std::nullopt;
  auto mid = v.begin() + v.size() / 2;
  std::nth_element(v.begin(), mid, v.end());
  return *mid;
}

RunMetrics parse_metrics(std::string_view text, const std::string& source) {
  RunMetrics out;
  size_t pos = 0;
  int64_t line_no = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    bool last_unterminated = end == std::string_view::npos;
    std::string_view line = text.substr(pos, last_unterminated ? std::string_view::npos : end - pos);
    pos = last_unterminated ? text.size() : end + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    std::string where = source + ":" + std::to_string(line_no);
    json obj = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (obj.is_discarded() || !obj.is_object()) {
      if (last_unterminated) {
        out.truncated_tail = true;
        break;
      }
      throw Error(where + ": not a JSON object");
    }
    std::string kind = obj.value("kind", "");
    if (kind == "step") {
      StepRecord r;
      r.step = get_int(obj, "step", where);
      r.tokens = get_int(obj, "tokens", where);
      r.loss = get_number(obj, "loss", where, true);
      r.lr = get_number(obj, "lr", where, false);
      r.grad_norm = get_number(obj, "grad_norm", where, false);
      r.tokens_per_s = get_number(obj, "tokens_per_s", where, false);
      out.steps.push_back(r);
    } else if (kind == "eval") {
      EvalRecord r;
      r.step = get_int(obj, "step", where);
      r.tokens = get_int(obj, "tokens", where);
      auto val = obj.find("val");
      if (val == obj.end() || !val->is_object()) throw Error(where + ": eval without a \"val\" object");
      for (const auto& [split, loss] : val->items()) {
        if (loss.is_null()) {
          r.val[split] = std::numeric_limits<double>::quiet_NaN();
          continue;
        }
        if (!loss.is_number())
          throw Error(where + ": val." + split + " is not a number");
        r.val[split] = loss.get<double>();
      }
      out.evals.push_back(std::move(r));
    } else if (kind == "task") {
      out.tasks.push_back(parse_task(obj, where));
    }
  }
  return out;
}

RunMetrics read_metrics(const std::filesystem::path& file) {
  return parse_metrics(fs::read_file(file), file.string());
}

std::map<std::string, std::vector<double>> read_val_sequences(const std::filesystem::path& run_dir) {
  const std::filesystem::path file = run_dir / run::kValSequencesFile;
  std::map<std::string, std::vector<double>> out;
  if (run_dir.empty() || !std::filesystem::exists(file)) return out;
  try {
    const auto j = nlohmann::json::parse(fs::read_file(file));
    for (const auto& [split, losses] : j.at("splits").items()) out[split] = losses.get<std::vector<double>>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(file.string() + ": not {\"step\": N, \"splits\": {SPLIT: [loss, ...]}}: " + e.what());
  }
  return out;
}

}  // namespace replay::analysis
