#include "common/core/fork_join.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace psflow {
namespace {

TEST(ForkJoinPoolTest, EveryPartRunsOnceAcrossThreads) {
  ForkJoinPool pool(3);
  EXPECT_EQ(pool.size(), 3);
  std::vector<std::atomic<int>> runs(64);
  std::mutex mu;
  std::set<std::thread::id> threads;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  pool.Run(64, [&](int p) {
    runs[static_cast<size_t>(p)].fetch_add(1);
    {
      std::lock_guard<std::mutex> l(mu);
      threads.insert(std::this_thread::get_id());
    }
    // Each part waits until a second thread has taken one (or 5 s pass):
    // the caller cannot run them all alone.
    while (std::chrono::steady_clock::now() < deadline) {
      std::lock_guard<std::mutex> l(mu);
      if (threads.size() >= 2) break;
    }
  });
  for (auto& r : runs) EXPECT_EQ(r.load(), 1);
  EXPECT_GE(threads.size(), 2u);
}

TEST(ForkJoinPoolTest, ManyShortJobsInARowAndAfterTheWorkersPark) {
  ForkJoinPool pool(2);
  int64_t sum = 0;
  for (int job = 0; job < 20000; ++job) {
    std::atomic<int64_t> s{0};
    pool.Run(4, [&](int p) { s.fetch_add(p + 1); });
    sum += s.load();
    if (job % 5000 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));  // the workers park
  }
  EXPECT_EQ(sum, 20000 * 10);
}

TEST(ForkJoinPoolTest, NestedAndConcurrentCallersRunInline) {
  ForkJoinPool pool(2);
  std::atomic<int> inner{0};
  pool.Run(2, [&](int) { pool.Run(3, [&](int) { inner.fetch_add(1); }); });
  EXPECT_EQ(inner.load(), 6);
  std::atomic<int> total{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 3; ++t) {
    callers.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) pool.Run(5, [&](int) { total.fetch_add(1); });
    });
  }
  for (auto& c : callers) c.join();
  EXPECT_EQ(total.load(), 3 * 2000 * 5);
}

TEST(ForkJoinPoolTest, SharedPoolsArePerSize) {
  EXPECT_EQ(&ForkJoinPool::Shared(2), &ForkJoinPool::Shared(2));
  EXPECT_EQ(ForkJoinPool::Shared(3).size(), 3);
  EXPECT_EQ(ForkJoinPool::Shared(0).size(), ForkJoinPool::DefaultThreads());
  // A task's run.intra_op_threads sets the default; 0 goes back to the cores.
  const int cores = ForkJoinPool::DefaultThreads();
  ForkJoinPool::SetDefaultThreads(cores + 3);
  EXPECT_EQ(ForkJoinPool::DefaultThreads(), cores + 3);
  EXPECT_EQ(ForkJoinPool::Shared(0).size(), cores + 3);
  ForkJoinPool::SetDefaultThreads(0);
  EXPECT_EQ(ForkJoinPool::DefaultThreads(), cores);
  ForkJoinPool one(1);
  int runs = 0;
  one.Run(3, [&](int) { ++runs; });  // no workers: all inline
  EXPECT_EQ(runs, 3);
}

}  // namespace
}  // namespace psflow
