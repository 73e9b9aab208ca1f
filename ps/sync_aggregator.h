// Synchronous training's aggregation on one PS task (TensorFlow's
// SyncReplicasOptimizer): the first `replicas` pushes for the current step
// are collected, then averaged into one update; pushes for an older step
// are stale and dropped (what makes backup workers harmless).
//
//   SyncAggregator agg(/*replicas=*/2);
//   if (agg.Add(grads, step) == SyncAggregator::kComplete) {
//     ASSIGN_OR_RETURN(SyncAggregator::Mean mean, agg.TakeMean());   // the step's update; step() moves on
//     ... apply mean.items ...
//   }
//
// Gradients are checked against their variables before they are added.
// Not thread-safe: the parameter server calls it under its own lock.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/core/status.h"
#include "common/distributed/ps_protocol.h"

namespace psflow {

class SyncAggregator {
 public:
  enum Outcome { kStale, kPending, kComplete };

  explicit SyncAggregator(int64_t replicas) : replicas_(replicas) {}

  // Adds one replica's push for `step`: kStale (an older step: dropped),
  // kPending (fewer than `replicas` so far), or kComplete (take the mean).
  Outcome Add(const std::vector<PushItem>& grads, int64_t step);

  // The completed step's update: per variable one dense gradient, the mean
  // of the replicas' (their sum scaled by 1/replicas), and each row-sparse
  // push with its values scaled by 1/replicas (applied one after another,
  // they add up to the mean); `received` counts the pushes and bytes that
  // came per variable.  Then aggregates for the next step (on an error:
  // for the same step again, the collected pushes dropped).
  struct Mean {
    std::vector<PushItem> items;
    std::map<std::string, VariableStats> received;  // pushes and bytes_in
  };
  StatusOr<Mean> TakeMean();

  // Drops what was collected and aggregates for `step` (after a restore).
  void Reset(int64_t step);
  int64_t step() const { return step_; }  // the step being aggregated

 private:
  const int64_t replicas_;
  int64_t step_ = 0;
  int64_t received_ = 0;
  std::map<std::string, std::vector<PushItem>> pending_;
};

}  // namespace psflow
