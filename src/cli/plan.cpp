// `replay plan run.toml`: prints the derived schedule without training:
// stages with step ranges and weights, phases with their LR schedules, and per
// source the planned and realized sequences, unique sequences and epochs. The
// realized numbers come from iterating the same BatchPlan that feeds training.
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "cli/command.h"
#include "run/run_config.h"
#include "store/token_store.h"
#include "util/error.h"

namespace {

using namespace replay::schedule;

struct PlanOptions {
  std::string config;
  std::vector<std::string> overrides;
  std::vector<std::string> store_sizes;
};

std::map<std::string, int64_t> parse_sizes(const std::vector<std::string>& items) {
  std::map<std::string, int64_t> out;
  for (const std::string& item : items) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      throw replay::Error("--store-size '" + item + "': expected NAME=SEQUENCES");
    const std::string name = item.substr(0, eq), value = item.substr(eq + 1);
    size_t used = 0;
    long long n = -1;
    try {
      n = std::stoll(value, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != value.size() || n < 0)
      throw replay::Error("--store-size '" + item + "': '" + value + "' is not a sequence count");
    out[name] = n;
  }
  return out;
}

void print_usage(const std::vector<SourceUsage>& usage, const char* indent) {
  std::printf("%s%-14s %14s %12s %10s %10s %8s\n", indent, "source", "planned", "realized", "unique", "pool",
              "epochs");
  for (const SourceUsage& u : usage) {
    if (u.realized == 0 && u.planned == 0) continue;
    std::printf("%s%-14s %14.1f %12lld %10lld %10lld %8.3f\n", indent, u.name.c_str(), u.planned,
                static_cast<long long>(u.realized), static_cast<long long>(u.unique),
                static_cast<long long>(u.pool), u.epochs);
  }
}

// Store sizes: given on the command line, else read from each store.
StoreSizeFn store_sizes(const PlanOptions& opt) {
  return [overrides = parse_sizes(opt.store_sizes)](const SourceConfig& s) -> int64_t {
    if (auto it = overrides.find(s.name); it != overrides.end()) return it->second;
    replay::store::OpenOptions o;
    o.verify_checksums = false;  // sizes only; training verifies
    try {
      return replay::store::TokenStore::open(s.store, o).num_sequences(replay::store::Split::train);
    } catch (const replay::Error& e) {
      throw replay::Error("data.sources." + s.name + ": cannot open store '" + s.store + "' (" + e.what() +
                          "); pass --store-size " + s.name + "=N to plan without it");
    }
  };
}

void print_header(const std::string& file, const RunPlan& plan) {
  const Mixture& mix = *plan.mixture;
  const MixtureSpec& ms = mix.spec();
  // The plan draws on the data and pool seeds only (the init seed is the trainer's).
  const std::string seeds = ms.effective_pool_seed() == ms.seed
                                ? "seed " + std::to_string(ms.seed)
                                : "data seed " + std::to_string(ms.seed) + ", pool seed " +
                                      std::to_string(ms.effective_pool_seed());
  std::printf("plan %s: protocol %s, %s\n", file.c_str(), to_string(plan.protocol), seeds.c_str());
  std::printf("  %lld steps x %lld sequences = %lld sequences; block %lld, apportion %s\n",
              static_cast<long long>(ms.num_steps), static_cast<long long>(ms.batch_size),
              static_cast<long long>(mix.num_positions()), static_cast<long long>(ms.block_size),
              to_string(ms.apportion));
  for (size_t i = 0; i < ms.sources.size(); ++i) {
    const SourceSpec& s = ms.sources[i];
    std::printf("  source %-12s split %lld sequences, pool %lld, %s, %s\n", s.name.c_str(),
                static_cast<long long>(s.size), static_cast<long long>(mix.pool_size(static_cast<int32_t>(i))),
                s.shuffle ? "shuffled" : "store order", to_string(s.repeat));
  }
  if (const auto& c = plan.continued)
    std::printf("  continued-pretraining: target_steps %lld, rho %.6g: %lld steps, target weight %.6f, "
                "target exposure %lld sequences (the same stream for every rho)\n",
                static_cast<long long>(c->target_steps), c->rho, static_cast<long long>(c->total_steps),
                c->target_weight, static_cast<long long>(c->target_sequences));
  if (!plan.paper) return;
  const PaperSchedule& p = *plan.paper;
  std::printf("  paper: f %.10g, e %g, gamma %.6g, rho %.6g, alpha %.6g, delta %.6g\n", p.f, p.e, p.gamma, p.rho,
              p.alpha, p.delta);
  std::printf("         w1 %.5f, w2 %.5f, stage 2 = steps %lld-%lld (%lld steps), pool %lld, ideal target %lld\n",
              p.w1, p.w2, static_cast<long long>(p.boundary_step), static_cast<long long>(ms.num_steps),
              static_cast<long long>(p.stage2_steps), static_cast<long long>(p.pool),
              static_cast<long long>(p.target_sequences));
}

void print_stages_and_phases(const RunPlan& plan) {
  const Mixture& mix = *plan.mixture;
  const MixtureSpec& ms = mix.spec();
  std::printf("stages:\n");
  for (size_t s = 0; s < ms.stages.size(); ++s) {
    const int64_t end = s + 1 < ms.stages.size() ? ms.stages[s + 1].start_step : ms.num_steps;
    double sum = 0;
    for (double w : ms.stages[s].weights) sum += w;
    std::printf("  [%zu] steps %lld-%lld:", s, static_cast<long long>(ms.stages[s].start_step),
                static_cast<long long>(end));
    for (size_t i = 0; i < ms.sources.size(); ++i)
      if (ms.stages[s].weights[i] > 0)
        std::printf("  %s %.6f (%lld seq)", ms.sources[i].name.c_str(), ms.stages[s].weights[i] / sum,
                    static_cast<long long>(mix.draws_in_stage(s, static_cast<int32_t>(i))));
    std::printf("\n");
  }
  std::printf("phases:\n");
  for (const Phase& ph : plan.phases) {
    std::printf("  %s: steps %lld-%lld, %s\n", ph.name.c_str(), static_cast<long long>(ph.first_step),
                static_cast<long long>(ph.first_step + ph.num_steps),
                ph.first_step == 0 ? "fresh optimizer"
                : ph.reset_optimizer ? "optimizer reset (weights only)"
                                     : "optimizer continues");
    std::printf("    lr: %s (%s)\n", describe(ph.lr, ph.lr_first_step).c_str(), ph.lr_key.c_str());
    print_usage(measure_usage(mix, ph.first_step, ph.num_steps), "    ");
  }
  if (plan.phases.size() > 1) {
    std::printf("whole run:\n");
    print_usage(measure_usage(mix, 0, ms.num_steps), "    ");
  }
}

void run(const PlanOptions& opt) {
  const replay::run::RunDescription run = replay::run::load_run_toml(opt.config, opt.overrides);
  const RunPlan plan = plan_run(run.schedule, opt.config, store_sizes(opt));
  print_header(opt.config, plan);
  print_stages_and_phases(plan);
  for (const std::string& w : run.warnings) std::printf("warning: %s\n", w.c_str());
  for (const std::string& w : plan.warnings) std::printf("warning: %s\n", w.c_str());
}

void setup(CLI::App& app) {
  auto opt = std::make_shared<PlanOptions>();
  auto* cmd = app.add_subcommand("plan", "Print a run's derived data schedule (stages, phases, LR schedules, "
                                         "planned and realized sequences per source) without training");
  cmd->add_option("config", opt->config, "Run config (TOML) with [data], [schedule], [train] tables")
      ->required();
  cmd->add_option("--set", opt->overrides,
                  "Override any config key, as `replay train --set` (repeatable), e.g. "
                  "--set schedule.rho=0.5 --set train.steps=1024")
      ->allow_extra_args(false);
  cmd->add_option("--store-size", opt->store_sizes,
                  "NAME=SEQUENCES: training-split size of a source instead of opening its store "
                  "(repeatable; plans paper-scale configs without the data)");
  cmd->callback([opt] { run(*opt); });
}

}  // namespace

REPLAY_COMMAND(60, setup);
