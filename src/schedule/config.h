// The [data] and [schedule] tables of a run config (configs/micro/base.toml), owned
// and parsed strictly here: unknown keys, wrong types and impossible values
// are replay::Error naming the key and the file. What a plan needs from the
// rest of the run (data and pool seeds, steps, batch size, the run's base LR schedule) is
// handed in as RunBasics by the run layer (src/run), which parses those keys
// once; this stage never reads another stage's tables.
//
// [data]
//   tokenizer = "..."          seq_len = 256 (optional)
//   [data.sources.<name>]  store = "dir", pool = P (optional), repeat = "restart" | "reshuffle",
//                          shuffle = true (seeded order of the split; false = store order)
// [schedule]
//   protocol   = "single" | "reference" | "mid-training" | "fine-tuning" | "general"
//                | "continued-pretraining"
//   source     (single)    target, generic (paper protocols)
//   f, e       (e defaults to 64 for fine-tuning, 32 otherwise; f may be left out
//               when data.sources.<target>.pool is given: f = pool / (steps * batch_size))
//   rho, alpha, delta      (mid-training: any two)
//   m          (fine-tuning: replay multiplier, default 1; or give rho: m = 1 / (1 - rho))
//   target_steps, rho (continued-pretraining: T >= 1, rho in [0, 1) default 0; this
//               stage derives train.steps = round(T / (1 - rho)) into spec.steps: the
//               run layer passes train.steps as given (0 = left out) and takes spec.steps;
//               a given value that differs is an error naming both keys. f, e, alpha,
//               delta, m, block_size and apportion are refused for it)
//   block_size = 2048      apportion = "exact" | "reference"
//   [schedule.pretrain] / [schedule.finetune]: lr, kind, warmup, cooldown, min_lr_ratio
//               (defaults 1e-3 cosine / 3e-4 cosine, warmup 0.01, min_lr_ratio 0)
//   [[schedule.stages]] (general): start_step, weights = { name = w, ... },
//               reset_optimizer = false, lr = peak, lr_schedule = { kind, warmup, cooldown,
//               min_lr_ratio }  (lr or lr_schedule present: a new LR schedule starts here)
// [lr_schedule] (the run's base schedule: kind, warmup, cooldown, min_lr_ratio) is
// read by parse_lr_table below, called by the run layer.
#pragma once
#include <nlohmann/json_fwd.hpp>
#include <toml++/toml.h>

#include <optional>
#include <string>

#include "schedule/protocol.h"
#include "util/toml_reader.h"

namespace replay::schedule {

// What a plan takes from outside [data] and [schedule].
struct RunBasics {
  uint64_t seed = 42;                 // the data seed: mixing and order (mixture.h)
  std::optional<uint64_t> pool_seed;  // which sequences a capped pool holds; unset = seed
  int64_t steps = 0;       // train.steps (0 = left out: continued-pretraining derives it)
  int64_t batch_size = 0;  // train.batch_size
  LrSchedule lr;           // optim.lr as peak, shape from [lr_schedule]
};

// Reads an LR schedule's shape (kind, warmup, cooldown, min_lr_ratio) from
// the table behind `r` on top of `base`, rejects unknown keys and validates
// (the peak included: name its key in `peak_key`).
LrSchedule parse_lr_table(TomlReader& r, LrSchedule base, const std::string& peak_key);

struct ScheduleConfig {
  DataConfig data;
  ProtocolSpec spec;
};

ScheduleConfig parse_data_and_schedule(const toml::table& root, const std::string& file,
                                       const RunBasics& basics);

// Canonical JSON of what this stage parsed: an LR schedule (kind, peak,
// total_steps, warmup, cooldown, min_lr_ratio) and a source's own keys
// (store, pool, repeat, shuffle).
nlohmann::json to_json(const LrSchedule& lr);
nlohmann::json to_json(const SourceConfig& source);

// build_run_plan with errors prefixed by the file name.
RunPlan plan_run(const ScheduleConfig& config, const std::string& file, const StoreSizeFn& sizes);

}  // namespace replay::schedule
