// The mixture engine: a run-wide, block-deterministic mixing of named sources
// whose weights change in stages. (seed, global sequence position) ->
// (source, sequence index) is a pure O(1) function, so resume, any number of
// data-parallel ranks and any microbatching see the same global batch.
//
// Layout. Global position p = step * batch_size + row. Positions are grouped
// in blocks of `block_size` on a global grid (block b = [b L, (b+1) L)). A
// block that straddles a stage boundary is split into two *segments*, each
// apportioned by its own stage's weights over its own length (so stages that
// start on a block boundary, as in the reference, never see a partial block).
// Every segment gives each source an exact count; its slots are laid out
// source by source (in source order) and then permuted by a seeded bijection
// keyed by (seed, stage, block), evaluated point by point (permutation.h).
//
// Apportionment per segment:
//   reference: count_i = int(w_i * len) (truncation), the remainder to the
//              source with the largest count (first on ties), as Levanter's
//              MixtureDataset does per 2048-sequence block. Truncation lets
//              realized exposure drift from the plan (up to ~3% in the paper grid).
//   exact:     counts are differences of a cumulative apportionment of the
//              stage's positions: with two sources, count(first n positions)
//              = round(w n) for the first source and the rest for the other,
//              i.e. largest remainder on the cumulative quota; with more, the
//              same rounding applied source after source on what remains
//              (house-monotone, so no segment count is ever negative). Every
//              block holds floor or ceil of w L, and at every segment boundary
//              the realized count is within one sequence of w n (within 1/2
//              for two sources), so a whole stage realizes its plan.
//
// Draw k of a source (its k-th sequence over the run, counted from the
// counts of all earlier segments, which are closed-form per stage) maps to a
// sequence index of the source's *training split*:
//   order  : shuffle = true (default): a seeded permutation of [0, size)
//            keyed by (seed, source name); false: store order.
//   pool P : the unique pool is the first P sequences of that order (a seeded
//            choice of P sequences when shuffled); default P = size.
//   repeat : draw k uses pool element k mod P. restart (the paper's): every
//            epoch walks the pool in the same order; reshuffle: epoch 0 as
//            restart, each later epoch e uses a fresh permutation keyed by
//            (seed, source, e).
//
// Two seeds, so that a seed sweep can vary the order of the data while every
// run trains on the same target pool:
//   seed      (the data seed) every mixing block's permutation, the order of
//             uncapped sources, the order of draws within a pool, reshuffles.
//   pool_seed which P sequences a shuffled source capped below its split
//             (P < size) uses: its order's key is (pool_seed, name). Unset =
//             seed. It changes nothing else: not the mixing, not uncapped
//             sources, not the order in which draws visit the pool's slots.
// When the two differ, a capped pool is visited in the order of a second
// permutation of [0, P) keyed by (seed, name), so the data seed still orders
// it; when they are equal that permutation is skipped, which keeps the stream
// of a one-seed plan exactly what it was before the split.
// A source without a pool cap that needs more than `size` sequences wraps the
// same way; the plan carries a warning (generic data should never repeat).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "schedule/batch_plan.h"
#include "schedule/permutation.h"

namespace replay::schedule {

enum class Apportion { exact, reference };
enum class Repeat { restart, reshuffle };

struct SourceSpec {
  std::string name;
  int64_t size = 0;  // sequences in the source's training split
  int64_t pool = 0;  // unique pool cap P; 0 = the whole split
  Repeat repeat = Repeat::restart;
  bool shuffle = true;
};

struct MixtureStage {
  int64_t start_step = 0;
  std::vector<double> weights;  // one per source, >= 0, normalized on construction
};

struct MixtureSpec {
  std::vector<SourceSpec> sources;
  std::vector<MixtureStage> stages;  // the first starts at step 0, strictly increasing
  int64_t num_steps = 0;
  int64_t batch_size = 0;
  int64_t block_size = 2048;
  Apportion apportion = Apportion::exact;
  uint64_t seed = 42;                    // the data seed
  std::optional<uint64_t> pool_seed;     // chooses capped pools; unset = seed

  uint64_t effective_pool_seed() const { return pool_seed.value_or(seed); }
  // Whether source i's pool is a seeded choice (shuffled, capped below its split).
  bool pool_is_chosen(size_t i) const {
    return sources[i].shuffle && sources[i].pool > 0 && sources[i].pool < sources[i].size;
  }
};

class Mixture final : public BatchPlan {
 public:
  static constexpr int kMaxSources = 32;

  // Validates (throws replay::Error) and precomputes per-stage tables.
  explicit Mixture(MixtureSpec spec);

  int64_t num_steps() const override { return spec_.num_steps; }
  int64_t batch_size() const override { return spec_.batch_size; }
  const std::vector<std::string>& source_names() const override { return names_; }
  void batch(int64_t step, std::span<SequenceRef> out) const override;

  const MixtureSpec& spec() const { return spec_; }
  int64_t num_positions() const { return spec_.num_steps * spec_.batch_size; }
  int32_t source_index(const std::string& name) const;  // -1 when absent

  // The pure lookup: which sequence fills global position `pos`.
  SequenceRef at(int64_t pos) const;
  // Fills out[i] = at(first + i), sharing the per-segment work.
  void fill(int64_t first, std::span<SequenceRef> out) const;

  // Closed-form draw counts (no iteration): draws of `source` in stage
  // `stage`, before it, and over the run.
  int64_t draws_in_stage(size_t stage, int32_t source) const;
  int64_t draws_before_stage(size_t stage, int32_t source) const;
  int64_t total_draws(int32_t source) const;
  // The sequence index used by draw k of `source`.
  int64_t sequence_for_draw(int32_t source, int64_t k) const;
  int64_t pool_size(int32_t source) const { return pools_[source]; }

 private:
  struct StageTable {
    int64_t begin = 0, end = 0;           // global positions
    std::vector<double> weights;          // normalized
    std::vector<double> chain;            // exact: w_i / (w_i + ... + w_last)
    std::vector<int64_t> before;          // draws of each source before this stage
    int64_t head = 0;                     // reference: length of the leading partial segment
    std::vector<int64_t> head_counts, block_counts;
  };
  struct Segment {
    int64_t begin = 0, end = 0;
    uint32_t stage = 0;
    int64_t counts[kMaxSources];   // per source, in this segment
    int64_t first_draw[kMaxSources];  // draw index of the source's first slot here
    IndexPermutation perm;
  };

  void counts_upto(const StageTable& st, int64_t n, int64_t* out) const;
  void reference_counts(const std::vector<double>& w, int64_t len, int64_t* out) const;
  void segment_at(int64_t pos, Segment& seg) const;
  SequenceRef lookup(const Segment& seg, int64_t pos) const;

  MixtureSpec spec_;
  std::vector<std::string> names_;
  std::vector<StageTable> stages_;
  std::vector<int64_t> pools_;
  std::vector<IndexPermutation> orders_;  // per source: order of its split
  std::vector<IndexPermutation> visits_;  // per source: order of a chosen pool's slots
                                          // (size 0 = slot order: one seed for both)
  std::vector<uint64_t> source_keys_;     // per source: (data seed, name)
};

// A window of a whole-run plan seen as its own plan: local step 0 is global
// step `first_step`. Phases of a run (pre-training, fine-tuning) use this so
// every phase reads the one run-wide stream (generic data never repeats
// across phases).
class StepWindow final : public BatchPlan {
 public:
  StepWindow(std::shared_ptr<const BatchPlan> base, int64_t first_step, int64_t num_steps);
  int64_t num_steps() const override { return count_; }
  int64_t batch_size() const override { return base_->batch_size(); }
  const std::vector<std::string>& source_names() const override { return base_->source_names(); }
  void batch(int64_t step, std::span<SequenceRef> out) const override;
  int64_t first_step() const { return first_; }

 private:
  std::shared_ptr<const BatchPlan> base_;
  int64_t first_, count_;
};

const char* to_string(Apportion a);
const char* to_string(Repeat r);

}  // namespace replay::schedule
