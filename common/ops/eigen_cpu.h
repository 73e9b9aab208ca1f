// The Eigen thread pool that CPU kernels run on (private to common/ops and
// common/runtime).  Including this pulls in Eigen's Tensor module: keep it
// out of widely included headers.
#pragma once

#define EIGEN_USE_THREADS
#include <unsupported/Eigen/CXX11/Tensor>

#include <functional>
#include <memory>

namespace psflow {

// The intra-op thread pool.  A process has one per size (Shared): the
// sessions of a trainer, its evaluator and the PS applies share it instead
// of each starting threads that would compete for the same cores.
class EigenCpu {
 public:
  // threads <= 0: one per hardware thread.
  explicit EigenCpu(int threads);
  static std::shared_ptr<EigenCpu> Shared(int threads);
  const Eigen::ThreadPoolDevice& device() const { return device_; }
  int num_threads() const { return device_.numThreads(); }

 private:
  Eigen::ThreadPool pool_;
  Eigen::ThreadPoolDevice device_;
};

// Runs fn(0), ..., fn(parts - 1) on the process's fork-join pool of d's
// size (common/core/fork_join.h) and returns when all are done.
void ParallelFor(const Eigen::ThreadPoolDevice& d, int parts, const std::function<void(int)>& fn);

}  // namespace psflow
