// Protocols: how a run's steps are split into phases (each with its own
// optimizer state and LR schedule) and how the mixture changes over them.
// Every phase reads a window of ONE run-wide Mixture, so generic data never
// repeats across phases and a target pool's epochs continue where they were.
//
//   single        one source for the whole run
//   reference     target mixed uniformly at weight gamma = f e, one stage
//   mid-training  one phase (one optimizer, one LR schedule); the mixture
//                 switches from w1 to w2 at the paper's boundary step
//   fine-tuning   N fixed: pre-training on generic only for N - n_FT steps
//                 (own schedule, default 1e-3 cosine), then fine-tuning from
//                 the weights alone (optimizer reset, new warmup, default
//                 3e-4 cosine) for n_FT = pool_batches * e * m steps with
//                 target weight 1/m (rho = 1 - 1/m)
//   general       any stages; each may reset the optimizer and/or start a new
//                 LR schedule, otherwise the running schedule continues
//   continued-pretraining
//                 the paper's practical experiment (spec/finetune.md section 1):
//                 from a pretrained model (train.init_from, required; weights
//                 only, the optimizer starts fresh) a fixed budget of T =
//                 target_steps *target* steps. With replay fraction rho in
//                 [0, 1) the run trains N = round(T / (1 - rho)) steps (round
//                 half away from zero; train.steps may be omitted and is then
//                 N, if given it must equal N) in one phase, one stage, one LR
//                 schedule (the run's optim.lr / [lr_schedule] over N steps).
//                 Target weight is T / N (= 1 - rho when T / (1 - rho) is a
//                 whole number) at every step and the `exact` apportionment
//                 (required) realizes exactly T * batch_size target sequences
//                 for every rho. The target stream does not depend on rho: draw
//                 k of the target is sequence_for_draw(k) of its own order and
//                 pool (data and pool seeds, name, data.sources.<target>.pool/repeat), so runs
//                 of a rho sweep see the same target sequences in the same
//                 order; replay adds N - T steps' worth of fresh generic data.
//                 A target budget beyond the target's pool (or split) repeats it
//                 by the source's `repeat` rule; generic data beyond its split
//                 wraps likewise. Both carry a plan warning.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "schedule/lr_schedule.h"
#include "schedule/mixture.h"
#include "schedule/paper.h"

namespace replay::schedule {

enum class Protocol { single, reference, mid_training, fine_tuning, general, continued_pretraining };
Protocol parse_protocol(const std::string& text, const std::string& where);
const char* to_string(Protocol p);

struct SourceConfig {
  std::string name;
  std::string store;  // token store directory
  int64_t pool = 0;   // 0 = uncapped (or derived from f for the target)
  Repeat repeat = Repeat::restart;
  bool shuffle = true;
};

struct DataConfig {
  std::string tokenizer;
  int64_t seq_len = 0;  // 0 = not given here (the store's)
  std::vector<SourceConfig> sources;  // sorted by name (TOML table order)
};

// The training-split size of a source, in sequences. The CLI opens the store;
// tests and `--store-size` pass numbers: the math never does I/O.
using StoreSizeFn = std::function<int64_t(const SourceConfig&)>;

// One stage of the `general` protocol.
struct GeneralStage {
  int64_t start_step = 0;
  std::vector<std::pair<std::string, double>> weights;  // source name -> weight
  bool reset_optimizer = false;
  std::optional<LrSchedule> lr;  // set: a new LR schedule starts here (total_steps filled in)
};

struct ProtocolSpec {
  Protocol protocol = Protocol::single;
  std::string source;   // single
  std::string target, generic;
  PaperKnobs knobs;     // reference (f, e), mid-training (f, e, two of rho/alpha/delta)
  double m = 1;         // fine-tuning: replay multiplier (target weight 1/m)
  int64_t target_steps = 0;  // continued-pretraining: T (rho in knobs.rho, default 0)
  int64_t block_size = 2048;
  Apportion apportion = Apportion::exact;
  int64_t steps = 0, batch_size = 0;
  uint64_t seed = 42;                 // the data seed (mixture.h)
  std::optional<uint64_t> pool_seed;  // chooses capped pools; unset = seed
  LrSchedule lr;                  // the run's schedule (single, reference, mid-training, general default)
  LrSchedule pretrain_lr{LrKind::cosine, 1e-3};  // fine-tuning: the pre-training phase
  LrSchedule finetune_lr{LrKind::cosine, 3e-4};  // fine-tuning: the fine-tuning phase
  std::vector<GeneralStage> stages;
};

// continued-pretraining: N = round(T / (1 - rho)) (std::llround). Throws
// replay::Error for T < 1 or rho outside [0, 1), naming schedule.target_steps /
// schedule.rho and the value.
int64_t continued_pretraining_steps(int64_t target_steps, double rho);

// What `replay plan` and the registry show of a continued-pretraining run.
struct ContinuedPretraining {
  int64_t target_steps = 0;      // T
  double rho = 0;
  int64_t total_steps = 0;       // N
  double target_weight = 0;      // T / N
  int64_t target_sequences = 0;  // T * batch_size, for every rho
};

struct Phase {
  std::string name;
  int64_t first_step = 0, num_steps = 0;  // global steps [first, first + num)
  bool reset_optimizer = false;           // start from the weights only
  LrSchedule lr;                          // the schedule this phase runs in
  int64_t lr_first_step = 0;              // global step where that schedule's step 0 is
  std::string lr_key;                     // the config key that sets its peak ("optim.lr",
                                          // "schedule.finetune.lr"), for messages
  std::shared_ptr<const BatchPlan> data;  // local steps 0 .. num_steps
  double lr_at_step(int64_t global_step) const { return lr_at(lr, global_step - lr_first_step); }
};

struct RunPlan {
  Protocol protocol = Protocol::single;
  std::shared_ptr<const Mixture> mixture;  // the whole run
  std::vector<Phase> phases;               // cover [0, steps) in order
  std::optional<PaperSchedule> paper;      // reference / mid-training / fine-tuning knobs
  std::optional<ContinuedPretraining> continued;  // continued-pretraining
  std::vector<std::string> warnings;
  int64_t target = -1;                     // source index of the target, -1 if none

  size_t phase_of_step(int64_t global_step) const;
};

RunPlan build_run_plan(const ProtocolSpec& spec, const DataConfig& data, const StoreSizeFn& sizes);

// A content key of a phase and everything before it: the data it reads
// (active sources with their names, sizes, pools and order, stage weights,
// block size, apportionment, data seed, pool seed where it chooses an active
// source's pool and differs from the data seed, batch size, step range), its LR schedule
// and optimizer reset, plus `extra` (the trainer adds model, optimizer and
// store fingerprints). Two runs whose fine-tuning pre-training phases have the
// same key can share one trained pre-training (xxh128, 32 hex digits).
std::string phase_content_key(const RunPlan& plan, size_t phase, std::string_view extra);

// What the stream really contains, found by iterating the BatchPlan (the same
// code that feeds training), per source over a step range.
struct SourceUsage {
  std::string name;
  double planned = 0;   // sum over stages of weight * positions
  int64_t realized = 0;
  int64_t unique = 0;   // distinct sequence indices
  int64_t pool = 0;     // unique pool size (training split when uncapped)
  double epochs = 0;    // realized / pool
  int64_t max_index = -1;
};
std::vector<SourceUsage> measure_usage(const Mixture& mix, int64_t first_step, int64_t num_steps);

}  // namespace replay::schedule
