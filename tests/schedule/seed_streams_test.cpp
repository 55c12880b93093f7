// Seeds of the data stream: the data seed orders (mixing, order of draws,
// reshuffles), the pool seed chooses a capped source's pool, and neither
// touches what the other decides. A plan whose pool seed is unset or equal to
// its data seed is the plan of one `seed`, unchanged since before the split.
#include <gtest/gtest.h>

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
  (void)pool_seed;
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
