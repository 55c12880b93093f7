#include "model/threads.h"

#include <dlfcn.h>
#include <omp.h>
#include <sched.h>

#include <ATen/Parallel.h>

#include "util/error.h"

namespace replay::model {

int available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  return 1;
}

int configure_threads(int threads) {
  if (threads < 0) throw Error("threads must be >= 0 (0 = all cores), got " + std::to_string(threads));
  const int n = threads == 0 ? available_cores() : threads;
  at::set_num_threads(n);  // torch's pool (and OpenMP in Debian's OpenMP build)
  omp_set_num_threads(n);
  // OpenBLAS is reached through libtorch; look its setter up at run time so
  // that a build against another BLAS (MKL in pip wheels) still links.
  using SetThreads = void (*)(int);
  if (auto* set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    set(n);
  return n;
}

}  // namespace replay::model
