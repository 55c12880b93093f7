// Seeds of the data stream: the data seed orders (mixing, order of draws,
// reshuffles), the pool seed chooses a capped source's pool, and neither
// touches what the other decides. A plan whose pool seed is unset or equal to
// its data seed is the plan of one `seed`, unchanged since before the split.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "schedule/mixture.h"
#include "schedule/protocol.h"
#include "util/hash.h"

using namespace replay::schedule;

namespace {

// A capped target (pool 100 of 4096) mixed with uncapped generic data, with
// pool reshuffles so every kind of randomness is in the stream.
MixtureSpec capped_spec(uint64_t seed, std::optional<uint64_t> pool_seed = std::nullopt) {
  MixtureSpec m;
  m.sources = {{"math", 4096, 100, Repeat::reshuffle, true}, {"generic", 1 << 20, 0, Repeat::restart, true}};
  m.stages = {{0, {0.25, 0.75}}};
  m.num_steps = 64;
  m.batch_size = 32;
  m.block_size = 256;
  m.seed = seed;
  m.pool_seed = pool_seed;
  return m;
}

std::vector<SequenceRef> stream(const Mixture& mix) {
  std::vector<SequenceRef> all(static_cast<size_t>(mix.num_positions()));
  mix.fill(0, all);
  return all;
}

uint64_t stream_hash(const Mixture& mix) {
  replay::hash::Hasher64 h;
  for (const auto& r : stream(mix)) {  // field by field: SequenceRef has padding
    h.update(&r.source, sizeof r.source);
    h.update(&r.index, sizeof r.index);
  }
  return h.digest();
}

// A mid-training plan whose target pool (32 sequences of 500) comes from f.
ProtocolSpec mid_spec() {
  ProtocolSpec p;
  p.protocol = Protocol::mid_training;
  p.target = "math";
  p.generic = "generic";
  p.knobs.f = 1.0 / 256;
  p.knobs.e = 32;
  p.knobs.rho = 0.5;
  p.knobs.alpha = 1;
  p.steps = 256;
  p.batch_size = 32;
  p.block_size = 64;
  return p;
}
DataConfig mid_data() {
  DataConfig d;
  d.sources = {{"generic", "g", 0, Repeat::restart, true}, {"math", "t", 0, Repeat::restart, true}};
  return d;
}
int64_t mid_sizes(const SourceConfig& s) { return s.name == "generic" ? 100000 : 500; }

std::set<int64_t> indices_of(const std::vector<SequenceRef>& v, int32_t source) {
  std::set<int64_t> out;
  for (const auto& r : v)
    if (r.source == source) out.insert(r.index);
  return out;
}

std::vector<int64_t> sequence_of(const std::vector<SequenceRef>& v, int32_t source) {
  std::vector<int64_t> out;
  for (const auto& r : v)
    if (r.source == source) out.push_back(r.index);
  return out;
}

}  // namespace

// The stream of a one-seed plan, pinned: splitting the seed into streams
// must not move a single sequence of an existing run.
TEST(SeedStreams, OneSeedStreamIsPinned) {
  EXPECT_EQ(stream_hash(Mixture(capped_spec(42))), 15698631291629408630u);
  EXPECT_EQ(stream_hash(Mixture(capped_spec(7))), 2123146458046444536u);
}

// The plan key (part of every run's resolved config) of a one-seed plan, pinned.
TEST(SeedStreams, OneSeedPlanKeyIsPinned) {
  const RunPlan plan = build_run_plan(mid_spec(), mid_data(), mid_sizes);
  EXPECT_EQ(phase_content_key(plan, 0, ""), "9cba783b2ed348236807d2f95671bf7a");
  EXPECT_EQ(stream_hash(*plan.mixture), 17534835944939634187u);
}

// Only the data seed changed: the target pool holds the same sequences, but
// they come in another order, and so do the mixing and the generic data.
TEST(SeedStreams, DataSeedReordersAndKeepsThePool) {
  const Mixture a(capped_spec(42)), b(capped_spec(7, /*pool_seed=*/42));
  const auto sa = stream(a), sb = stream(b);
  EXPECT_EQ(indices_of(sa, 0).size(), 100u);  // 512 draws walk the whole pool
  EXPECT_EQ(indices_of(sa, 0), indices_of(sb, 0));
  EXPECT_NE(sequence_of(sa, 0), sequence_of(sb, 0));
  EXPECT_NE(sequence_of(sa, 1), sequence_of(sb, 1));
  size_t same_source = 0;
  for (size_t i = 0; i < sa.size(); ++i) same_source += sa[i].source == sb[i].source;
  EXPECT_LT(same_source, sa.size());  // the blocks are mixed differently
}

// Only the pool seed changed: another pool, and nothing else moves: every
// position draws from the same source, the uncapped source's sequences are
// the same position by position, and the pool is walked in the same slot order
// (so the k-th draw of two pools is the same slot of each).
TEST(SeedStreams, PoolSeedChoosesThePoolAndNothingElse) {
  const Mixture a(capped_spec(5, 42)), b(capped_spec(5, 7));
  const auto sa = stream(a), sb = stream(b);
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    ASSERT_EQ(sa[i].source, sb[i].source) << "position " << i;
    if (sa[i].source == 1) {
      ASSERT_EQ(sa[i].index, sb[i].index) << "position " << i;
    }
  }
  EXPECT_EQ(indices_of(sb, 0).size(), 100u);
  EXPECT_NE(indices_of(sa, 0), indices_of(sb, 0));
  // Slot order: the first occurrence of each sequence, ranked, is the same
  // permutation of draws in both runs.
  const auto ta = sequence_of(sa, 0), tb = sequence_of(sb, 0);
  for (size_t i = 0; i < ta.size(); ++i)
    for (size_t j = i + 1; j < std::min(ta.size(), i + 8); ++j)
      ASSERT_EQ(ta[i] == ta[j], tb[i] == tb[j]) << "draws " << i << ", " << j;
  // An uncapped source has no pool to choose: the pool seed leaves it alone.
  MixtureSpec uncapped = capped_spec(5, 7);
  uncapped.sources[0].pool = 0;
  MixtureSpec uncapped_same = uncapped;
  uncapped_same.pool_seed = 42;
  EXPECT_EQ(stream(Mixture(uncapped)), stream(Mixture(uncapped_same)));
}

// A pool seed equal to the data seed is the one-seed plan.
TEST(SeedStreams, EqualSeedsAreTheOneSeedPlan) {
  EXPECT_EQ(stream(Mixture(capped_spec(7, 7))), stream(Mixture(capped_spec(7))));
  EXPECT_NE(stream(Mixture(capped_spec(7, 8))), stream(Mixture(capped_spec(7))));
}

// The plan key holds the pool seed only where it chooses an active pool: the
// fine-tuning protocol's generic pre-training is shared across pool seeds.
TEST(SeedStreams, PlanKeyHoldsThePoolSeedWhereItMatters) {
  ProtocolSpec spec = mid_spec();
  const std::string one_seed = phase_content_key(build_run_plan(spec, mid_data(), mid_sizes), 0, "");
  spec.pool_seed = 42;
  EXPECT_EQ(phase_content_key(build_run_plan(spec, mid_data(), mid_sizes), 0, ""), one_seed);
  spec.pool_seed = 7;
  EXPECT_NE(phase_content_key(build_run_plan(spec, mid_data(), mid_sizes), 0, ""), one_seed);

  ProtocolSpec ft = mid_spec();
  ft.protocol = Protocol::fine_tuning;
  ft.knobs.rho.reset();
  ft.knobs.alpha.reset();
  ft.knobs.e = 64;
  ft.m = 2;
  ProtocolSpec ft7 = ft;
  ft7.pool_seed = 7;
  const RunPlan a = build_run_plan(ft, mid_data(), mid_sizes), b = build_run_plan(ft7, mid_data(), mid_sizes);
  EXPECT_EQ(phase_content_key(a, 0, "m"), phase_content_key(b, 0, "m"));  // generic only
  EXPECT_NE(phase_content_key(a, 1, "m"), phase_content_key(b, 1, "m"));  // the target's pool
}
