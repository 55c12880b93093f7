// The mixture engine: exact counts, purity, determinism, ranks, pools.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "schedule/mixture.h"
#include "schedule/permutation.h"
#include "util/error.h"

using namespace replay::schedule;

namespace {

MixtureSpec two_source_spec(double w_target, int64_t steps = 64, int64_t batch = 32, int64_t block = 256) {
  MixtureSpec m;
  m.sources = {{"math", 4096, 100, Repeat::restart, true}, {"generic", 1 << 20, 0, Repeat::restart, true}};
  m.stages = {{0, {w_target, 1 - w_target}}};
  m.num_steps = steps;
  m.batch_size = batch;
  m.block_size = block;
  return m;
}

std::vector<SequenceRef> stream(const Mixture& mix) {
  std::vector<SequenceRef> all(static_cast<size_t>(mix.num_positions()));
  for (int64_t s = 0; s < mix.num_steps(); ++s)
    mix.batch(s, std::span(all).subspan(static_cast<size_t>(s * mix.batch_size()), mix.batch_size()));
  return all;
}

int64_t count_source(const std::vector<SequenceRef>& v, int64_t begin, int64_t end, int32_t source) {
  int64_t n = 0;
  for (int64_t p = begin; p < end; ++p) n += v[static_cast<size_t>(p)].source == source;
  return n;
}

}  // namespace

TEST(Permutation, IsABijectionForManySizes) {
  for (uint64_t n : {1ULL, 2ULL, 3ULL, 5ULL, 64ULL, 100ULL, 2047ULL, 2048ULL, 2049ULL, 100003ULL}) {
    IndexPermutation p(n, 1234 + n);
    std::vector<bool> hit(n, false);
    for (uint64_t x = 0; x < n; ++x) {
      const uint64_t y = p(x);
      ASSERT_LT(y, n);
      ASSERT_FALSE(hit[y]) << "n=" << n;
      hit[y] = true;
    }
  }
  // Not the identity and key-dependent.
  IndexPermutation a(2048, 1), b(2048, 2);
  int fixed = 0, same = 0;
  for (uint64_t x = 0; x < 2048; ++x) {
    fixed += a(x) == x;
    same += a(x) == b(x);
  }
  EXPECT_LT(fixed, 20);
  EXPECT_LT(same, 20);
}

TEST(Mixture, ReferenceCountsPerBlockAreTruncatedWithRemainderToLargest) {
  MixtureSpec spec = two_source_spec(0.3);
  spec.apportion = Apportion::reference;
  const Mixture mix(spec);
  const auto all = stream(mix);
  // int(0.3 * 256) = 76, generic int(0.7 * 256) = 179, remainder 1 to generic.
  for (int64_t b = 0; b < mix.num_positions() / 256; ++b)
    EXPECT_EQ(count_source(all, b * 256, (b + 1) * 256, 0), 76) << b;
  EXPECT_EQ(mix.total_draws(0), 76 * 8);
}

TEST(Mixture, ExactCountsTrackThePlanEverywhere) {
  const double w = 0.3;
  const Mixture mix(two_source_spec(w));
  const auto all = stream(mix);
  int64_t cumulative = 0;
  for (int64_t b = 0; b < mix.num_positions() / 256; ++b) {
    const int64_t c = count_source(all, b * 256, (b + 1) * 256, 0);
    EXPECT_TRUE(c == 76 || c == 77) << b;  // floor or ceil of 0.3 * 256 = 76.8
    cumulative += c;
    EXPECT_LE(std::abs(static_cast<double>(cumulative) - w * 256 * (b + 1)), 0.5);
  }
  EXPECT_EQ(mix.total_draws(0), 614);  // round(0.3 * 2048) = 614.4 -> 614
  EXPECT_EQ(cumulative, 614);
}

TEST(Mixture, ThreeSourcesStayWithinOneOfThePlan) {
  MixtureSpec spec = two_source_spec(0.0, 40, 50, 128);
  spec.sources.push_back({"code", 1 << 20, 0, Repeat::restart, true});
  spec.stages = {{0, {0.13, 0.55, 0.32}}, {17, {0.01, 0.9, 0.09}}};
  const Mixture mix(spec);
  const auto all = stream(mix);
  // Per block counts are never negative and every stage realizes its plan.
  for (int32_t src = 0; src < 3; ++src) {
    const int64_t s0 = count_source(all, 0, 17 * 50, src);
    const int64_t s1 = count_source(all, 17 * 50, 40 * 50, src);
    EXPECT_LE(std::abs(s0 - spec.stages[0].weights[src] * 850), 1.0) << src;
    EXPECT_LE(std::abs(s1 - spec.stages[1].weights[src] * 1150), 1.0) << src;
    EXPECT_EQ(s0, mix.draws_in_stage(0, src));
    EXPECT_EQ(s1, mix.draws_in_stage(1, src));
  }
}

TEST(Mixture, AtFillAndBatchAgree) {
  MixtureSpec spec = two_source_spec(0.25);
  spec.stages.push_back({37, {0.6, 0.4}});  // 37 * 32 = 1184: mid-block
  const Mixture mix(spec);
  const auto all = stream(mix);
  for (int64_t p = 0; p < mix.num_positions(); p += 7) EXPECT_EQ(mix.at(p), all[static_cast<size_t>(p)]) << p;
  std::vector<SequenceRef> part(333);
  mix.fill(1000, part);
  for (size_t i = 0; i < part.size(); ++i) EXPECT_EQ(part[i], all[1000 + i]);
}

TEST(Mixture, StreamIsDeterministicAndSeeded) {
  const Mixture a(two_source_spec(0.4)), b(two_source_spec(0.4));
  EXPECT_EQ(stream(a), stream(b));
  MixtureSpec other = two_source_spec(0.4);
  other.seed = 43;
  const auto c = stream(Mixture(other));
  const auto sa = stream(a);
  int64_t same = 0;
  for (size_t i = 0; i < sa.size(); ++i) same += sa[i] == c[i];
  EXPECT_LT(same, static_cast<int64_t>(sa.size()) / 20);
}

TEST(Mixture, TwoRanksReadingHalvesReproduceTheGlobalBatch) {
  const Mixture mix(two_source_spec(0.4));
  std::vector<SequenceRef> global(32), rank0(16), rank1(16);
  for (int64_t step : {0, 1, 17, 63}) {
    mix.batch(step, global);
    mix.fill(step * 32, rank0);
    mix.fill(step * 32 + 16, rank1);
    for (int i = 0; i < 16; ++i) {
      EXPECT_EQ(rank0[i], global[i]);
      EXPECT_EQ(rank1[i], global[16 + i]);
    }
  }
}

TEST(Mixture, StageBoundaryOffTheBlockGridIsSplit) {
  for (Apportion mode : {Apportion::exact, Apportion::reference}) {
    MixtureSpec spec = two_source_spec(0.0, 64, 32, 256);
    spec.apportion = mode;
    spec.stages.push_back({21, {1.0, 0.0}});  // 672: inside block 2 (512..768)
    const Mixture mix(spec);
    const auto all = stream(mix);
    EXPECT_EQ(count_source(all, 0, 672, 0), 0);
    EXPECT_EQ(count_source(all, 672, 2048, 0), 2048 - 672);
    EXPECT_EQ(mix.total_draws(0), 2048 - 672);
  }
}

TEST(Mixture, PoolRestartRepeatsTheSameOrder) {
  MixtureSpec spec = two_source_spec(1.0, 10, 40, 400);  // 400 target draws, pool 100: 4 epochs
  const Mixture mix(spec);
  std::vector<int64_t> draws;
  for (int64_t k = 0; k < 400; ++k) draws.push_back(mix.sequence_for_draw(0, k));
  const std::set<int64_t> pool(draws.begin(), draws.begin() + 100);
  EXPECT_EQ(pool.size(), 100u);  // the first epoch visits 100 distinct sequences
  for (int64_t k = 100; k < 400; ++k) EXPECT_EQ(draws[k], draws[k % 100]);
  // Shuffled order: a seeded choice of 100 out of 4096, not simply 0..99.
  EXPECT_GT(*pool.rbegin(), 100);
  // The realized stream holds exactly those, 4 times each.
  std::map<int64_t, int> uses;
  for (const SequenceRef& r : stream(mix)) {
    ASSERT_EQ(r.source, 0);
    ++uses[r.index];
  }
  EXPECT_EQ(uses.size(), 100u);
  for (const auto& [idx, n] : uses) EXPECT_EQ(n, 4);
}

TEST(Mixture, PoolReshuffleKeepsThePoolButChangesTheOrder) {
  MixtureSpec spec = two_source_spec(1.0, 10, 40, 400);
  spec.sources[0].repeat = Repeat::reshuffle;
  const Mixture mix(spec);
  MixtureSpec restart_spec = two_source_spec(1.0, 10, 40, 400);
  const Mixture restart(restart_spec);
  std::set<int64_t> first;
  for (int64_t k = 0; k < 100; ++k) {
    EXPECT_EQ(mix.sequence_for_draw(0, k), restart.sequence_for_draw(0, k));  // epoch 0 identical
    first.insert(mix.sequence_for_draw(0, k));
  }
  for (int64_t e = 1; e < 4; ++e) {
    std::set<int64_t> epoch;
    int same_place = 0;
    for (int64_t k = e * 100; k < (e + 1) * 100; ++k) {
      epoch.insert(mix.sequence_for_draw(0, k));
      same_place += mix.sequence_for_draw(0, k) == mix.sequence_for_draw(0, k - e * 100);
    }
    EXPECT_EQ(epoch, first) << e;
    EXPECT_LT(same_place, 10) << e;
  }
}

TEST(Mixture, UnshuffledPoolIsTheFirstSequences) {
  MixtureSpec spec = two_source_spec(1.0, 10, 40, 400);
  spec.sources[0].shuffle = false;
  const Mixture mix(spec);
  for (int64_t k = 0; k < 250; ++k) EXPECT_EQ(mix.sequence_for_draw(0, k), k % 100);
}

TEST(Mixture, GenericNeverRepeatsAndIndicesStayInTheSplit) {
  const Mixture mix(two_source_spec(0.1));
  std::set<int64_t> generic;
  int64_t n = 0;
  for (const SequenceRef& r : stream(mix)) {
    if (r.source != 1) continue;
    ++n;
    EXPECT_LT(r.index, 1 << 20);
    EXPECT_GE(r.index, 0);
    generic.insert(r.index);
  }
  EXPECT_EQ(static_cast<int64_t>(generic.size()), n);
}

TEST(Mixture, RejectsBadSpecs) {
  MixtureSpec s = two_source_spec(0.5);
  s.sources[0].pool = 5000;  // > size 4096
  EXPECT_THROW(Mixture{s}, replay::Error);
  s = two_source_spec(0.5);
  s.stages[0].start_step = 1;
  EXPECT_THROW(Mixture{s}, replay::Error);
  s = two_source_spec(0.5);
  s.stages.push_back({64, {1, 0}});  // at the end of the run
  EXPECT_THROW(Mixture{s}, replay::Error);
  s = two_source_spec(0.5);
  s.stages[0].weights = {0, 0};
  EXPECT_THROW(Mixture{s}, replay::Error);
  s = two_source_spec(0.5);
  s.sources[1].name = "math";
  EXPECT_THROW(Mixture{s}, replay::Error);
  const Mixture ok(two_source_spec(0.5));
  std::vector<SequenceRef> wrong(5);
  EXPECT_THROW(ok.batch(0, wrong), replay::Error);
  std::vector<SequenceRef> right(32);
  EXPECT_THROW(ok.batch(64, right), replay::Error);
}
