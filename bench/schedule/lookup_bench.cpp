// Index lookups per second on one core: (seed, global position) ->
// (source, sequence index), for the paper's mid-training replay schedule at
// paper scale (N = 1024 steps x B = 1024 sequences, block 2048, target pool
// 1024 for 32 epochs, generic store of 2^20 sequences).
//   bench_schedule_lookup [repeats]
// Prints the median of `repeats` (default 7) timings of three paths:
//   batch   Mixture::batch(step) over every step (what the trainer calls)
//   at      Mixture::at(pos) for every position (segment work redone each time)
//   random  Mixture::at at pseudo-random positions (no locality)
#include <algorithm>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "schedule/mixture.h"
#include "schedule/paper.h"

using namespace replay::schedule;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double thread_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Million lookups per second of this thread's CPU time (the machine is
// shared and noisy, so wall time would measure the neighbours), median.
template <class F>
double time_mps(int repeats, int64_t lookups, F&& f) {
  std::vector<double> rates;
  for (int r = 0; r < repeats; ++r) {
    const double t0 = thread_cpu_seconds();
    f();
    rates.push_back(static_cast<double>(lookups) / (thread_cpu_seconds() - t0) / 1e6);
  }
  return median(rates);
}

Mixture paper_mixture(Apportion mode, Repeat repeat) {
  PaperKnobs k;
  k.f = 1.0 / 1024;
  k.e = 32;
  k.rho = 0.5;
  k.alpha = 1;
  const PaperSchedule p = derive_paper_schedule(k, 1024, 1024, "bench");
  MixtureSpec m;
  m.sources = {{"math", 4096, p.pool, repeat, true}, {"generic", 1 << 20, 0, Repeat::restart, true}};
  m.stages = {{0, {p.w1, 1 - p.w1}}, {p.boundary_step, {p.w2, 1 - p.w2}}};
  m.num_steps = 1024;
  m.batch_size = 1024;
  m.block_size = 2048;
  m.apportion = mode;
  return Mixture(m);
}

}  // namespace

int main(int argc, char** argv) {
  const int repeats = argc > 1 ? std::max(1, std::atoi(argv[1])) : 7;
  std::printf("bench_schedule_lookup: paper mid-training replay (rho 0.5, alpha 1), 1024 x 1024 positions, "
              "median of %d,\n  million lookups per second of thread CPU time\n", repeats);
  for (Apportion mode : {Apportion::exact, Apportion::reference}) {
    for (Repeat repeat : {Repeat::restart, Repeat::reshuffle}) {
      const Mixture mix = paper_mixture(mode, repeat);
      const int64_t n = mix.num_positions();
      std::vector<SequenceRef> buf(1024);
      uint64_t sink = 0;
      const double batch = time_mps(repeats, n, [&] {
        for (int64_t s = 0; s < mix.num_steps(); ++s) {
          mix.batch(s, buf);
          sink += static_cast<uint64_t>(buf[s % 1024].index);
        }
      });
      const double at = time_mps(repeats, n, [&] {
        for (int64_t p = 0; p < n; ++p) sink += static_cast<uint64_t>(mix.at(p).index);
      });
      const double random = time_mps(repeats, n, [&] {
        uint64_t x = 12345;
        for (int64_t i = 0; i < n; ++i) {
          x = x * 6364136223846793005ULL + 1442695040888963407ULL;
          sink += static_cast<uint64_t>(mix.at(static_cast<int64_t>((x >> 20) % static_cast<uint64_t>(n))).index);
        }
      });
      std::printf("  %-9s %-9s  batch %6.1f M/s   at %6.1f M/s   random %6.1f M/s   (sink %llu)\n",
                  to_string(mode), to_string(repeat), batch, at, random, static_cast<unsigned long long>(sink % 10));
    }
  }
  return 0;
}
