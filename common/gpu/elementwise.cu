// GPU kernels of the elementwise ops: unary math and activations, binary
// arithmetic and comparisons with NumPy broadcasting, the activation
// gradients, Cast, fills, AddN, BiasAdd, sigmoid cross-entropy, the
// broadcasting helpers of gradients (BroadcastLike, ReductionGrad) and
// OneHot.  Same semantics as the CPU kernels in common/ops.
#include "common/gpu/gpu_kernel.h"

namespace psflow::PSFLOW_GPU_NS {
namespace {

// ---- Kernels ----

template <typename T, typename F>
__global__ void UnaryKernel(const T* x, T* y, int64_t n, F f) {
  PSFLOW_GRID_LOOP(i, n) y[i] = f(x[i]);
}

template <typename T, typename O, typename F>
__global__ void BinarySameKernel(const T* a, const T* b, O* o, int64_t n, F f) {
  PSFLOW_GRID_LOOP(i, n) o[i] = f(a[i], b[i]);
}
template <typename T, typename O, typename F>
__global__ void BinaryScalarBKernel(const T* a, const T* b, O* o, int64_t n, F f) {
  const T v = b[0];
  PSFLOW_GRID_LOOP(i, n) o[i] = f(a[i], v);
}
template <typename T, typename O, typename F>
__global__ void BinaryScalarAKernel(const T* a, const T* b, O* o, int64_t n, F f) {
  const T v = a[0];
  PSFLOW_GRID_LOOP(i, n) o[i] = f(v, b[i]);
}
template <typename T, typename O, typename F>
__global__ void BinaryBroadcastKernel(const T* a, const T* b, O* o, int64_t n, BroadcastIndex ix, F f) {
  PSFLOW_GRID_LOOP(i, n) {
    int64_t ia, ib;
    BroadcastOffsets(ix, i, &ia, &ib);
    o[i] = f(a[ia], b[ib]);
  }
}

template <typename T>
__global__ void AccumulateKernel(T* o, const T* x, int64_t n) {
  PSFLOW_GRID_LOOP(i, n) o[i] += x[i];
}

template <typename From, typename To>
__global__ void CastKernel(const From* x, To* y, int64_t n) {
  PSFLOW_GRID_LOOP(i, n) y[i] = static_cast<To>(x[i]);
}

template <typename T>
__global__ void FillKernel(T* y, int64_t n, T v) {
  PSFLOW_GRID_LOOP(i, n) y[i] = v;
}

template <typename T>
__global__ void BiasAddKernel(const T* x, const T* bias, T* y, int64_t n, int64_t cols) {
  PSFLOW_GRID_LOOP(i, n) y[i] = x[i] + bias[i % cols];
}

// out[i] = x[offset of i in x] * scale, x broadcast to out (stride_a).
template <typename T>
__global__ void BroadcastScaleKernel(const T* x, T* o, int64_t n, BroadcastIndex ix, T scale) {
  PSFLOW_GRID_LOOP(i, n) {
    int64_t ia, ib;
    BroadcastOffsets(ix, i, &ia, &ib);
    o[i] = x[ia] * scale;
  }
}

template <typename I, typename T>
__global__ void OneHotKernel(const I* idx, T* o, int64_t n, int64_t depth, T on, T off) {
  PSFLOW_GRID_LOOP(i, n) o[i] = static_cast<int64_t>(idx[i / depth]) == i % depth ? on : off;
}

// ---- Functors ----

struct NegF { template <typename T> __device__ T operator()(T x) const { return -x; } };
struct SquareF { template <typename T> __device__ T operator()(T x) const { return x * x; } };
struct SqrtF { template <typename T> __device__ T operator()(T x) const { return Sqrt(x); } };
struct RsqrtF { template <typename T> __device__ T operator()(T x) const { return T(1) / Sqrt(x); } };
struct ExpF { template <typename T> __device__ T operator()(T x) const { return Exp(x); } };
struct LogF { template <typename T> __device__ T operator()(T x) const { return Log(x); } };
struct ReluF { template <typename T> __device__ T operator()(T x) const { return x > T(0) ? x : T(0); } };
struct Relu6F {
  template <typename T> __device__ T operator()(T x) const { return x < T(0) ? T(0) : (x > T(6) ? T(6) : x); }
};
struct SigmoidF { template <typename T> __device__ T operator()(T x) const { return T(1) / (T(1) + Exp(-x)); } };
struct TanhF { template <typename T> __device__ T operator()(T x) const { return Tanh(x); } };
struct EluF { template <typename T> __device__ T operator()(T x) const { return x > T(0) ? x : Expm1(x); } };

struct AddF { template <typename T> __device__ T operator()(T x, T y) const { return x + y; } };
struct SubF { template <typename T> __device__ T operator()(T x, T y) const { return x - y; } };
struct MulF { template <typename T> __device__ T operator()(T x, T y) const { return x * y; } };
struct DivF { template <typename T> __device__ T operator()(T x, T y) const { return x / y; } };
struct MaxF { template <typename T> __device__ T operator()(T x, T y) const { return x < y ? y : x; } };
struct MinF { template <typename T> __device__ T operator()(T x, T y) const { return y < x ? y : x; } };
struct PowF { template <typename T> __device__ T operator()(T x, T y) const { return Pow(x, y); } };
struct EqualF { template <typename T> __device__ bool operator()(T x, T y) const { return x == y; } };
struct LessF { template <typename T> __device__ bool operator()(T x, T y) const { return x < y; } };
struct GreaterF { template <typename T> __device__ bool operator()(T x, T y) const { return x > y; } };

// Activation gradients on (input 0, input 1) in TensorFlow's input order.
struct ReluGradF { template <typename T> __device__ T operator()(T g, T y) const { return y > T(0) ? g : T(0); } };
struct Relu6GradF {
  template <typename T> __device__ T operator()(T g, T x) const { return x > T(0) && x < T(6) ? g : T(0); }
};
struct EluGradF { template <typename T> __device__ T operator()(T g, T y) const { return y > T(0) ? g : g * (y + T(1)); } };
struct SigmoidGradF { template <typename T> __device__ T operator()(T y, T g) const { return g * y * (T(1) - y); } };
struct TanhGradF { template <typename T> __device__ T operator()(T y, T g) const { return g * (T(1) - y * y); } };
struct SqrtGradF { template <typename T> __device__ T operator()(T y, T g) const { return g * T(0.5) / y; } };
struct RsqrtGradF { template <typename T> __device__ T operator()(T y, T g) const { return g * T(-0.5) * y * y * y; } };

struct SigmoidXentF {  // (labels z, logits x)
  template <typename T> __device__ T operator()(T z, T x) const {
    return (x > T(0) ? x : T(0)) - x * z + Log1p(Exp(-Abs(x)));
  }
};

// ---- Op glue ----

template <typename T, typename F>
Status Unary(OpKernelContext& c, F f) {
  const Tensor& x = c.input(0);
  ASSIGN_OR_RETURN(Tensor * y, AllocateOutput(c, 0, x.shape()));
  const int64_t n = x.num_elements();
  return LaunchN(Dev(c), "UnaryKernel", n, UnaryKernel<T, F>, Ptr<const T>(x), Ptr<T>(*y), n, f);
}
// Kernels for float and double only (kFloatOnly) or every numeric dtype.
template <bool kFloatOnly, typename F>
KernelFn UnaryFn(F f) {
  return [f](OpKernelContext& c) -> Status {
    Status st;
    if constexpr (kFloatOnly) {
      PSFLOW_FLOAT_DISPATCH(c.input(0).dtype(), st = (Unary<T, F>(c, f)));
    } else {
      PSFLOW_NUMERIC_DISPATCH(c.input(0).dtype(), st = (Unary<T, F>(c, f)));
    }
    return st;
  };
}

// out = f(a, b) with broadcasting; O is the output element type.
template <typename T, typename O, typename F>
Status Binary(OpKernelContext& c, F f) {
  const Tensor& a = c.input(0);
  const Tensor& b = c.input(1);
  ASSIGN_OR_RETURN(TensorShape shape, op_util::BroadcastShapes(a.shape(), b.shape()));
  ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, 0, shape));
  Backend* dev = Dev(c);
  const int64_t n = shape.num_elements();
  const T* x = Ptr<const T>(a);
  const T* y = Ptr<const T>(b);
  O* o = Ptr<O>(*out);
  if (a.shape() == b.shape()) return LaunchN(dev, "BinarySameKernel", n, BinarySameKernel<T, O, F>, x, y, o, n, f);
  if (b.num_elements() == 1) return LaunchN(dev, "BinaryScalarBKernel", n, BinaryScalarBKernel<T, O, F>, x, y, o, n, f);
  if (a.num_elements() == 1) return LaunchN(dev, "BinaryScalarAKernel", n, BinaryScalarAKernel<T, O, F>, x, y, o, n, f);
  ASSIGN_OR_RETURN(BroadcastIndex ix, MakeBroadcastIndex(shape, a.shape(), b.shape()));
  return LaunchN(dev, "BinaryBroadcastKernel", n, BinaryBroadcastKernel<T, O, F>, x, y, o, n, ix, f);
}
template <bool kFloatOnly, typename F>
KernelFn BinaryFn(F f) {
  return [f](OpKernelContext& c) -> Status {
    Status st;
    if constexpr (kFloatOnly) {
      PSFLOW_FLOAT_DISPATCH(c.input(0).dtype(), st = (Binary<T, T, F>(c, f)));
    } else {
      PSFLOW_NUMERIC_DISPATCH(c.input(0).dtype(), st = (Binary<T, T, F>(c, f)));
    }
    return st;
  };
}
template <typename F>
KernelFn Compare(F f) {
  return [f](OpKernelContext& c) -> Status {
    Status st;
    PSFLOW_NUMERIC_DISPATCH(c.input(0).dtype(), st = (Binary<T, bool, F>(c, f)));
    return st;
  };
}
// Gradient helpers: two tensors of one shape.
template <typename F>
KernelFn GradHelper(F f) {
  return [f](OpKernelContext& c) -> Status {
    if (!(c.input(0).shape() == c.input(1).shape())) {
      return InvalidArgumentError("gradient and value shapes differ: ", c.input(0).shape().DebugString(), " vs ",
                                  c.input(1).shape().DebugString());
    }
    Status st;
    PSFLOW_FLOAT_DISPATCH(c.input(0).dtype(), st = (Binary<T, T, F>(c, f)));
    return st;
  };
}

template <typename From, typename To>
Status CastTo(OpKernelContext& c, const Tensor& in, Tensor* out) {
  const int64_t n = in.num_elements();
  return LaunchN(Dev(c), "CastKernel", n, CastKernel<From, To>, Ptr<const From>(in), Ptr<To>(*out), n);
}

Status CastGpu(OpKernelContext& c) {
  const Tensor& in = c.input(0);
  ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, 0, in.shape()));
  if (in.dtype() == out->dtype()) {
    return Dev(c)->MemcpyDeviceToDevice(out->device_data(), in.device_data(), in.TotalBytes());
  }
  Status st;
  if (in.dtype() == DType::kBool) {
    PSFLOW_NUMERIC_DISPATCH(out->dtype(), st = (CastTo<bool, T>(c, in, out)));
    return st;
  }
  if (out->dtype() == DType::kBool) {
    PSFLOW_NUMERIC_DISPATCH(in.dtype(), st = (CastTo<T, bool>(c, in, out)));
    return st;
  }
  PSFLOW_NUMERIC_DISPATCH(in.dtype(), {
    using From = T;
    st = [&]() -> Status {
      Status inner;
      PSFLOW_NUMERIC_DISPATCH(out->dtype(), inner = (CastTo<From, T>(c, in, out)));
      return inner;
    }();
  });
  return st;
}

template <typename T>
Status FillWith(OpKernelContext& c, Tensor* out, double value) {
  const int64_t n = out->num_elements();
  return LaunchN(Dev(c), "FillKernel", n, FillKernel<T>, Ptr<T>(*out), n, static_cast<T>(value));
}
Status FillTensor(OpKernelContext& c, Tensor* out, double value) {
  Status st;
  PSFLOW_NUMERIC_DISPATCH(out->dtype(), st = FillWith<T>(c, out, value));
  return st;
}

template <typename T>
Status AddNTyped(OpKernelContext& c, Tensor* out) {
  Backend* dev = Dev(c);
  const int64_t n = out->num_elements();
  if (c.num_inputs() == 1) return dev->MemcpyDeviceToDevice(out->device_data(), c.input(0).device_data(), out->TotalBytes());
  RETURN_IF_ERROR(LaunchN(dev, "BinarySameKernel", n, BinarySameKernel<T, T, AddF>, Ptr<const T>(c.input(0)),
                          Ptr<const T>(c.input(1)), Ptr<T>(*out), n, AddF()));
  for (int i = 2; i < c.num_inputs(); ++i) {
    RETURN_IF_ERROR(LaunchN(dev, "AccumulateKernel", n, AccumulateKernel<T>, Ptr<T>(*out), Ptr<const T>(c.input(i)), n));
  }
  return OkStatus();
}

template <typename T>
Status BroadcastScaled(OpKernelContext& c, const Tensor& x, const TensorShape& x_shape, Tensor* out, T scale) {
  const int64_t n = out->num_elements();
  ASSIGN_OR_RETURN(BroadcastIndex ix, MakeBroadcastIndex(out->shape(), x_shape, x_shape));
  return LaunchN(Dev(c), "BroadcastScaleKernel", n, BroadcastScaleKernel<T>, Ptr<const T>(x), Ptr<T>(*out), n, ix, scale);
}

Status CheckBroadcastable(const TensorShape& from, const TensorShape& to) {
  auto b = op_util::BroadcastShapes(from, to);
  if (!b.ok() || !(*b == to)) {
    return InvalidArgumentError("shape ", from.DebugString(), " cannot be broadcast to ", to.DebugString());
  }
  return OkStatus();
}

template <typename I, typename T>
Status OneHotTyped(OpKernelContext& c, const Tensor& idx, Tensor* out, int64_t depth, float on, float off) {
  const int64_t n = out->num_elements();
  return LaunchN(Dev(c), "OneHotKernel", n, OneHotKernel<I, T>, Ptr<const I>(idx), Ptr<T>(*out), n, depth,
                 static_cast<T>(on), static_cast<T>(off));
}

template <typename T>
__global__ void ScaleKernel(T* x, int64_t n, T factor) {
  PSFLOW_GRID_LOOP(i, n) x[i] *= factor;
}

}  // namespace

Status ScaleInPlace(Backend* dev, const Tensor& t, double factor) {
  const int64_t n = t.num_elements();
  if (t.dtype() == DType::kFloat) return LaunchN(dev, "ScaleKernel", n, ScaleKernel<float>, Ptr<float>(t), n, static_cast<float>(factor));
  if (t.dtype() == DType::kDouble) return LaunchN(dev, "ScaleKernel", n, ScaleKernel<double>, Ptr<double>(t), n, factor);
  return InvalidArgumentError("scaling a ", DTypeName(t.dtype()), " tensor (float or double only)");
}

void RegisterElementwiseKernels(KernelRegistry* r) {
  Register(r, "Neg", UnaryFn<false>(NegF()));
  Register(r, "Square", UnaryFn<false>(SquareF()));
  Register(r, "Relu", UnaryFn<false>(ReluF()));
  Register(r, "Relu6", UnaryFn<false>(Relu6F()));
  Register(r, "Sqrt", UnaryFn<true>(SqrtF()));
  Register(r, "Rsqrt", UnaryFn<true>(RsqrtF()));
  Register(r, "Exp", UnaryFn<true>(ExpF()));
  Register(r, "Log", UnaryFn<true>(LogF()));
  Register(r, "Sigmoid", UnaryFn<true>(SigmoidF()));
  Register(r, "Tanh", UnaryFn<true>(TanhF()));
  Register(r, "Elu", UnaryFn<true>(EluF()));

  Register(r, "Add", BinaryFn<false>(AddF()));
  Register(r, "Sub", BinaryFn<false>(SubF()));
  Register(r, "Mul", BinaryFn<false>(MulF()));
  Register(r, "RealDiv", BinaryFn<false>(DivF()));
  Register(r, "Maximum", BinaryFn<false>(MaxF()));
  Register(r, "Minimum", BinaryFn<false>(MinF()));
  Register(r, "Pow", BinaryFn<true>(PowF()));
  Register(r, "Equal", Compare(EqualF()));
  Register(r, "Less", Compare(LessF()));
  Register(r, "Greater", Compare(GreaterF()));

  Register(r, "ReluGrad", GradHelper(ReluGradF()));
  Register(r, "Relu6Grad", GradHelper(Relu6GradF()));
  Register(r, "EluGrad", GradHelper(EluGradF()));
  Register(r, "SigmoidGrad", GradHelper(SigmoidGradF()));
  Register(r, "TanhGrad", GradHelper(TanhGradF()));
  Register(r, "SqrtGrad", GradHelper(SqrtGradF()));
  Register(r, "RsqrtGrad", GradHelper(RsqrtGradF()));

  Register(r, "Cast", CastGpu);
  Register(r, "ZerosLike", [](OpKernelContext& c) -> Status {
    ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, 0, c.input(0).shape()));
    return FillTensor(c, out, 0.0);
  });
  Register(r, "OnesLike", [](OpKernelContext& c) -> Status {
    ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, 0, c.input(0).shape()));
    return FillTensor(c, out, 1.0);
  });
  Register(r, "Fill", [](OpKernelContext& c) -> Status {
    ASSIGN_OR_RETURN(auto shape, c.GetAttr<std::vector<int64_t>>("shape"));
    ASSIGN_OR_RETURN(float value, c.GetAttr<float>("value"));
    ASSIGN_OR_RETURN(TensorShape s, TensorShape::FromDims(shape));
    ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, 0, s));
    return FillTensor(c, out, value);
  });
  Register(r, "AddN", [](OpKernelContext& c) -> Status {
    for (int i = 1; i < c.num_inputs(); ++i) {
      if (!(c.input(i).shape() == c.input(0).shape())) {
        return InvalidArgumentError("AddN inputs have shapes ", c.input(0).shape().DebugString(), " and ",
                                    c.input(i).shape().DebugString());
      }
    }
    ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, 0, c.input(0).shape()));
    Status st;
    PSFLOW_NUMERIC_DISPATCH(out->dtype(), st = AddNTyped<T>(c, out));
    return st;
  });
  Register(r, "BiasAdd", [](OpKernelContext& c) -> Status {
    const Tensor& x = c.input(0);
    const Tensor& b = c.input(1);
    const int64_t cols = x.shape().rank() == 0 ? 1 : x.shape().dim(x.shape().rank() - 1);
    if (b.shape().rank() != 1 || b.shape().dim(0) != cols) {
      return InvalidArgumentError("bias of shape ", b.shape().DebugString(), " does not match the last dimension of ",
                                  x.shape().DebugString());
    }
    ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, 0, x.shape()));
    const int64_t n = x.num_elements();
    Status st;
    PSFLOW_NUMERIC_DISPATCH(x.dtype(), st = LaunchN(Dev(c), "BiasAddKernel", n, BiasAddKernel<T>, Ptr<const T>(x),
                                                    Ptr<const T>(b), Ptr<T>(*out), n, cols));
    return st;
  });
  Register(r, "SigmoidCrossEntropyWithLogits", [](OpKernelContext& c) -> Status {
    if (!(c.input(0).shape() == c.input(1).shape())) {
      return InvalidArgumentError("logits ", c.input(1).shape().DebugString(), " and labels ",
                                  c.input(0).shape().DebugString(), " differ in shape");
    }
    Status st;
    PSFLOW_FLOAT_DISPATCH(c.input(1).dtype(), st = (Binary<T, T, SigmoidXentF>(c, SigmoidXentF())));
    return st;
  });
  Register(r, "BroadcastLike", [](OpKernelContext& c) -> Status {
    const Tensor& x = c.input(0);
    RETURN_IF_ERROR(CheckBroadcastable(x.shape(), c.input(1).shape()));
    ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, 0, c.input(1).shape()));
    Status st;
    PSFLOW_NUMERIC_DISPATCH(x.dtype(), st = BroadcastScaled<T>(c, x, x.shape(), out, T(1)));
    return st;
  });
  Register(r, "ReductionGrad", [](OpKernelContext& c) -> Status {
    ASSIGN_OR_RETURN(auto axes, c.GetAttr<std::vector<int64_t>>("axes"));
    ASSIGN_OR_RETURN(bool mean, c.GetAttr<bool>("mean"));
    const TensorShape& like = c.input(1).shape();
    ASSIGN_OR_RETURN(std::vector<int> norm, op_util::NormalizeAxes(axes, like.rank()));
    std::vector<int64_t> dims = like.dims();
    for (int a : norm) dims[static_cast<size_t>(a)] = 1;
    const TensorShape kept(dims);
    const Tensor& g = c.input(0);
    if (g.num_elements() != kept.num_elements()) {
      return InvalidArgumentError("gradient of shape ", g.shape().DebugString(), " does not fit the reduction of ",
                                  like.DebugString());
    }
    ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, 0, like));
    const int64_t count =
        kept.num_elements() == 0 ? 1 : like.num_elements() / std::max<int64_t>(1, kept.num_elements());
    Status st;
    PSFLOW_NUMERIC_DISPATCH(g.dtype(), st = BroadcastScaled<T>(c, g, kept, out, mean ? T(1) / static_cast<T>(count) : T(1)));
    return st;
  });
  Register(r, "OneHot", [](OpKernelContext& c) -> Status {
    ASSIGN_OR_RETURN(int64_t depth, c.GetAttr<int64_t>("depth"));
    ASSIGN_OR_RETURN(float on, c.GetAttr<float>("on_value"));
    ASSIGN_OR_RETURN(float off, c.GetAttr<float>("off_value"));
    const Tensor& idx = c.input(0);
    std::vector<int64_t> dims = idx.shape().dims();
    dims.push_back(depth);
    ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, 0, TensorShape(dims)));
    if (depth == 0) return OkStatus();
    Status st;
    if (idx.dtype() == DType::kInt64) {
      PSFLOW_NUMERIC_DISPATCH(out->dtype(), st = (OneHotTyped<int64_t, T>(c, idx, out, depth, on, off)));
    } else {
      PSFLOW_NUMERIC_DISPATCH(out->dtype(), st = (OneHotTyped<int32_t, T>(c, idx, out, depth, on, off)));
    }
    return st;
  });
}

}  // namespace psflow::PSFLOW_GPU_NS
