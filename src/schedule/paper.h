// The paper's two-stage parameterization (spec section 3), as pure math:
//   f      unique target pool as a fraction of all training sequences (pool = f N B)
//   e      repetitions of the pool;   gamma = f e <= 1 (target fraction of training)
//   rho    replay fraction: share of stage 2 that is generic data
//   alpha  share of all target exposure placed in stage 2
//   delta  stage-2 duration as a fraction of training
// Any two of (rho, alpha, delta) fix the third: delta = gamma alpha / (1 - rho).
//   w2 = 1 - rho;  w1 = gamma (1 - alpha) / (1 - delta)  (0 when delta = 1)
//   boundary step = 2 * floor(int((1 - delta) N) / 2)   (the reference rounds to
//   an even step because its mixing block is two batches; 0 = stage 2 is the run)
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace replay::schedule {

struct PaperKnobs {
  double f = 0;  // > 0
  double e = 0;  // > 0
  std::optional<double> rho, alpha, delta;  // exactly two, or three consistent ones
};

struct PaperSchedule {
  double f = 0, e = 0, gamma = 0, rho = 0, alpha = 0, delta = 0;
  double w1 = 0, w2 = 0;          // the spec's target weights of stage 1 and 2
  int64_t boundary_step = 0;      // first step of stage 2
  int64_t stage2_steps = 0;       // N - boundary_step
  double pool_exact = 0;          // f N B as a real number
  int64_t pool = 0;               // f N B sequences (must be a whole number)
  int64_t target_sequences = 0;   // ideal exposure: pool * e (= gamma N B)
};

// Derives the third knob, the weights and the boundary; validates with
// replay::Error messages prefixed by `where` (e.g. "run.toml [schedule]").
PaperSchedule derive_paper_schedule(const PaperKnobs& knobs, int64_t steps, int64_t batch_size,
                                    const std::string& where);

// The target weights that realize exactly (1 - alpha) * pool * e target
// sequences in stage 1 and alpha * pool * e in stage 2 over the *rounded*
// stage lengths (the `exact` apportionment uses these; `reference` uses w1, w2).
struct StageWeights {
  double w1 = 0, w2 = 0;
  int64_t stage1_target = 0, stage2_target = 0;
};
StageWeights exact_stage_weights(const PaperSchedule& p, int64_t steps, int64_t batch_size,
                                 const std::string& where);

}  // namespace replay::schedule
