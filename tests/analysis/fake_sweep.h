// A fake but realistic sweep for report and CLI tests: a registry plus run
// directories with config.toml and metrics.jsonl, whose final target losses
// are the spec's FineMath test vector (so the multipliers are known). With a
// target identity the runs record it (as the sweep runner does), their
// configs name the store (so two domains' runs have different ids), and an
// `adjust` maps each target loss (another domain's numbers).
#pragma once
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>

#include "analysis/registry.h"
#include "temp_dir.h"
#include "util/fs.h"
#include "util/hash.h"

namespace fake {

namespace stdfs = std::filesystem;
using namespace replay::analysis;

// Writes metrics.jsonl: a decaying training loss and evals every 16 steps
// converging to the given final losses.
inline std::string metrics_text(double final_target, double final_generic, int steps = 64) {
  std::string out;
  char line[256];
  for (int s = 1; s <= steps; ++s) {
    double t = static_cast<double>(s) / steps;
    double loss = final_target + 5.0 * std::exp(-4 * t) + 0.05 * std::sin(3.0 * s);
    std::snprintf(line, sizeof line,
                  "{\"kind\":\"step\",\"step\":%d,\"tokens\":%d,\"lr\":%.6f,\"loss\":%.5f,"
                  "\"grad_norm\":%.3f,\"tokens_per_s\":%.1f}\n",
                  s, s * 4096, 0.003 * std::min(1.0, 10 * t), loss, 1.0 / (1 + t), 20000.0 + 37 * (s % 5));
    out += line;
    if (s % 16 == 0) {
      double decay = std::exp(-4 * t) - std::exp(-4.0);
      std::snprintf(line, sizeof line,
                    "{\"kind\":\"eval\",\"step\":%d,\"tokens\":%d,\"val\":{\"finemath\":%.5f,\"c4\":%.5f}}\n",
                    s, s * 4096, final_target + 4.0 * decay, final_generic + 3.0 * decay);
      out += line;
    }
  }
  return out;
}

// `extra_lines` are appended to metrics.jsonl (task lines).
inline std::string add_done_run(Registry& reg, const stdfs::path& root, const std::string& sweep,
                                const std::string& name, std::map<std::string, std::string> tags,
                                double target, double generic, const TargetIdentity& identity = {},
                                const std::string& extra_lines = "") {
  std::string config = "[run]\nname = \"" + name + "\"\n";
  for (const auto& [k, v] : tags) config += k + " = \"" + v + "\"\n";
  config += "sweep = \"" + sweep + "\"\n";
  if (!identity.empty()) config += "store = \"" + identity.store + "\"\n";
  tags["target"] = "finemath";
  tags["generic"] = "c4";
  std::string rel = "runs/" + (identity.empty() ? "" : identity.domain + "-") + name;
  stdfs::path dir = root / rel;
  replay::fs::write_file_atomic(dir / "config.toml", config);
  replay::fs::write_file_atomic(dir / "metrics.jsonl", metrics_text(target, generic) + extra_lines);
  std::string id = reg.add_run({config, "", sweep, name, tags, rel, identity});
  reg.mark_running(id);
  RunMetrics m = read_metrics(dir / "metrics.jsonl");
  reg.import_metrics(id, m);
  reg.mark_done(id, m.median_tokens_per_s());
  return id;
}

// A target identity as the sweep runner records it (source "finemath", the
// split name of metrics_text).
inline TargetIdentity target_of(const std::string& domain, const stdfs::path& root) {
  return {"finemath", domain, (root / "stores" / domain).string(),
          replay::hash::xxh128_hex("manifest of " + domain)};
}

// The whole sweep "finemath-micro" in root/registry.sqlite.
inline void build_sweep(const stdfs::path& root, const TargetIdentity& identity = {},
                        const std::function<double(double)>& adjust = {},
                        const std::string& sweep = "finemath-micro") {
  Registry reg(root / "registry.sqlite");
  auto L = [&](double loss) { return adjust ? adjust(loss) : loss; };
  auto add = [&](const std::string& name, std::map<std::string, std::string> tags, double target,
                 double generic) { add_done_run(reg, root, sweep, name, tags, L(target), generic, identity); };
  const double xs[] = {1, 2, 4, 8, 16};
  const double ref_loss[] = {3.62532, 3.49087, 3.39593, 3.16164, 2.99478};
  for (int i = 0; i < 5; ++i) {
    char x[32];
    std::snprintf(x, sizeof x, "%.10g", xs[i] / 1024);
    add("ref-x" + std::to_string(static_cast<int>(xs[i])), {{"family", "reference"}, {"x", x}}, ref_loss[i], 3.9);
  }
  add("ft-rho0", {{"family", "fine-tuning"}, {"rho", "0"}}, 3.99417, 4.40);
  add("ft-rho0.5", {{"family", "fine-tuning"}, {"rho", "0.5"}}, 3.95, 4.10);
  add("ft-rho0.75", {{"family", "fine-tuning"}, {"rho", "0.75"}}, 3.90261, 4.00);
  add("mt-rho0", {{"family", "mid-training"}, {"rho", "0"}, {"alpha", "1"}}, 3.56935, 4.2);
  add("mt-rho0.5", {{"family", "mid-training"}, {"rho", "0.5"}, {"alpha", "1"}}, 3.47, 3.95);
  add("mt-rho0.75", {{"family", "mid-training"}, {"rho", "0.75"}, {"alpha", "1"}}, 3.42762, 3.9);
  const double full[3][2] = {{3.52, 3.50}, {3.40, 3.41}, {3.35965, 3.39}};
  const char* rhos[] = {"0", "0.5", "0.75"};
  const char* alphas[] = {"0.5", "0.25"};
  for (int r = 0; r < 3; ++r)
    for (int a = 0; a < 2; ++a)
      add(std::string("full-rho") + rhos[r] + "-alpha" + alphas[a],
          {{"family", "full"}, {"rho", rhos[r]}, {"alpha", alphas[a]}}, full[r][a], 3.9);
  std::string failed = reg.add_run({"[run]\nname = \"broken\"\n" + identity.store, "", sweep, "broken", {{"family", "full"}}, "", identity});
  reg.mark_running(failed);
  reg.mark_failed(failed, "trainer exited with status 1: loss is NaN at step 12");
  reg.add_run({"[run]\nname = \"waiting\"\n" + identity.store, "", sweep, "waiting", {{"family", "full"}}, "", identity});
}

// A task line as Trainer::score_tasks writes it (400 items; acc_norm when
// norm >= 0).
inline std::string task_line(int step, const std::string& task, double acc, double se, double norm = -1,
                             double norm_se = 0) {
  char norm_text[96] = "";
  if (norm >= 0) std::snprintf(norm_text, sizeof norm_text, "\"acc_norm\":%.4f,\"acc_norm_stderr\":%.4f,", norm, norm_se);
  char line[512];
  std::snprintf(line, sizeof line,
                "{\"kind\":\"task\",\"step\":%d,\"tokens\":%d,\"task\":\"%s\",\"items\":400,\"acc\":%.4f,"
                "\"acc_stderr\":%.4f,%s\"mismatches\":0,\"gold_loglik\":-30.5}\n",
                step, step * 4096, task.c_str(), acc, se, norm_text);
  return line;
}

// A continued-pretraining rho sweep "cpt" with downstream tasks and no
// reference runs: help_eu (the target's task, SE 0.02), arc_easy (SE 0.03)
// and hellaswag (SE 0.02, with acc_norm) at steps 0, 32 and 64; cpt-rho0.75
// scored its tasks from step 32 only. Changes since step 0:
//   run           help_eu   arc_easy  hellaswag
//   cpt-rho0      +0.10     -0.10     -0.04
//   cpt-rho0.5    +0.07     -0.03     -0.01
//   cpt-rho0.9    +0.01      0         0
//   cpt-rho0.75   +0.03     -0.02      0      (from step 32)
inline void build_cpt_sweep(const stdfs::path& root) {
  Registry reg(root / "registry.sqlite");
  struct Row {
    const char* rho;
    double eu, arc, hs;  // final accuracies
    int first;           // first task step
    double eu0, arc0, hs0;
    double target, generic;
  };
  const Row rows[] = {{"0", 0.40, 0.40, 0.36, 0, 0.30, 0.50, 0.40, 3.5, 4.6},
                      {"0.5", 0.37, 0.47, 0.39, 0, 0.30, 0.50, 0.40, 3.6, 4.3},
                      {"0.75", 0.36, 0.46, 0.40, 32, 0.33, 0.48, 0.40, 3.65, 4.2},
                      {"0.9", 0.31, 0.50, 0.40, 0, 0.30, 0.50, 0.40, 3.8, 4.1}};
  for (const Row& r : rows) {
    std::string lines;
    for (int step : {0, 32, 64}) {
      if (step < r.first) continue;
      double t = step == 64 ? 1.0 : step == r.first ? 0.0 : 0.5;  // first, midway, final
      auto mid = [&](double a, double b) { return a + t * (b - a); };
      lines += task_line(step, "help_eu", mid(r.eu0, r.eu), 0.02);
      lines += task_line(step, "arc_easy", mid(r.arc0, r.arc), 0.03);
      lines += task_line(step, "hellaswag", mid(r.hs0, r.hs), 0.02, mid(r.hs0, r.hs) + 0.01, 0.021);
    }
    add_done_run(reg, root, "cpt", std::string("cpt-rho") + r.rho,
                 {{"family", "continued-pretraining"}, {"rho", r.rho}}, r.target, r.generic, {}, lines);
  }
}

// A sweep over seeds, "seeded", in root/registry.sqlite: every cell at 3
// seeds (tag seed=n, name suffix -seed=n), losses from the law
// 0.05 / sqrt(x) + 2.5 plus a per-seed offset. Reference cells at x = k/1024
// (k = 1..16); mid-training with replay sits at the reference's loss of twice
// the pool of mid-training without (true multiplier 2); fine-tuning with and
// without replay at the same true loss (no effect).
inline void build_seeded_sweep(const stdfs::path& root) {
  Registry reg(root / "registry.sqlite");
  auto law = [](double x) { return 0.05 / std::sqrt(x) + 2.5; };
  const double offset[] = {-0.012, 0.003, 0.009};
  auto cell = [&](const std::string& name, std::map<std::string, std::string> tags, double loss, double jitter) {
    for (int seed = 1; seed <= 3; ++seed) {
      tags["seed"] = std::to_string(seed);
      add_done_run(reg, root, "seeded", name + "-seed=" + std::to_string(seed), tags,
                   loss + offset[seed - 1] + jitter * (seed - 2), 4.0 + 0.01 * seed);
    }
  };
  for (int k : {1, 2, 4, 8, 16}) {
    char x[32];
    std::snprintf(x, sizeof x, "%.10g", k / 1024.0);
    cell("ref-x" + std::to_string(k), {{"family", "reference"}, {"x", x}}, law(k / 1024.0), 0.001 * (k % 3));
  }
  cell("mt-rho=0", {{"family", "mid-training"}, {"rho", "0"}, {"alpha", "1"}}, law(2 / 1024.0), 0.002);
  cell("mt-rho=0.5", {{"family", "mid-training"}, {"rho", "0.5"}, {"alpha", "1"}}, law(4 / 1024.0), -0.001);
  cell("ft-rho=0", {{"family", "fine-tuning"}, {"rho", "0"}}, law(1 / 1024.0), 0.004);
  cell("ft-rho=0.5", {{"family", "fine-tuning"}, {"rho", "0.5"}}, law(1 / 1024.0), -0.004);
}

}  // namespace fake
