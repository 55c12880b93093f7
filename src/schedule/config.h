// The [data] and [schedule] tables of a run config (configs/micro/base.toml), owned
// and parsed strictly here: unknown keys, wrong types and impossible values
// are replay::Error naming the key and the file. Keys owned by the trainer
// that a plan needs (seed, train.steps, train.batch_size, optim.lr,
// lr_schedule.*) are only read, with the trainer's defaults; their strict
// validation stays with the trainer.
//
// [data]
//   tokenizer = "..."          seq_len = 256 (optional)
//   [data.sources.<name>]  store = "dir", pool = P (optional), repeat = "restart" | "reshuffle",
//                          shuffle = true (seeded order of the split; false = store order)
// [schedule]
//   protocol   = "single" | "reference" | "mid-training" | "fine-tuning" | "general"
//   source     (single)    target, generic (paper protocols)
//   f, e       (e defaults to 64 for fine-tuning, 32 otherwise; f may be left out
//               when data.sources.<target>.pool is given: f = pool / (steps * batch_size))
//   rho, alpha, delta      (mid-training: any two)
//   m          (fine-tuning: replay multiplier, default 1; or give rho: m = 1 / (1 - rho))
//   block_size = 2048      apportion = "exact" | "reference"
//   [schedule.pretrain] / [schedule.finetune]: lr, kind, warmup, cooldown, min_lr_ratio
//               (defaults 1e-3 cosine / 3e-4 cosine, warmup 0.01, min_lr_ratio 0)
//   [[schedule.stages]] (general): start_step, weights = { name = w, ... },
//               reset_optimizer = false, lr = peak, lr_schedule = { kind, warmup, cooldown,
//               min_lr_ratio }  (lr or lr_schedule present: a new LR schedule starts here)
#pragma once
#include <toml++/toml.h>

#include <string>

#include "schedule/protocol.h"

namespace replay::schedule {

struct ScheduleConfig {
  DataConfig data;
  ProtocolSpec spec;
};

ScheduleConfig parse_data_and_schedule(const toml::table& root, const std::string& file);

// parse_data_and_schedule + build_run_plan.
RunPlan load_run_plan(const toml::table& root, const std::string& file, const StoreSizeFn& sizes);

}  // namespace replay::schedule
