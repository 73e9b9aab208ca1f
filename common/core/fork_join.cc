#include "common/core/fork_join.h"

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <utility>

namespace psflow {
namespace {

using Clock = std::chrono::steady_clock;

// How long a worker spins for the next job before it parks.
constexpr auto kSpin = std::chrono::microseconds(50);

inline void Pause() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

namespace {
std::atomic<int> g_default_threads{0};
}  // namespace

void ForkJoinPool::SetDefaultThreads(int threads) { g_default_threads.store(std::max(threads, 0)); }

int ForkJoinPool::DefaultThreads() {
  if (const int n = g_default_threads.load(); n > 0) return n;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

ForkJoinPool::ForkJoinPool(int threads) {
  const int n = threads > 0 ? threads : DefaultThreads();
  for (int i = 1; i < n; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ForkJoinPool::~ForkJoinPool() {
  {
    std::lock_guard<std::mutex> l(park_mu_);
    stop_ = true;
  }
  generation_.fetch_add(1);
  park_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

ForkJoinPool& ForkJoinPool::Shared(int threads) {
  static std::mutex mu;
  static auto* pools = new std::map<int, std::unique_ptr<ForkJoinPool>>;  // never destroyed: used until exit
  const int n = threads > 0 ? threads : DefaultThreads();
  std::lock_guard<std::mutex> l(mu);
  auto& p = (*pools)[n];
  if (p == nullptr) p = std::make_unique<ForkJoinPool>(n);
  return *p;
}

void ForkJoinPool::Work(Job* job) {
  for (int p; (p = job->next.fetch_add(1)) < job->parts;) {
    (*job->fn)(p);
    job->done.fetch_add(1, std::memory_order_release);
  }
}

namespace {
// The pool whose part this thread is running, if any: a nested Run on it
// runs inline (try_lock on a mutex this thread holds is undefined).
thread_local const ForkJoinPool* t_inside = nullptr;
}  // namespace

void ForkJoinPool::Run(int parts, const std::function<void(int)>& fn) {
  if (parts <= 0) return;
  std::unique_lock<std::mutex> turn;
  if (t_inside != this) turn = std::unique_lock<std::mutex>(run_mu_, std::try_to_lock);
  if (parts == 1 || workers_.empty() || !turn.owns_lock()) {
    // One part, no workers, or another caller's job running (a kernel
    // called from inside a part, or two sessions at once): run inline.
    for (int p = 0; p < parts; ++p) fn(p);
    return;
  }
  const ForkJoinPool* outer = std::exchange(t_inside, this);
  Job job{&fn, parts};
  job_.store(&job);
  generation_.fetch_add(1);
  {
    std::lock_guard<std::mutex> l(park_mu_);
    if (parked_ > 0) park_cv_.notify_all();
  }
  Work(&job);
  // The workers' parts are running: wait for them, spinning first.
  const auto start = Clock::now();
  for (int i = 0; job.done.load(std::memory_order_acquire) < parts; ++i) {
    if (i < 64 || Clock::now() - start < kSpin) {
      Pause();
    } else {
      std::this_thread::yield();
    }
  }
  // No worker may still hold the job when it goes out of scope.
  job_.store(nullptr);
  for (int i = 0; in_job_.load() != 0; ++i) {
    if (i < 1024) Pause();
    else std::this_thread::yield();  // a worker preempted on a shared machine
  }
  t_inside = outer;
}

void ForkJoinPool::WorkerLoop() {
  uint64_t seen = 0;  // not the current value: a worker that starts late still joins the job running
  while (true) {
    // Spin for a new job, then park until one comes.
    const auto start = Clock::now();
    for (int i = 0; generation_.load(std::memory_order_acquire) == seen; ++i) {
      if ((i & 63) != 63 || Clock::now() - start < kSpin) {
        Pause();
        continue;
      }
      std::unique_lock<std::mutex> l(park_mu_);
      ++parked_;
      park_cv_.wait(l, [&] { return stop_ || generation_.load() != seen; });
      --parked_;
      break;
    }
    {
      std::lock_guard<std::mutex> l(park_mu_);
      if (stop_) return;
    }
    seen = generation_.load();
    in_job_.fetch_add(1);
    if (Job* job = job_.load(); job != nullptr) Work(job);
    in_job_.fetch_sub(1);
  }
}

}  // namespace psflow
