// Kernels: the code that runs one op on one device.
//
//   Status ReluKernel(OpKernelContext& ctx) {
//     const Tensor& x = ctx.input(0);
//     ASSIGN_OR_RETURN(Tensor* y, ctx.AllocateOutput(0, x.shape()));
//     ...
//   }
//   KernelRegistry::Global()->Register("Relu", DeviceKind::kCPU, ReluKernel);
//
// A kernel reads inputs and attributes, writes outputs, and may touch
// variables through ctx.variables().  It reports bad inputs as Status; the
// executor adds the node's name and type to the message.  Kernels must be
// safe to run concurrently on different nodes.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "common/graph/graph.h"
#include "common/ops/variable_store.h"

namespace Eigen {
struct ThreadPoolDevice;
}

namespace psflow {

class GpuDevice;

enum class DeviceKind { kCPU, kGPU };

// Per-node state that lives across runs (random generators; a GPU
// kernel's device copy of a constant).
struct KernelState {
  std::mutex mu;  // for kernels whose node may run in concurrent steps
  std::mt19937_64 rng;
  bool seeded = false;
  uint64_t key = 0;    // a GPU random kernel's Philox key (GUARDED_BY(mu))
  uint64_t draws = 0;  // counters it has used so far (GUARDED_BY(mu))
  Tensor cached;       // GUARDED_BY(mu)
  std::shared_ptr<const void> aux;  // a kernel's own cache, e.g. an index (GUARDED_BY(mu))
};

class OpKernelContext {
 public:
  OpKernelContext(const Node& node, std::vector<Tensor> inputs, VariableStore* variables,
                  const Eigen::ThreadPoolDevice* cpu, KernelState* state)
      : node_(node),
        inputs_(std::move(inputs)),
        outputs_(static_cast<size_t>(node.num_outputs())),
        variables_(variables),
        cpu_(cpu),
        state_(state) {}

  const Node& node() const { return node_; }
  int num_inputs() const { return static_cast<int>(inputs_.size()); }
  const Tensor& input(int i) const { return inputs_[static_cast<size_t>(i)]; }
  template <typename T>
  StatusOr<T> GetAttr(std::string_view name) const {
    return node_.GetAttr<T>(name);
  }

  // Allocates output i with the node's output dtype.
  Tensor* AllocateOutput(int i, TensorShape shape) {
    outputs_[static_cast<size_t>(i)] = Tensor(node_.output_dtype(i), std::move(shape));
    return &outputs_[static_cast<size_t>(i)];
  }
  void SetOutput(int i, Tensor t) { outputs_[static_cast<size_t>(i)] = std::move(t); }
  std::vector<Tensor>& outputs() { return outputs_; }

  VariableStore* variables() const { return variables_; }
  const Eigen::ThreadPoolDevice& eigen_cpu() const { return *cpu_; }
  // The session's intra-op pool: its size, and a runner of fn(0), ...,
  // fn(parts - 1) on it (fn(0) on the calling thread) that returns when all
  // are done.
  int intra_op_threads() const;
  void ParallelFor(int parts, const std::function<void(int)>& fn) const;
  KernelState* state() const { return state_; }
  // The device of a GPU kernel (null for CPU kernels), and the tag under
  // which its input errors are reported (see KernelError).
  GpuDevice* gpu() const { return gpu_; }
  int error_tag() const { return error_tag_; }
  void SetGpu(GpuDevice* gpu, int error_tag) {
    gpu_ = gpu;
    error_tag_ = error_tag;
  }

 private:
  const Node& node_;
  std::vector<Tensor> inputs_;
  std::vector<Tensor> outputs_;
  VariableStore* variables_;
  const Eigen::ThreadPoolDevice* cpu_;
  KernelState* state_;
  GpuDevice* gpu_ = nullptr;
  int error_tag_ = 0;
};

using KernelFn = std::function<Status(OpKernelContext&)>;

// Kernels by (op type, device).  Global() holds the CPU kernels; each GPU
// backend keeps its own registry (GpuDevice::kernels()).
class KernelRegistry {
 public:
  static KernelRegistry* Global();
  void Register(const std::string& type, DeviceKind device, KernelFn fn);
  const KernelFn* Lookup(std::string_view type, DeviceKind device) const;
  // The op types with a kernel for `device`.
  std::vector<std::string> Types(DeviceKind device) const;

 private:
  std::map<std::pair<std::string, DeviceKind>, KernelFn> kernels_;
};

}  // namespace psflow
