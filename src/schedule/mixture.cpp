#include "schedule/mixture.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "util/error.h"
#include "util/hash.h"

namespace replay::schedule {

namespace {
// Keys the data seed's order of a chosen pool's slots apart from the other
// permutations derived from the same (seed, name) key.
constexpr uint64_t kVisitOrderTag = 0x706f6f6c2d766973ULL;  // "pool-vis"
[[noreturn]] void fail(const std::string& what) { throw Error("mixture: " + what); }

struct SourceOrder {
  uint64_t key = 0;          // (data seed, name): reshuffles derive from it
  IndexPermutation split;    // order of the split; a chosen pool is its first P
  IndexPermutation visits;   // order of a chosen pool's slots; size 0 = slot order
};

// The seeded orders of source i (mixture.h: the data seed orders, the pool
// seed chooses a capped pool).
SourceOrder source_order(const MixtureSpec& spec, size_t i, int64_t pool) {
  const SourceSpec& src = spec.sources[i];
  const uint64_t name_hash = hash::xxh3_64(src.name);
  const bool chosen = spec.pool_is_chosen(i);
  const uint64_t pool_seed = spec.effective_pool_seed();
  SourceOrder out;
  out.key = derive_key(spec.seed, name_hash);
  out.split = IndexPermutation(static_cast<uint64_t>(src.size), chosen ? derive_key(pool_seed, name_hash) : out.key);
  // The data seed orders the chosen pool's slots only when it is not also
  // the seed that chose the pool (one seed: the stream from before the split).
  if (chosen && pool_seed != spec.seed)
    out.visits = IndexPermutation(static_cast<uint64_t>(pool), derive_key(out.key, kVisitOrderTag));
  return out;
}
}  // namespace

Mixture::Mixture(MixtureSpec spec) : spec_(std::move(spec)) {
  const size_t k = spec_.sources.size();
  if (k == 0) fail("no sources");
  if (k > static_cast<size_t>(kMaxSources)) fail("more than " + std::to_string(kMaxSources) + " sources");
  if (spec_.num_steps <= 0) fail("steps must be > 0 (got " + std::to_string(spec_.num_steps) + ")");
  if (spec_.batch_size <= 0) fail("batch_size must be > 0 (got " + std::to_string(spec_.batch_size) + ")");
  if (spec_.block_size <= 0) fail("block_size must be > 0 (got " + std::to_string(spec_.block_size) + ")");
  std::set<std::string> seen;
  for (const SourceSpec& s : spec_.sources) {
    if (s.name.empty()) fail("a source has an empty name");
    if (!seen.insert(s.name).second) fail("source '" + s.name + "' is listed twice");
    if (s.size < 0) fail("source '" + s.name + "': negative size");
    if (s.pool < 0) fail("source '" + s.name + "': negative pool");
    if (s.pool > s.size)
      fail("source '" + s.name + "': pool of " + std::to_string(s.pool) +
           " sequences is larger than its training split (" + std::to_string(s.size) + ")");
    names_.push_back(s.name);
  }
  if (spec_.stages.empty()) fail("no stages");
  if (spec_.stages.front().start_step != 0) fail("the first stage must start at step 0");

  const int64_t total = num_positions();
  stages_.resize(spec_.stages.size());
  std::vector<int64_t> running(k, 0);
  for (size_t s = 0; s < spec_.stages.size(); ++s) {
    const MixtureStage& in = spec_.stages[s];
    const std::string where = "stage " + std::to_string(s) + " (start step " + std::to_string(in.start_step) + ")";
    if (s > 0 && in.start_step <= spec_.stages[s - 1].start_step) fail(where + ": stage starts must increase");
    if (in.start_step >= spec_.num_steps)
      fail(where + ": starts at or after the end of the run (" + std::to_string(spec_.num_steps) + " steps)");
    if (in.weights.size() != k) fail(where + ": expected " + std::to_string(k) + " weights");
    double sum = 0;
    for (double w : in.weights) {
      if (!(w >= 0) || !std::isfinite(w)) fail(where + ": weights must be finite and >= 0");
      sum += w;
    }
    if (!(sum > 0)) fail(where + ": weights sum to 0");

    StageTable& st = stages_[s];
    st.begin = in.start_step * spec_.batch_size;
    st.end = s + 1 < spec_.stages.size() ? spec_.stages[s + 1].start_step * spec_.batch_size : total;
    for (double w : in.weights) st.weights.push_back(w / sum);
    st.chain.resize(k);
    for (size_t i = 0; i < k; ++i) {
      double tail = 0;
      for (size_t j = i; j < k; ++j) tail += st.weights[j];
      st.chain[i] = tail > 0 ? std::min(1.0, st.weights[i] / tail) : 0.0;
    }
    const int64_t L = spec_.block_size;
    st.head = st.begin % L == 0 ? 0 : std::min(L - st.begin % L, st.end - st.begin);
    st.head_counts.assign(k, 0);
    st.block_counts.assign(k, 0);
    reference_counts(st.weights, st.head, st.head_counts.data());
    reference_counts(st.weights, L, st.block_counts.data());
    st.before = running;
    std::vector<int64_t> len_counts(k);
    counts_upto(st, st.end - st.begin, len_counts.data());
    for (size_t i = 0; i < k; ++i) running[i] += len_counts[i];
  }

  for (size_t i = 0; i < k; ++i) {
    const SourceSpec& src = spec_.sources[i];
    pools_.push_back(src.pool > 0 ? src.pool : src.size);
    if (running[i] > 0 && pools_[i] == 0)
      fail("source '" + src.name + "' is drawn " + std::to_string(running[i]) + " times but has no sequences");
    SourceOrder order = source_order(spec_, i, pools_[i]);
    source_keys_.push_back(order.key);
    orders_.push_back(order.split);
    visits_.push_back(order.visits);
  }
}

int32_t Mixture::source_index(const std::string& name) const {
  for (size_t i = 0; i < names_.size(); ++i)
    if (names_[i] == name) return static_cast<int32_t>(i);
  return -1;
}

void Mixture::reference_counts(const std::vector<double>& w, int64_t len, int64_t* out) const {
  const size_t k = w.size();
  int64_t sum = 0;
  size_t largest = 0;
  for (size_t i = 0; i < k; ++i) {
    out[i] = static_cast<int64_t>(w[i] * static_cast<double>(len));  // int() truncation
    sum += out[i];
    if (out[i] > out[largest]) largest = i;  // first maximum, like np.argmax
  }
  out[largest] += len - sum;
}

void Mixture::counts_upto(const StageTable& st, int64_t n, int64_t* out) const {
  const size_t k = st.weights.size();
  if (spec_.apportion == Apportion::exact) {
    int64_t rest = n;
    for (size_t i = 0; i + 1 < k; ++i) {
      int64_t c = static_cast<int64_t>(std::floor(st.chain[i] * static_cast<double>(rest) + 0.5));
      c = std::clamp<int64_t>(c, 0, rest);
      out[i] = c;
      rest -= c;
    }
    out[k - 1] = rest;
    return;
  }
  if (n <= st.head) {
    if (n == st.head) {
      std::copy(st.head_counts.begin(), st.head_counts.end(), out);
    } else {
      reference_counts(st.weights, n, out);
    }
    return;
  }
  const int64_t m = n - st.head, blocks = m / spec_.block_size, rem = m % spec_.block_size;
  int64_t tail[kMaxSources];
  reference_counts(st.weights, rem, tail);
  for (size_t i = 0; i < k; ++i) out[i] = st.head_counts[i] + blocks * st.block_counts[i] + tail[i];
}

void Mixture::segment_at(int64_t pos, Segment& seg) const {
  // Last stage whose begin <= pos (stages are few: a linear scan is fastest).
  uint32_t s = static_cast<uint32_t>(stages_.size() - 1);
  while (stages_[s].begin > pos) --s;
  const StageTable& st = stages_[s];
  const int64_t L = spec_.block_size;
  const int64_t block = pos / L;
  seg.stage = s;
  seg.begin = std::max(block * L, st.begin);
  seg.end = std::min((block + 1) * L, st.end);
  int64_t c0[kMaxSources], c1[kMaxSources];
  counts_upto(st, seg.begin - st.begin, c0);
  counts_upto(st, seg.end - st.begin, c1);
  const size_t k = names_.size();
  for (size_t i = 0; i < k; ++i) {
    seg.counts[i] = c1[i] - c0[i];
    seg.first_draw[i] = st.before[i] + c0[i];
  }
  seg.perm = IndexPermutation(static_cast<uint64_t>(seg.end - seg.begin),
                              derive_key(spec_.seed, s, static_cast<uint64_t>(block)));
}

int64_t Mixture::sequence_for_draw(int32_t source, int64_t k) const {
  const SourceSpec& src = spec_.sources[source];
  const int64_t pool = pools_[source];
  int64_t epoch = 0, r = k;
  if (k >= pool) {  // the common first pass skips a 64-bit division
    epoch = k / pool;
    r = k - epoch * pool;
  }
  if (src.repeat == Repeat::reshuffle && epoch > 0)
    r = static_cast<int64_t>(
        IndexPermutation(static_cast<uint64_t>(pool), derive_key(source_keys_[source], epoch))(r));
  if (visits_[source].size() > 0) r = static_cast<int64_t>(visits_[source](static_cast<uint64_t>(r)));
  return src.shuffle ? static_cast<int64_t>(orders_[source](static_cast<uint64_t>(r))) : r;
}

SequenceRef Mixture::lookup(const Segment& seg, int64_t pos) const {
  int64_t slot = static_cast<int64_t>(seg.perm(static_cast<uint64_t>(pos - seg.begin)));
  int32_t i = 0;
  while (slot >= seg.counts[i]) slot -= seg.counts[i++];
  return SequenceRef{i, sequence_for_draw(i, seg.first_draw[i] + slot)};
}

SequenceRef Mixture::at(int64_t pos) const {
  if (pos < 0 || pos >= num_positions())
    fail("position " + std::to_string(pos) + " is outside the run (0.." + std::to_string(num_positions()) + ")");
  Segment seg;
  segment_at(pos, seg);
  return lookup(seg, pos);
}

void Mixture::fill(int64_t first, std::span<SequenceRef> out) const {
  const int64_t last = first + static_cast<int64_t>(out.size());
  if (first < 0 || last > num_positions())
    fail("positions " + std::to_string(first) + ".." + std::to_string(last) + " are outside the run (0.." +
         std::to_string(num_positions()) + ")");
  Segment seg;
  int64_t pos = first;
  while (pos < last) {
    segment_at(pos, seg);
    const int64_t stop = std::min(seg.end, last);
    for (; pos < stop; ++pos) out[pos - first] = lookup(seg, pos);
  }
}

void Mixture::batch(int64_t step, std::span<SequenceRef> out) const {
  if (step < 0 || step >= spec_.num_steps)
    fail("step " + std::to_string(step) + " is outside the run (0.." + std::to_string(spec_.num_steps) + ")");
  if (static_cast<int64_t>(out.size()) != spec_.batch_size)
    fail("batch buffer holds " + std::to_string(out.size()) + " rows, batch_size is " +
         std::to_string(spec_.batch_size));
  fill(step * spec_.batch_size, out);
}

int64_t Mixture::draws_in_stage(size_t stage, int32_t source) const {
  const StageTable& st = stages_.at(stage);
  int64_t c[kMaxSources];
  counts_upto(st, st.end - st.begin, c);
  return c[source];
}

int64_t Mixture::draws_before_stage(size_t stage, int32_t source) const {
  return stages_.at(stage).before.at(source);
}

int64_t Mixture::total_draws(int32_t source) const {
  const size_t last = stages_.size() - 1;
  return draws_before_stage(last, source) + draws_in_stage(last, source);
}

StepWindow::StepWindow(std::shared_ptr<const BatchPlan> base, int64_t first_step, int64_t num_steps)
    : base_(std::move(base)), first_(first_step), count_(num_steps) {
  if (first_ < 0 || count_ < 0 || first_ + count_ > base_->num_steps())
    fail("step window " + std::to_string(first_) + "+" + std::to_string(count_) + " exceeds the run");
}

void StepWindow::batch(int64_t step, std::span<SequenceRef> out) const {
  if (step < 0 || step >= count_)
    fail("step " + std::to_string(step) + " is outside the phase (0.." + std::to_string(count_) + ")");
  base_->batch(first_ + step, out);
}

const char* to_string(Apportion a) { return a == Apportion::exact ? "exact" : "reference"; }
const char* to_string(Repeat r) { return r == Repeat::restart ? "restart" : "reshuffle"; }

}  // namespace replay::schedule
