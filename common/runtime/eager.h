// Eager execution: run one op on tensors at once, with the same kernels the
// graph uses (for debugging, tests and the parameter server's own math).
//
//   EagerContext ctx;
//   ASSIGN_OR_RETURN(Tensor c, ctx.Run1("MatMul", {a, b}, {{"transpose_a", false}, {"transpose_b", false}}));
//   ASSIGN_OR_RETURN(Tensor r, eager::Relu(ctx, c));
//
// Shape functions run first, so errors are the ones graph building gives.
//
// On a GPU (TensorFlow eager's tf.device / .gpu() / .cpu()): a context made
// with EagerOptions{.gpu} runs each op on that device (an op without a GPU
// kernel runs on the CPU, logged once per op type), copies host inputs
// there, and leaves results on the device; ToDevice / ToHost move tensors.
//
//   EagerContext gpu_ctx({.gpu = gpu, .log_device_placement = true});
//   ASSIGN_OR_RETURN(Tensor a, gpu_ctx.ToDevice(host_a));     // a.device(): gpu:0
//   ASSIGN_OR_RETURN(Tensor c, eager::MatMul(gpu_ctx, a, b)); // runs on gpu:0
//   ASSIGN_OR_RETURN(Tensor h, gpu_ctx.ToHost(c));
//
// A CPU context given device tensors copies them to the host first.
// Thread-safe (each call builds its own one-node graph).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/graph/attr_value.h"
#include "common/ops/variable_store.h"

namespace psflow {

class EigenCpu;
class GpuDevice;

struct EagerOptions {
  int intra_op_threads = 0;     // 0: one per hardware thread
  GpuDevice* gpu = nullptr;     // null: ops run on the CPU
  bool log_device_placement = false;  // logs where each op runs
};

class EagerContext {
 public:
  explicit EagerContext(int intra_op_threads = 0);
  explicit EagerContext(EagerOptions options);
  ~EagerContext();

  // The device ops run on (null: the CPU).
  GpuDevice* gpu() const { return options_.gpu; }
  // A copy of `t` on the context's GPU (FailedPrecondition on a CPU
  // context); a tensor already there is returned as is.
  StatusOr<Tensor> ToDevice(const Tensor& t) const;
  // A host copy of `t` (a host tensor is returned as is).
  static StatusOr<Tensor> ToHost(const Tensor& t);

  StatusOr<std::vector<Tensor>> Run(const std::string& op_type, const std::vector<Tensor>& inputs,
                                    std::map<std::string, AttrValue> attrs = {});
  // The first output.
  StatusOr<Tensor> Run1(const std::string& op_type, const std::vector<Tensor>& inputs,
                        std::map<std::string, AttrValue> attrs = {});
  VariableStore* variables() { return &variables_; }

 private:
  StatusOr<std::vector<Tensor>> RunOnGpu(const std::string& op_type, const std::vector<Tensor>& inputs,
                                         std::map<std::string, AttrValue> attrs);

  EagerOptions options_;
  std::shared_ptr<EigenCpu> cpu_;
  LocalVariableStore variables_;
};

namespace eager {
StatusOr<Tensor> Add(EagerContext& c, const Tensor& x, const Tensor& y);
StatusOr<Tensor> Sub(EagerContext& c, const Tensor& x, const Tensor& y);
StatusOr<Tensor> Mul(EagerContext& c, const Tensor& x, const Tensor& y);
StatusOr<Tensor> Div(EagerContext& c, const Tensor& x, const Tensor& y);
StatusOr<Tensor> MatMul(EagerContext& c, const Tensor& a, const Tensor& b, bool transpose_a = false,
                        bool transpose_b = false);
StatusOr<Tensor> Relu(EagerContext& c, const Tensor& x);
StatusOr<Tensor> Softmax(EagerContext& c, const Tensor& x);
StatusOr<Tensor> Sum(EagerContext& c, const Tensor& x, std::vector<int64_t> axes, bool keep_dims = false);
StatusOr<Tensor> Mean(EagerContext& c, const Tensor& x, std::vector<int64_t> axes, bool keep_dims = false);
StatusOr<Tensor> ArgMax(EagerContext& c, const Tensor& x, int64_t axis);
}  // namespace eager

}  // namespace psflow
