// A fixed set of worker threads that live as long as the pool and run the
// same job when asked: the one thread pool of the codebase (the tokenizer
// trainer's word counting, the store builder's tokenization).
//
// The threads are kept between jobs on purpose: the tokenizer keeps a
// per-thread cache of pieces, so threads started per job would begin cold
// every time (measured in the store builder: slower than one thread).
// The calling thread is worker 0, so a pool of one starts no thread.
// Exceptions: a job that throws on any worker is rethrown by run() once every
// worker has returned (the first one thrown); for_each_index stops handing
// out indices after a throw.
#pragma once
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace replay {

// `requested` when positive, else the machine's hardware threads (at least
// one): the rule for every "threads = 0 means all cores" option.
int resolve_threads(int requested);

class WorkerPool {
 public:
  explicit WorkerPool(int threads);  // threads >= 1
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  int size() const { return static_cast<int>(threads_.size()) + 1; }

  // Calls job(w) once for each worker w in [0, size()), w = 0 on the calling
  // thread, and returns when every call has returned.
  void run(const std::function<void(int worker)>& job);

  // Calls fn(i) once for each i in [0, n), indices handed out one at a time
  // to whichever worker is free (so uneven items balance). fn must be safe to
  // call concurrently for different i.
  void for_each_index(size_t n, const std::function<void(size_t i)>& fn);

 private:
  void worker_loop(int worker);
  void call(int worker);

  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  const std::function<void(int)>* job_ = nullptr;
  uint64_t generation_ = 0;
  size_t busy_ = 0;
  bool stop_ = false;
  std::exception_ptr failure_;
};

}  // namespace replay
