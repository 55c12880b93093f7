#include "model/threads.h"

#include <dlfcn.h>
#include <omp.h>
#include <sched.h>

#include <ATen/Parallel.h>

#include <cstdlib>

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

namespace {

// OMP_NUM_THREADS as a positive count, 0 when unset or not one.
int omp_num_threads() {
  const char* text = std::getenv("OMP_NUM_THREADS");
  if (!text || !*text) return 0;
  char* end = nullptr;
  const long n = std::strtol(text, &end, 10);
  return *end == '\0' && n > 0 && n <= 4096 ? static_cast<int>(n) : 0;
}

}  // namespace

int configure_threads(int threads) {
  if (threads < 0) throw Error("threads must be >= 0 (0 = all cores), got " + std::to_string(threads));
  const int from_launcher = omp_num_threads();
  const int n = threads > 0 ? threads : from_launcher > 0 ? from_launcher : available_cores();
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
