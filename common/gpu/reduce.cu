// GPU kernels of the reductions (Sum, Mean, Max, SumToShapeOf, L2Loss,
// ArgMax) and of the row-wise ops over the last dimension: Softmax,
// LogSoftmax, their gradients, and the softmax cross-entropies.
//
// A reduction is first put in canonical form: size-1 dimensions dropped,
// neighbours of the same kind (kept / reduced) merged.  [K, R] (reducing
// the innermost elements) runs one block per output with a block
// reduction; every other form runs one thread per output, walking the
// reduced positions through an IndexMap (coalesced when the innermost
// dimension is kept, as in the bias gradients [batch, n] -> [n]).
#include "common/gpu/gpu_kernel.h"

namespace psflow::PSFLOW_GPU_NS {
namespace {

struct SumOp {
  template <typename T> __device__ T operator()(T a, T b) const { return a + b; }
  template <typename T> __device__ static T Identity() { return T(0); }
  static constexpr bool kMax = false;
};
struct MaxOp {
  template <typename T> __device__ T operator()(T a, T b) const { return b > a ? b : a; }
  template <typename T> __device__ static T Identity() { return Lowest<T>(); }
  static constexpr bool kMax = true;
};
struct Plain { template <typename T> __device__ T operator()(T x) const { return x; } };
struct Squared { template <typename T> __device__ T operator()(T x) const { return x * x; } };

// out[row] = reduce(pre(x[row, 0..cols))) / divisor, one block per row.
template <typename T, typename Op, typename Pre>
__global__ void RowReduceKernel(const T* x, T* out, int64_t rows, int64_t cols, T divisor) {
  const int64_t row = PSFLOW_ROW_INDEX;
  if (row >= rows) return;  // the whole block: no barrier is skipped by part of it
  const T* xr = x + row * cols;
  T acc = Op::template Identity<T>();
  for (int64_t k = threadIdx.x; k < cols; k += blockDim.x) acc = Op()(acc, Pre()(xr[k]));
  acc = BlockReduce<T, Op::kMax>(acc);
  if (threadIdx.x == 0) out[row] = acc / divisor;
}

// out[o] = reduce over r of pre(x[kept(o) + reduced(r)]) / divisor.
template <typename T, typename Op, typename Pre>
__global__ void StridedReduceKernel(const T* x, T* out, int64_t n, IndexMap kept, IndexMap reduced, int64_t count,
                                    T divisor) {
  PSFLOW_GRID_LOOP(o, n) {
    const int64_t base = MapOffset(kept, o);
    T acc = Op::template Identity<T>();
    for (int64_t r = 0; r < count; ++r) acc = Op()(acc, Pre()(x[base + MapOffset(reduced, r)]));
    out[o] = acc / divisor;
  }
}

template <typename T>
__global__ void ArgMaxKernel(const T* x, int64_t* out, int64_t outer, int64_t n, int64_t inner) {
  PSFLOW_GRID_LOOP(o, outer * inner) {
    const int64_t i = o / inner, j = o % inner;
    const T* xs = x + i * n * inner + j;
    int64_t best = 0;
    for (int64_t k = 1; k < n; ++k) {
      if (xs[k * inner] > xs[best * inner]) best = k;
    }
    out[o] = best;
  }
}

// The max of a row and log(sum(exp(x - max))), for every thread of the block.
template <typename T>
__device__ void RowMaxLogSumExp(const T* xr, int64_t cols, T* max, T* lse) {
  T m = Lowest<T>();
  for (int64_t k = threadIdx.x; k < cols; k += blockDim.x) m = xr[k] > m ? xr[k] : m;
  m = BlockAllReduce<T, true>(m);
  T s = 0;
  for (int64_t k = threadIdx.x; k < cols; k += blockDim.x) s += Exp(xr[k] - m);
  *max = m;
  *lse = Log(BlockAllReduce<T>(s));
}

// Softmax rows: y = exp(x - max - lse), or x - max - lse for LogSoftmax.
template <typename T>
__global__ void SoftmaxKernel(const T* x, T* y, int64_t rows, int64_t cols, bool log) {
  const int64_t row = PSFLOW_ROW_INDEX;
  if (row >= rows) return;
  const T* xr = x + row * cols;
  T* yr = y + row * cols;
  T m, lse;
  RowMaxLogSumExp(xr, cols, &m, &lse);
  for (int64_t k = threadIdx.x; k < cols; k += blockDim.x) yr[k] = log ? xr[k] - m - lse : Exp(xr[k] - m - lse);
}

// Softmax gradient (g, y): (g - sum(g * y)) * y; LogSoftmax: g - exp(y) * sum(g).
template <typename T>
__global__ void SoftmaxGradKernel(const T* g, const T* y, T* out, int64_t rows, int64_t cols, bool log) {
  const int64_t row = PSFLOW_ROW_INDEX;
  if (row >= rows) return;
  const T* gr = g + row * cols;
  const T* yr = y + row * cols;
  T* o = out + row * cols;
  T acc = 0;
  for (int64_t k = threadIdx.x; k < cols; k += blockDim.x) acc += log ? gr[k] : gr[k] * yr[k];
  acc = BlockAllReduce<T>(acc);
  for (int64_t k = threadIdx.x; k < cols; k += blockDim.x) o[k] = log ? gr[k] - Exp(yr[k]) * acc : (gr[k] - acc) * yr[k];
}

// Cross-entropy rows.  Sparse: loss = -log p[label], backprop = p - onehot;
// dense: loss = -sum(z * log p), backprop = p - z.
template <typename T, typename I>
__global__ void SparseXentKernel(const T* x, const I* labels, T* loss, T* bp, int64_t rows, int64_t cols,
                                 KernelError* err, int32_t tag) {
  const int64_t row = PSFLOW_ROW_INDEX;
  if (row >= rows) return;
  const T* xr = x + row * cols;
  T* br = bp + row * cols;
  const int64_t label = static_cast<int64_t>(labels[row]);
  T m, lse;
  RowMaxLogSumExp(xr, cols, &m, &lse);
  const bool valid = label >= 0 && label < cols;
  if (!valid && threadIdx.x == 0) {
    ReportError(err, KernelError::kLabelOutOfRange, tag, row, label, cols);
    loss[row] = T(0);
  }
  for (int64_t k = threadIdx.x; k < cols; k += blockDim.x) {
    const T logp = xr[k] - m - lse;
    br[k] = Exp(logp) - (k == label ? T(1) : T(0));
    if (k == label) loss[row] = -logp;
  }
}

template <typename T>
__global__ void SoftmaxXentKernel(const T* x, const T* z, T* loss, T* bp, int64_t rows, int64_t cols) {
  const int64_t row = PSFLOW_ROW_INDEX;
  if (row >= rows) return;
  const T* xr = x + row * cols;
  const T* zr = z + row * cols;
  T* br = bp + row * cols;
  T m, lse;
  RowMaxLogSumExp(xr, cols, &m, &lse);
  T l = 0;
  for (int64_t k = threadIdx.x; k < cols; k += blockDim.x) {
    const T logp = xr[k] - m - lse;
    l -= zr[k] * logp;
    br[k] = Exp(logp) - zr[k];
  }
  l = BlockReduce<T>(l);
  if (threadIdx.x == 0) loss[row] = l;
}

// ---- Host side ----

// A reduction in canonical form.
struct ReducePlan {
  std::vector<int64_t> dims;  // after dropping 1s and merging
  std::vector<bool> reduced;
  int64_t kept_elements = 1, reduced_elements = 1;
};

// `reduced_dim(d)` says whether input dimension d is reduced.
template <typename F>
ReducePlan Canonical(const TensorShape& x, F reduced_dim) {
  ReducePlan p;
  for (int d = 0; d < x.rank(); ++d) {
    const int64_t n = x.dim(d);
    const bool r = reduced_dim(d);
    (r ? p.reduced_elements : p.kept_elements) *= n;
    if (n == 1) continue;
    if (!p.dims.empty() && p.reduced.back() == r) {
      p.dims.back() *= n;
    } else {
      p.dims.push_back(n);
      p.reduced.push_back(r);
    }
  }
  return p;
}

// Reduces x into out (whose element count is the kept elements' count).
template <typename T, typename Op, typename Pre>
Status Reduce(OpKernelContext& c, const Tensor& x, const ReducePlan& p, Tensor* out, T divisor) {
  Backend* dev = Dev(c);
  const int64_t n = out->num_elements();
  if (n == 0) return OkStatus();
  const T* xs = Ptr<const T>(x);
  T* o = Ptr<T>(*out);
  if (p.dims.empty() || (p.dims.size() == 1 && !p.reduced[0])) {
    // Nothing reduced (or the reduced dimensions are all 1), or x is empty:
    // one element per output, through the same arithmetic.
    if (x.num_elements() == 0) {
      return LaunchN(dev, "FillKernel", n, StridedReduceKernel<T, Op, Pre>, xs, o, n, IndexMap{}, IndexMap{}, int64_t{0}, divisor);
    }
    IndexMap all;
    all.rank = 1;
    all.dims[0] = n;
    all.strides[0] = 1;
    IndexMap none;
    return LaunchN(dev, "StridedReduceKernel", n, StridedReduceKernel<T, Op, Pre>, xs, o, n, all, none, int64_t{1}, divisor);
  }
  if (p.reduced.back() && p.dims.size() <= 2 && p.reduced_elements > 64) {
    const int64_t cols = p.dims.back();
    return LaunchRows(dev, "RowReduceKernel", n, RowThreads(cols), RowReduceKernel<T, Op, Pre>, xs, o, n, cols, divisor);
  }
  // Strides of the canonical dims, split into the kept and reduced maps.
  std::vector<int64_t> st(p.dims.size(), 1);
  for (size_t d = p.dims.size() - 1; d > 0; --d) st[d - 1] = st[d] * p.dims[d];
  std::vector<int64_t> kd, ks, rd, rs;
  for (size_t d = 0; d < p.dims.size(); ++d) {
    (p.reduced[d] ? rd : kd).push_back(p.dims[d]);
    (p.reduced[d] ? rs : ks).push_back(st[d]);
  }
  ASSIGN_OR_RETURN(IndexMap kept, MakeMap(kd, ks, 0));
  ASSIGN_OR_RETURN(IndexMap reduced, MakeMap(rd, rs, 0));
  return LaunchN(dev, "StridedReduceKernel", n, StridedReduceKernel<T, Op, Pre>, xs, o, n, kept, reduced,
                 p.reduced_elements, divisor);
}

enum class Kind { kSum, kMean, kMax };

template <typename T>
Status ReduceOp(OpKernelContext& c, Kind kind) {
  ASSIGN_OR_RETURN(auto axes, c.GetAttr<std::vector<int64_t>>("axes"));
  ASSIGN_OR_RETURN(bool keep, c.GetAttr<bool>("keep_dims"));
  const Tensor& x = c.input(0);
  ASSIGN_OR_RETURN(std::vector<int> norm, op_util::NormalizeAxes(axes, x.shape().rank()));
  auto is_reduced = [&](int d) { return std::find(norm.begin(), norm.end(), d) != norm.end(); };
  std::vector<int64_t> out_dims;
  for (int d = 0; d < x.shape().rank(); ++d) {
    if (kind == Kind::kMax && is_reduced(d) && x.shape().dim(d) == 0) {
      return InvalidArgumentError("Max over an empty dimension of ", x.shape().DebugString());
    }
    if (!is_reduced(d)) out_dims.push_back(x.shape().dim(d));
    else if (keep) out_dims.push_back(1);
  }
  ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, 0, TensorShape(out_dims)));
  const ReducePlan p = Canonical(x.shape(), is_reduced);
  switch (kind) {
    case Kind::kSum: return Reduce<T, SumOp, Plain>(c, x, p, out, T(1));
    case Kind::kMax: return Reduce<T, MaxOp, Plain>(c, x, p, out, T(1));
    case Kind::kMean: {
      const T count = x.num_elements() > 0 ? static_cast<T>(x.num_elements() / std::max<int64_t>(1, out->num_elements())) : T(1);
      return Reduce<T, SumOp, Plain>(c, x, p, out, count);
    }
  }
  return OkStatus();
}

KernelFn ReduceKernelFn(Kind kind) {
  return [kind](OpKernelContext& c) -> Status {
    Status st;
    PSFLOW_NUMERIC_DISPATCH(c.input(0).dtype(), st = ReduceOp<T>(c, kind));
    return st;
  };
}

// Last-dimension rows of a tensor: [rows, cols].
std::pair<int64_t, int64_t> Rows(const TensorShape& s) {
  const int64_t c = s.rank() == 0 ? 1 : s.dim(s.rank() - 1);
  return {c == 0 ? 0 : s.num_elements() / c, c};
}

template <typename T, typename I>
Status SparseXentTyped(OpKernelContext& c, Tensor* loss, Tensor* bp, int64_t rows, int64_t cols) {
  Backend* dev = Dev(c);
  return LaunchRows(dev, "SparseXentKernel", rows, RowThreads(cols), SparseXentKernel<T, I>, Ptr<const T>(c.input(0)),
                    Ptr<const I>(c.input(1)), Ptr<T>(*loss), Ptr<T>(*bp), rows, cols, dev->kernel_error(), c.error_tag());
}

}  // namespace

void RegisterReduceKernels(KernelRegistry* r) {
  Register(r, "Sum", ReduceKernelFn(Kind::kSum));
  Register(r, "Mean", ReduceKernelFn(Kind::kMean));
  Register(r, "Max", ReduceKernelFn(Kind::kMax));
  Register(r, "SumToShapeOf", [](OpKernelContext& c) -> Status {
    const Tensor& x = c.input(0);
    const TensorShape& like = c.input(1).shape();
    auto b = op_util::BroadcastShapes(like, x.shape());
    if (!b.ok() || !(*b == x.shape())) {
      return InvalidArgumentError("shape ", like.DebugString(), " cannot be broadcast to ", x.shape().DebugString());
    }
    ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, 0, like));
    const int lead = x.shape().rank() - like.rank();
    const ReducePlan p = Canonical(x.shape(), [&](int d) { return d < lead || like.dim(d - lead) == 1; });
    Status st;
    PSFLOW_NUMERIC_DISPATCH(x.dtype(), st = (Reduce<T, SumOp, Plain>(c, x, p, out, T(1))));
    return st;
  });
  Register(r, "L2Loss", [](OpKernelContext& c) -> Status {
    const Tensor& x = c.input(0);
    ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, 0, TensorShape({})));
    const ReducePlan p = Canonical(x.shape(), [](int) { return true; });
    Status st;
    PSFLOW_FLOAT_DISPATCH(x.dtype(), st = (Reduce<T, SumOp, Squared>(c, x, p, out, T(2))));
    return st;
  });
  Register(r, "ArgMax", [](OpKernelContext& c) -> Status {
    const Tensor& x = c.input(0);
    ASSIGN_OR_RETURN(op_util::AxisSplit a, op_util::ArgMaxSplit(c));
    ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, 0, a.out));
    Status st;
    PSFLOW_NUMERIC_DISPATCH(x.dtype(), st = LaunchN(Dev(c), "ArgMaxKernel", a.outer * a.inner, ArgMaxKernel<T>,
                                                    Ptr<const T>(x), Ptr<int64_t>(*out), a.outer, a.n, a.inner));
    return st;
  });

  for (bool log : {false, true}) {
    Register(r, log ? "LogSoftmax" : "Softmax", [log](OpKernelContext& c) -> Status {
      const Tensor& x = c.input(0);
      ASSIGN_OR_RETURN(Tensor * y, AllocateOutput(c, 0, x.shape()));
      const auto [rows, cols] = Rows(x.shape());
      Status st;
      PSFLOW_FLOAT_DISPATCH(x.dtype(), st = LaunchRows(Dev(c), "SoftmaxKernel", rows, RowThreads(cols), SoftmaxKernel<T>,
                                                       Ptr<const T>(x), Ptr<T>(*y), rows, cols, log));
      return st;
    });
    Register(r, log ? "LogSoftmaxGrad" : "SoftmaxGrad", [log](OpKernelContext& c) -> Status {
      const Tensor& g = c.input(0);
      const Tensor& y = c.input(1);
      if (!(g.shape() == y.shape())) {
        return InvalidArgumentError("gradient ", g.shape().DebugString(), " and softmax ", y.shape().DebugString(), " differ");
      }
      ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, 0, y.shape()));
      const auto [rows, cols] = Rows(y.shape());
      Status st;
      PSFLOW_FLOAT_DISPATCH(y.dtype(), st = LaunchRows(Dev(c), "SoftmaxGradKernel", rows, RowThreads(cols),
                                                       SoftmaxGradKernel<T>, Ptr<const T>(g), Ptr<const T>(y), Ptr<T>(*out),
                                                       rows, cols, log));
      return st;
    });
  }
  Register(r, "SparseSoftmaxCrossEntropyWithLogits", [](OpKernelContext& c) -> Status {
    const Tensor& logits = c.input(0);
    const Tensor& labels = c.input(1);
    const auto [rows, cols] = Rows(logits.shape());
    if (logits.shape().rank() != 2 || labels.shape().rank() != 1 || labels.shape().dim(0) != rows) {
      return InvalidArgumentError("logits must be [batch, classes] and labels [batch]; got ", logits.shape().DebugString(),
                                  " and ", labels.shape().DebugString());
    }
    ASSIGN_OR_RETURN(Tensor * loss, AllocateOutput(c, 0, TensorShape({rows})));
    ASSIGN_OR_RETURN(Tensor * bp, AllocateOutput(c, 1, logits.shape()));
    const bool i64 = labels.dtype() == DType::kInt64;
    Status st;
    PSFLOW_FLOAT_DISPATCH(logits.dtype(), st = (i64 ? SparseXentTyped<T, int64_t>(c, loss, bp, rows, cols)
                                                    : SparseXentTyped<T, int32_t>(c, loss, bp, rows, cols)));
    return st;
  });
  Register(r, "SoftmaxCrossEntropyWithLogits", [](OpKernelContext& c) -> Status {
    const Tensor& logits = c.input(0);
    const Tensor& labels = c.input(1);
    if (logits.shape().rank() != 2 || !(labels.shape() == logits.shape())) {
      return InvalidArgumentError("logits and labels must both be [batch, classes]; got ", logits.shape().DebugString(),
                                  " and ", labels.shape().DebugString());
    }
    const auto [rows, cols] = Rows(logits.shape());
    ASSIGN_OR_RETURN(Tensor * loss, AllocateOutput(c, 0, TensorShape({rows})));
    ASSIGN_OR_RETURN(Tensor * bp, AllocateOutput(c, 1, logits.shape()));
    Status st;
    PSFLOW_FLOAT_DISPATCH(logits.dtype(), st = LaunchRows(Dev(c), "SoftmaxXentKernel", rows, RowThreads(cols),
                                                          SoftmaxXentKernel<T>, Ptr<const T>(logits), Ptr<const T>(labels),
                                                          Ptr<T>(*loss), Ptr<T>(*bp), rows, cols));
    return st;
  });
}

}  // namespace psflow::PSFLOW_GPU_NS
