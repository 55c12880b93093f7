// One place that decides how many threads the maths uses. libtorch's intra-op
// pool, OpenMP and OpenBLAS must agree: if OpenBLAS runs its own threads
// next to torch's, they fight for the cores (measured: half the throughput).
#pragma once

namespace replay::model {

// Cores this process may run on (sched_getaffinity), at least 1.
int available_cores();

// Sets torch intra-op threads, OpenMP and OpenBLAS to `threads` and returns
// the count used. 0: OMP_NUM_THREADS when it holds a positive number (what a
// launcher gives each of several ranks on one machine: `replay launch`,
// dist/launch.h, and torchrun), else all available cores. Debian's libtorch
// starts at 1 thread, so every entry point that trains or benchmarks calls
// this.
int configure_threads(int threads);

}  // namespace replay::model
