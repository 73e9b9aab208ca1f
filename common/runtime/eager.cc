#include "common/runtime/eager.h"

#include "common/core/logging.h"
#include "common/gpu/gpu_device.h"
#include "common/graph/op_registry.h"
#include "common/graph/scope.h"
#include "common/ops/eigen_cpu.h"
#include "common/ops/kernel.h"
#include "common/ops/ops.h"
#include "common/runtime/session.h"

namespace psflow {

EagerContext::EagerContext(int threads) : EagerContext(EagerOptions{.intra_op_threads = threads}) {}
EagerContext::EagerContext(EagerOptions options)
    : options_(options), cpu_(EigenCpu::Shared(options.intra_op_threads)) {
  RegisterStandardOps();
}
EagerContext::~EagerContext() = default;

StatusOr<Tensor> EagerContext::ToDevice(const Tensor& t) const {
  if (options_.gpu == nullptr) {
    return FailedPreconditionError("this eager context runs on the CPU; make one with EagerOptions{.gpu} to place "
                                   "tensors on a GPU");
  }
  if (t.device() == options_.gpu->device()) return t;
  if (!t.device().is_host()) {
    ASSIGN_OR_RETURN(Tensor h, t.ToHost());
    return options_.gpu->CopyToDevice(h);
  }
  return options_.gpu->CopyToDevice(t);
}

StatusOr<Tensor> EagerContext::ToHost(const Tensor& t) {
  if (t.device().is_host()) return t;
  return t.ToHost();
}

// On a GPU, through a session on that device: its kernels, copies, CPU
// fallback, kernel error reports and placement log.
StatusOr<std::vector<Tensor>> EagerContext::RunOnGpu(const std::string& op_type, const std::vector<Tensor>& inputs,
                                                     std::map<std::string, AttrValue> attrs) {
  Graph g;
  Scope s(&g);
  FeedList feeds;
  std::vector<Output> ins;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Output in = ops::Placeholder(s, inputs[i].dtype(), PartialShape(inputs[i].shape().dims()), StrCat("input", i));
    ins.push_back(in);
    feeds.emplace_back(in, inputs[i]);
  }
  RETURN_IF_ERROR(s.status());
  ASSIGN_OR_RETURN(Node* node, s.AddNode({.type = op_type, .name = op_type, .inputs = ins, .attrs = std::move(attrs)}));
  std::vector<Output> fetches;
  for (int i = 0; i < node->num_outputs(); ++i) fetches.push_back(node->output(i));
  Session sess(&g, {.intra_op_threads = options_.intra_op_threads,
                    .variables = &variables_,
                    .gpu = options_.gpu,
                    .log_device_placement = options_.log_device_placement});
  std::vector<Tensor> out;
  RETURN_IF_ERROR(sess.Run(feeds, fetches, {}, &out, RunOptions{.fetch_to_host = false}).WithContext("eager ", op_type));
  return out;
}

StatusOr<std::vector<Tensor>> EagerContext::Run(const std::string& op_type, const std::vector<Tensor>& inputs,
                                                std::map<std::string, AttrValue> attrs) {
  const OpDef* def = OpRegistry::Global()->Lookup(op_type);
  if (def == nullptr) return NotFoundError("op type ", op_type, " is not registered");
  if (!def->ref_inputs.empty()) {
    return InvalidArgumentError(op_type, " updates a graph variable; it cannot run eagerly");
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].initialized()) return InvalidArgumentError("input ", i, " of eager ", op_type, " is empty");
  }
  if (options_.gpu != nullptr) return RunOnGpu(op_type, inputs, std::move(attrs));
  // A one-node graph whose inputs are constants (sharing the tensors' buffers).
  Graph g;
  Scope s(&g);
  std::vector<Output> ins;
  std::vector<Tensor> host;
  for (size_t i = 0; i < inputs.size(); ++i) {
    ASSIGN_OR_RETURN(Tensor h, ToHost(inputs[i]));
    host.push_back(h);
    ins.push_back(ops::Const(s, std::move(h), StrCat("input", i)));
  }
  auto node = s.AddNode({.type = op_type, .name = op_type, .inputs = ins, .attrs = std::move(attrs)});
  if (!node.ok()) return node.status();
  const KernelFn* k = KernelRegistry::Global()->Lookup(op_type, DeviceKind::kCPU);
  if (k == nullptr) return UnimplementedError("no CPU kernel for op ", op_type);
  KernelState state;
  if (options_.log_device_placement) LOG(INFO) << "eager " << op_type << ": cpu:0";
  OpKernelContext ctx(**node, host, &variables_, &cpu_->device(), &state);
  RETURN_IF_ERROR((*k)(ctx).WithContext("eager ", op_type));
  return std::move(ctx.outputs());
}

StatusOr<Tensor> EagerContext::Run1(const std::string& op_type, const std::vector<Tensor>& inputs,
                                    std::map<std::string, AttrValue> attrs) {
  ASSIGN_OR_RETURN(std::vector<Tensor> out, Run(op_type, inputs, std::move(attrs)));
  if (out.empty()) return InvalidArgumentError(op_type, " has no outputs");
  return out[0];
}

namespace eager {
StatusOr<Tensor> Add(EagerContext& c, const Tensor& x, const Tensor& y) { return c.Run1("Add", {x, y}); }
StatusOr<Tensor> Sub(EagerContext& c, const Tensor& x, const Tensor& y) { return c.Run1("Sub", {x, y}); }
StatusOr<Tensor> Mul(EagerContext& c, const Tensor& x, const Tensor& y) { return c.Run1("Mul", {x, y}); }
StatusOr<Tensor> Div(EagerContext& c, const Tensor& x, const Tensor& y) { return c.Run1("RealDiv", {x, y}); }
StatusOr<Tensor> MatMul(EagerContext& c, const Tensor& a, const Tensor& b, bool ta, bool tb) {
  return c.Run1("MatMul", {a, b}, {{"transpose_a", ta}, {"transpose_b", tb}});
}
StatusOr<Tensor> Relu(EagerContext& c, const Tensor& x) { return c.Run1("Relu", {x}); }
StatusOr<Tensor> Softmax(EagerContext& c, const Tensor& x) { return c.Run1("Softmax", {x}); }
StatusOr<Tensor> Sum(EagerContext& c, const Tensor& x, std::vector<int64_t> axes, bool keep_dims) {
  return c.Run1("Sum", {x}, {{"axes", std::move(axes)}, {"keep_dims", keep_dims}});
}
StatusOr<Tensor> Mean(EagerContext& c, const Tensor& x, std::vector<int64_t> axes, bool keep_dims) {
  return c.Run1("Mean", {x}, {{"axes", std::move(axes)}, {"keep_dims", keep_dims}});
}
StatusOr<Tensor> ArgMax(EagerContext& c, const Tensor& x, int64_t axis) {
  return c.Run1("ArgMax", {x}, {{"axis", axis}});
}
}  // namespace eager
}  // namespace psflow
