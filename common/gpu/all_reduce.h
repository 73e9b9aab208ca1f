// All-reduce across the GPUs of one process, for a worker that replicates
// its step over several GPUs: after WeightedSum, every device holds
// sum_j weights[j] * tensors[j][k] in its tensors[i][k] (in place).
//
//   ASSIGN_OR_RETURN(auto ar, GpuAllReduce::Create({gpu0, gpu1}));
//   RETURN_IF_ERROR(ar->WeightedSum(grads, {0.5, 0.5}));   // grads[i]: device i's gradients
//
// NCCL between CUDA devices (one communicator per device, created once,
// collectives on each device's stream); host staging for emulated devices.
// Weights let replicas with unequal shares of a batch give its mean
// gradient.  Not thread-safe: one caller at a time.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/gpu/gpu_device.h"

namespace psflow {

class GpuAllReduce {
 public:
  // REQUIRES: distinct devices of one backend.
  static StatusOr<std::unique_ptr<GpuAllReduce>> Create(std::vector<GpuDevice*> devices);
  virtual ~GpuAllReduce() = default;

  // tensors[i] are device i's tensors (float or double; the same dtypes and
  // shapes on every device); weights[i] scales device i's contribution.
  // Everything is checked before anything is scaled or summed.
  Status WeightedSum(std::vector<std::vector<Tensor>>& tensors, const std::vector<double>& weights);
  virtual std::string name() const = 0;  // "nccl" or "host"

 protected:
  explicit GpuAllReduce(std::vector<GpuDevice*> devices) : devices_(std::move(devices)) {}
  // The plain sum, in place on every device (arguments already checked).
  virtual Status Sum(std::vector<std::vector<Tensor>>& tensors) = 0;

  const std::vector<GpuDevice*> devices_;
};

// Checks WeightedSum's arguments: one list per device, the same dtypes
// (float or double) and shapes in every list, each tensor on its device.
Status CheckAllReduceArgs(const std::vector<GpuDevice*>& devices, const std::vector<std::vector<Tensor>>& tensors,
                          const std::vector<double>& weights);

}  // namespace psflow
