// A fork-join pool for the CPU kernels' intra-op parallelism: Run(parts, fn)
// calls fn(0), ..., fn(parts - 1) on the caller and the pool's workers and
// returns when all have returned.
//
//   ForkJoinPool& pool = ForkJoinPool::Shared(2);   // one per size, per process
//   pool.Run(4, [&](int part) { Relu(x + part * chunk, ...); });
//
// Why not a general task pool: a training step is a chain of kernels, each
// split a few ways, microseconds to milliseconds apart.  Waking a parked
// thread costs tens of microseconds on a VM (futex wake, then the waiter's
// wake), so a worker spins for a while (kSpin) after its last part before
// it parks, and the caller spins while its workers finish.  The spin is
// bounded, unlike OpenMP's default (milliseconds per region), so a PS and
// two trainers sharing a machine's cores do not burn them for each other.
// Parts are taken from a shared counter, so uneven parts balance.  One job
// runs at a time: a caller that finds the pool busy (another thread's job,
// or its own from inside a part) runs its parts inline on its own thread.
// fn must not throw.  Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace psflow {

class ForkJoinPool {
 public:
  // `threads` in all, the caller included: threads - 1 workers.  <= 0: one
  // per core this process may use.
  explicit ForkJoinPool(int threads);
  ~ForkJoinPool();
  ForkJoinPool(const ForkJoinPool&) = delete;
  ForkJoinPool& operator=(const ForkJoinPool&) = delete;

  // The process's pool of `threads` (<= 0: one per core), made on first use.
  static ForkJoinPool& Shared(int threads);
  // The default size: SetDefaultThreads's value if one was set (a task's
  // run.intra_op_threads), else the cores this process may run on (its
  // CPU affinity), at least 1.
  static int DefaultThreads();
  static void SetDefaultThreads(int threads);  // <= 0: back to the cores

  int size() const { return static_cast<int>(workers_.size()) + 1; }
  // fn(0), ..., fn(parts - 1), then returns.  Parts run in any order, on any
  // thread; fn must not call Run on the same pool (it would run inline).
  void Run(int parts, const std::function<void(int)>& fn);

 private:
  struct Job {
    const std::function<void(int)>* fn;
    int parts;
    std::atomic<int> next{0};  // the next part to take
    std::atomic<int> done{0};  // parts finished
  };
  void Work(Job* job);
  void WorkerLoop();

  std::mutex run_mu_;                // one job at a time
  std::atomic<Job*> job_{nullptr};   // the job running, if any
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> in_job_{0};       // workers that may be touching job_
  std::mutex park_mu_;
  std::condition_variable park_cv_;
  int parked_ = 0;                   // GUARDED_BY(park_mu_)
  bool stop_ = false;                // GUARDED_BY(park_mu_)
  std::vector<std::thread> workers_;
};

}  // namespace psflow
