// MatMul on the CPU: float through oneDNN's sgemm (onednn.h) when psflow has
// it, other dtypes (and float without oneDNN) with Eigen's multi-threaded
// tensor contraction.  The only translation unit that instantiates Eigen's
// contraction templates, to keep builds fast.
#include <algorithm>
#include <map>
#include <mutex>
#include <thread>

#include "common/core/fork_join.h"
#include "common/ops/cpu_simd.h"
#include "common/ops/eigen_cpu.h"
#include "common/ops/fused_kernels.h"
#include "common/ops/onednn.h"
#include "common/ops/op_util.h"
#include "common/ops/ops.h"

namespace psflow {

EigenCpu::EigenCpu(int threads)
    : pool_(threads > 0 ? threads : ForkJoinPool::DefaultThreads()),
      device_(&pool_, pool_.NumThreads()) {}

std::shared_ptr<EigenCpu> EigenCpu::Shared(int threads) {
  static std::mutex mu;
  static auto* pools = new std::map<int, std::weak_ptr<EigenCpu>>;
  const int n = threads > 0 ? threads : ForkJoinPool::DefaultThreads();
  std::lock_guard<std::mutex> l(mu);
  std::shared_ptr<EigenCpu> p = (*pools)[n].lock();
  if (p == nullptr) {
    p = std::make_shared<EigenCpu>(n);
    (*pools)[n] = p;
  }
  return p;
}

void ParallelFor(const Eigen::ThreadPoolDevice& d, int parts, const std::function<void(int)>& fn) {
  ForkJoinPool::Shared(d.numThreads()).Run(parts, fn);
}

int OpKernelContext::intra_op_threads() const { return cpu_->numThreads(); }
void OpKernelContext::ParallelFor(int parts, const std::function<void(int)>& fn) const {
  psflow::ParallelFor(*cpu_, parts, fn);
}

namespace {

using op_util::DefineOp;

template <typename T>
void Contract(const Eigen::ThreadPoolDevice& d, const Tensor& a, const Tensor& b, Tensor* out,
              bool ta, bool tb) {
  using Map2 = Eigen::TensorMap<Eigen::Tensor<const T, 2, Eigen::RowMajor>, Eigen::Aligned>;
  using OutMap = Eigen::TensorMap<Eigen::Tensor<T, 2, Eigen::RowMajor>, Eigen::Aligned>;
  Map2 am(static_cast<const T*>(a.raw_data()), a.shape().dim(0), a.shape().dim(1));
  Map2 bm(static_cast<const T*>(b.raw_data()), b.shape().dim(0), b.shape().dim(1));
  OutMap om(static_cast<T*>(out->raw_data()), out->shape().dim(0), out->shape().dim(1));
  Eigen::array<Eigen::IndexPair<Eigen::Index>, 1> dims = {
      Eigen::IndexPair<Eigen::Index>(ta ? 0 : 1, tb ? 1 : 0)};
  om.device(d) = am.contract(bm, dims);
}

Status MatMulShape(InferenceContext& c) {
  ASSIGN_OR_RETURN(bool ta, c.GetAttr<bool>("transpose_a"));
  ASSIGN_OR_RETURN(bool tb, c.GetAttr<bool>("transpose_b"));
  if (c.input_dtype(0) != c.input_dtype(1)) {
    return InvalidArgumentError("MatMul inputs have dtypes ", c.input_dtype(0), " and ", c.input_dtype(1));
  }
  const PartialShape& a = c.input_shape(0);
  const PartialShape& b = c.input_shape(1);
  if ((!a.unknown_rank() && a.rank() != 2) || (!b.unknown_rank() && b.rank() != 2)) {
    return InvalidArgumentError("MatMul needs matrices, got ", a.DebugString(), " and ", b.DebugString());
  }
  const int64_t m = a.unknown_rank() ? kUnknownDim : a.dim(ta ? 1 : 0);
  const int64_t ka = a.unknown_rank() ? kUnknownDim : a.dim(ta ? 0 : 1);
  const int64_t kb = b.unknown_rank() ? kUnknownDim : b.dim(tb ? 1 : 0);
  const int64_t n = b.unknown_rank() ? kUnknownDim : b.dim(tb ? 0 : 1);
  if (ka >= 0 && kb >= 0 && ka != kb) {
    return InvalidArgumentError("Matrix size-incompatible: In[0]: ", a.DebugString(),
                                ", In[1]: ", b.DebugString(),
                                (ta || tb) ? " (with transposes)" : "");
  }
  c.AddOutput(c.input_dtype(0), PartialShape({m, n}));
  return OkStatus();
}

Status MatMulGrad(GradContext& g) {
  ASSIGN_OR_RETURN(bool ta, g.node->GetAttr<bool>("transpose_a"));
  ASSIGN_OR_RETURN(bool tb, g.node->GetAttr<bool>("transpose_b"));
  const Scope& s = g.scope;
  Output a = g.node->inputs()[0], b = g.node->inputs()[1], grad = g.grads_out[0];
  Output ga, gb;
  if (!ta && !tb) {
    ga = ops::MatMul(s, grad, b, false, true);
    gb = ops::MatMul(s, a, grad, true, false);
  } else if (!ta && tb) {
    ga = ops::MatMul(s, grad, b, false, false);
    gb = ops::MatMul(s, grad, a, true, false);
  } else if (ta && !tb) {
    ga = ops::MatMul(s, b, grad, false, true);
    gb = ops::MatMul(s, a, grad, false, false);
  } else {
    ga = ops::MatMul(s, b, grad, true, true);
    gb = ops::MatMul(s, grad, a, true, true);
  }
  (*g.grads_in)[0] = ga;
  (*g.grads_in)[1] = gb;
  return OkStatus();
}

// MatMul, and with an epilogue the fused MatMul + BiasAdd (+ Relu), whose
// third input is the bias.
Status MatMulImpl(OpKernelContext& c, bool fused, bool relu) {
  ASSIGN_OR_RETURN(bool ta, c.GetAttr<bool>("transpose_a"));
  ASSIGN_OR_RETURN(bool tb, c.GetAttr<bool>("transpose_b"));
  const Tensor& a = c.input(0);
  const Tensor& b = c.input(1);
  if (a.shape().rank() != 2 || b.shape().rank() != 2) {
    return InvalidArgumentError("MatMul needs matrices, got ", a.shape().DebugString(), " and ",
                                b.shape().DebugString());
  }
  const int64_t m = a.shape().dim(ta ? 1 : 0), k = a.shape().dim(ta ? 0 : 1);
  const int64_t k2 = b.shape().dim(tb ? 1 : 0), n = b.shape().dim(tb ? 0 : 1);
  if (k != k2) {
    return InvalidArgumentError("Matrix size-incompatible: In[0]: ", a.shape().DebugString(),
                                ", In[1]: ", b.shape().DebugString());
  }
  onednn::Epilogue epilogue;
  if (fused) {
    const Tensor& bias = c.input(2);
    if (a.dtype() != DType::kFloat || bias.dtype() != DType::kFloat || bias.shape().rank() != 1 ||
        bias.shape().dim(0) != n) {
      return InvalidArgumentError("bias of shape ", bias.shape().DebugString(), " does not match the last dimension of [",
                                  m, ",", n, "]");
    }
    epilogue = {.bias = bias.flat<float>().data(), .relu = relu};
  }
  Tensor* out = c.AllocateOutput(0, TensorShape({m, n}));
  if (k == 0) {
    PSFLOW_NUMERIC_DISPATCH(out->dtype(), for (T& v : out->flat<T>()) v = T(0));
  } else if (a.dtype() == DType::kFloat && onednn::Enabled()) {
    return onednn::Gemm(a.flat<float>().data(), b.flat<float>().data(), out->flat<float>().data(), m, k, n, ta, tb,
                        op_util::CpuThreads(c), epilogue);
  } else {
    PSFLOW_NUMERIC_DISPATCH(a.dtype(), Contract<T>(c.eigen_cpu(), a, b, out, ta, tb));
  }
  if (epilogue.bias != nullptr) simd::Get().bias_relu(out->flat<float>().data(), epilogue.bias, m, n, n, relu);
  return OkStatus();
}

Status MatMulKernel(OpKernelContext& c) { return MatMulImpl(c, false, false); }

}  // namespace

template <typename T>
void GemmRowMajor(const Eigen::ThreadPoolDevice& d, const T* a, const T* b, T* c, int64_t m, int64_t k,
                  int64_t n, bool ta, bool tb) {
  if (k == 0) {  // Eigen's contraction over nothing leaves c unwritten: the product is zero
    std::fill(c, c + m * n, T(0));
    return;
  }
  using Map2 = Eigen::TensorMap<Eigen::Tensor<const T, 2, Eigen::RowMajor>, Eigen::Unaligned>;
  using OutMap = Eigen::TensorMap<Eigen::Tensor<T, 2, Eigen::RowMajor>, Eigen::Unaligned>;
  Map2 am(a, ta ? k : m, ta ? m : k);
  Map2 bm(b, tb ? n : k, tb ? k : n);
  OutMap cm(c, m, n);
  Eigen::array<Eigen::IndexPair<Eigen::Index>, 1> dims = {
      Eigen::IndexPair<Eigen::Index>(ta ? 0 : 1, tb ? 1 : 0)};
  cm.device(d) = am.contract(bm, dims);
}
template void GemmRowMajor<float>(const Eigen::ThreadPoolDevice&, const float*, const float*, float*, int64_t,
                                  int64_t, int64_t, bool, bool);
template void GemmRowMajor<double>(const Eigen::ThreadPoolDevice&, const double*, const double*, double*,
                                   int64_t, int64_t, int64_t, bool, bool);

const KernelFn& FusedMatMulKernel(bool relu) {
  static const KernelFn bias = [](OpKernelContext& c) { return MatMulImpl(c, true, false); };
  static const KernelFn bias_relu = [](OpKernelContext& c) { return MatMulImpl(c, true, true); };
  return relu ? bias_relu : bias;
}

void RegisterMatMulOnce() {
  DefineOp({.type = "MatMul", .num_inputs = 2, .shape_fn = MatMulShape, .grad = MatMulGrad},
           MatMulKernel);
}

namespace ops {
Output MatMul(const Scope& s, Output a, Output b, bool transpose_a, bool transpose_b,
              const std::string& name) {
  return MakeOp(s, "MatMul", name, {a, b}, {{"transpose_a", transpose_a}, {"transpose_b", transpose_b}});
}
}  // namespace ops
}  // namespace psflow
