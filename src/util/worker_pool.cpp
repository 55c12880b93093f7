#include "util/worker_pool.h"

#include <algorithm>
#include <atomic>
#include <utility>

namespace replay {

int resolve_threads(int requested) {
  return requested > 0 ? requested : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

WorkerPool::WorkerPool(int threads) {
  for (int w = 1; w < threads; ++w) threads_.emplace_back([this, w] { worker_loop(w); });
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

void WorkerPool::run(const std::function<void(int)>& job) {
  {
    std::lock_guard lock(mu_);
    job_ = &job;
    busy_ = threads_.size();
    failure_ = nullptr;
    ++generation_;
  }
  wake_.notify_all();
  call(0);
  std::unique_lock lock(mu_);
  done_.wait(lock, [&] { return busy_ == 0; });
  job_ = nullptr;
  if (failure_) std::rethrow_exception(std::exchange(failure_, nullptr));
}

void WorkerPool::for_each_index(size_t n, const std::function<void(size_t)>& fn) {
  std::atomic<size_t> next{0};
  run([&](int) {
    try {
      for (size_t i; (i = next.fetch_add(1)) < n;) fn(i);
    } catch (...) {
      next = n;  // the other workers stop at their next index
      throw;
    }
  });
}

// Runs the current job on `worker`, keeping the first exception.
void WorkerPool::call(int worker) {
  try {
    (*job_)(worker);
  } catch (...) {
    std::lock_guard lock(mu_);
    if (!failure_) failure_ = std::current_exception();
  }
}

void WorkerPool::worker_loop(int worker) {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
    }
    call(worker);
    std::lock_guard lock(mu_);
    if (--busy_ == 0) done_.notify_one();
  }
}

}  // namespace replay
