// Elementwise arithmetic (with broadcasting), unary math and activations,
// reductions.  Each op: definition + shape function, gradient, CPU kernel.
#include <cmath>
#include <limits>

#include "common/core/logging.h"
#include "common/ops/broadcast.h"
#include "common/ops/cpu_simd.h"
#include "common/ops/op_util.h"
#include "common/ops/ops.h"

namespace psflow {
namespace {

using op_util::DefineOp;

// out[i] = f(a[i], b[i]) with broadcasting; O is the output element type.
template <typename T, typename O = T, typename F>
Status BinaryLoop(OpKernelContext& c, F f) {
  const Tensor& a = c.input(0);
  const Tensor& b = c.input(1);
  ASSIGN_OR_RETURN(TensorShape shape, op_util::BroadcastShapes(a.shape(), b.shape()));
  Tensor* out = c.AllocateOutput(0, shape);
  const T* x = static_cast<const T*>(a.raw_data());
  const T* y = static_cast<const T*>(b.raw_data());
  O* o = static_cast<O*>(out->raw_data());
  const int64_t n = shape.num_elements();
  if (a.shape() == b.shape()) {
    for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
  } else if (b.num_elements() == 1) {
    const T v = y[0];
    for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], v);
  } else if (a.num_elements() == 1) {
    const T v = x[0];
    for (int64_t i = 0; i < n; ++i) o[i] = f(v, y[i]);
  } else {
    op_util::ForEachBroadcast2(shape, a.shape(), b.shape(),
                               [&](int64_t oi, int64_t ai, int64_t bi) { o[oi] = f(x[ai], y[bi]); });
  }
  return OkStatus();
}

#define PSFLOW_BINARY_KERNEL(EXPR)                                              \
  [](OpKernelContext& c) -> Status {                                            \
    Status st;                                                                  \
    PSFLOW_NUMERIC_DISPATCH(c.input(0).dtype(),                                 \
                            st = (BinaryLoop<T>(c, [](T x, T y) { return EXPR; }))); \
    return st;                                                                  \
  }

template <typename T, typename F>
Status UnaryLoop(OpKernelContext& c, F f) {
  const Tensor& a = c.input(0);
  Tensor* out = c.AllocateOutput(0, a.shape());
  const T* x = static_cast<const T*>(a.raw_data());
  T* o = static_cast<T*>(out->raw_data());
  const int64_t n = a.num_elements();
  for (int64_t i = 0; i < n; ++i) o[i] = f(x[i]);
  return OkStatus();
}

#define PSFLOW_UNARY_KERNEL(DISPATCH, EXPR)                                     \
  [](OpKernelContext& c) -> Status {                                            \
    Status st;                                                                  \
    DISPATCH(c.input(0).dtype(), st = (UnaryLoop<T>(c, [](T x) { return EXPR; }))); \
    return st;                                                                  \
  }

// For the gradient helper ops f(g, y) on two same-shaped tensors.
#define PSFLOW_GRAD_KERNEL(EXPR)                                                \
  [](OpKernelContext& c) -> Status {                                            \
    if (!(c.input(0).shape() == c.input(1).shape())) {                          \
      return InvalidArgumentError("gradient and value shapes differ: ",         \
                                  c.input(0).shape().DebugString(), " vs ",     \
                                  c.input(1).shape().DebugString());            \
    }                                                                           \
    Status st;                                                                  \
    PSFLOW_FLOAT_DISPATCH(c.input(0).dtype(),                                   \
                          st = (BinaryLoop<T>(c, [](T g, T y) { return EXPR; }))); \
    return st;                                                                  \
  }

Output In(GradContext& g, int i) { return g.node->inputs()[static_cast<size_t>(i)]; }
Output Out(GradContext& g) { return g.node->output(0); }
Output G(GradContext& g) { return g.grads_out[0]; }
void SetGrad(GradContext& g, int i, Output v) { (*g.grads_in)[static_cast<size_t>(i)] = v; }

Status FloatOnlyShape(InferenceContext& c) {
  if (!op_util::IsFloat(c.input_dtype(0))) {
    return InvalidArgumentError("needs a floating-point input, got ", c.input_dtype(0));
  }
  return op_util::UnchangedShape(c);
}

void DefineUnary(const std::string& type, KernelFn kernel, GradFn grad, bool float_only = true) {
  DefineOp({.type = type, .num_inputs = 1,
            .shape_fn = float_only ? ShapeFn(FloatOnlyShape) : ShapeFn(op_util::UnchangedShape),
            .grad = std::move(grad)},
           std::move(kernel));
}

Status ReduceShape(InferenceContext& c) {
  ASSIGN_OR_RETURN(auto axes, c.GetAttr<std::vector<int64_t>>("axes"));
  ASSIGN_OR_RETURN(bool keep, c.GetAttr<bool>("keep_dims"));
  const PartialShape& in = c.input_shape(0);
  if (in.unknown_rank()) {
    c.AddOutput(c.input_dtype(0), PartialShape::Unknown());
    return OkStatus();
  }
  ASSIGN_OR_RETURN(std::vector<int> norm, op_util::NormalizeAxes(axes, in.rank()));
  std::vector<int64_t> dims;
  for (int d = 0; d < in.rank(); ++d) {
    const bool reduced = std::find(norm.begin(), norm.end(), d) != norm.end();
    if (!reduced) dims.push_back(in.dim(d));
    else if (keep) dims.push_back(1);
  }
  c.AddOutput(c.input_dtype(0), PartialShape(dims));
  return OkStatus();
}

enum class Reduce { kSum, kMean, kMax };

// Sum, Mean and Max over `axes` (empty: all), keeping reduced dimensions as
// 1s when keep_dims.
template <typename T>
Status ReduceKernel(OpKernelContext& c, Reduce kind) {
  ASSIGN_OR_RETURN(auto axes, c.GetAttr<std::vector<int64_t>>("axes"));
  ASSIGN_OR_RETURN(bool keep, c.GetAttr<bool>("keep_dims"));
  const Tensor& x = c.input(0);
  ASSIGN_OR_RETURN(std::vector<int> norm, op_util::NormalizeAxes(axes, x.shape().rank()));
  std::vector<int64_t> kept = x.shape().dims(), out_dims;
  for (int a : norm) {
    if (kind == Reduce::kMax && x.shape().dim(a) == 0) {
      return InvalidArgumentError("Max over an empty dimension of ", x.shape().DebugString());
    }
    kept[static_cast<size_t>(a)] = 1;
  }
  for (int d = 0; d < x.shape().rank(); ++d) {
    const bool reduced = std::find(norm.begin(), norm.end(), d) != norm.end();
    if (!reduced) out_dims.push_back(x.shape().dim(d));
    else if (keep) out_dims.push_back(1);
  }
  Tensor* out = c.AllocateOutput(0, TensorShape(out_dims));
  auto o = out->flat<T>();
  auto xs = x.flat<T>();
  if (kind == Reduce::kMax) {
    std::fill(o.begin(), o.end(), std::numeric_limits<T>::lowest());
    op_util::ForEachBroadcast(x.shape(), TensorShape(kept), [&](int64_t xi, int64_t oi) {
      T& m = o[static_cast<size_t>(oi)];
      m = std::max(m, xs[static_cast<size_t>(xi)]);
    });
    return OkStatus();
  }
  std::fill(o.begin(), o.end(), T(0));
  op_util::ForEachBroadcast(x.shape(), TensorShape(kept), [&](int64_t xi, int64_t oi) {
    o[static_cast<size_t>(oi)] += xs[static_cast<size_t>(xi)];
  });
  if (kind == Reduce::kMean && x.num_elements() > 0) {
    const T count = static_cast<T>(x.num_elements() / std::max<int64_t>(1, out->num_elements()));
    for (T& v : o) v /= count;
  }
  return OkStatus();
}

KernelFn ReduceKernelFn(Reduce kind) {
  return [kind](OpKernelContext& c) -> Status {
    Status st;
    PSFLOW_NUMERIC_DISPATCH(c.input(0).dtype(), st = ReduceKernel<T>(c, kind));
    return st;
  };
}

Status ReductionGradFn(GradContext& g, bool mean) {
  ASSIGN_OR_RETURN(auto axes, g.node->GetAttr<std::vector<int64_t>>("axes"));
  ASSIGN_OR_RETURN(bool keep, g.node->GetAttr<bool>("keep_dims"));
  SetGrad(g, 0, ops::ReductionGrad(g.scope, G(g), In(g, 0), axes, keep, mean));
  return OkStatus();
}

#define PSFLOW_COMPARE_KERNEL(EXPR)                                             \
  [](OpKernelContext& c) -> Status {                                            \
    Status st;                                                                  \
    PSFLOW_NUMERIC_DISPATCH(c.input(0).dtype(),                                 \
                            st = (BinaryLoop<T, bool>(c, [](T x, T y) { return EXPR; }))); \
    return st;                                                                  \
  }

void RegisterMathOps() {
  DefineOp({.type = "Add", .num_inputs = 2, .shape_fn = op_util::BroadcastBinaryShape,
            .grad = [](GradContext& g) {
              SetGrad(g, 0, ops::SumToShapeOf(g.scope, G(g), In(g, 0)));
              SetGrad(g, 1, ops::SumToShapeOf(g.scope, G(g), In(g, 1)));
              return OkStatus();
            }},
           PSFLOW_BINARY_KERNEL(x + y));
  DefineOp({.type = "Sub", .num_inputs = 2, .shape_fn = op_util::BroadcastBinaryShape,
            .grad = [](GradContext& g) {
              SetGrad(g, 0, ops::SumToShapeOf(g.scope, G(g), In(g, 0)));
              SetGrad(g, 1, ops::SumToShapeOf(g.scope, ops::Neg(g.scope, G(g)), In(g, 1)));
              return OkStatus();
            }},
           PSFLOW_BINARY_KERNEL(x - y));
  DefineOp({.type = "Mul", .num_inputs = 2, .shape_fn = op_util::BroadcastBinaryShape,
            .grad = [](GradContext& g) {
              SetGrad(g, 0, ops::SumToShapeOf(g.scope, ops::Mul(g.scope, G(g), In(g, 1)), In(g, 0)));
              SetGrad(g, 1, ops::SumToShapeOf(g.scope, ops::Mul(g.scope, G(g), In(g, 0)), In(g, 1)));
              return OkStatus();
            }},
           PSFLOW_BINARY_KERNEL(x * y));
  DefineOp({.type = "RealDiv", .num_inputs = 2, .shape_fn = op_util::BroadcastBinaryShape,
            .grad = [](GradContext& g) {
              const Scope& s = g.scope;
              SetGrad(g, 0, ops::SumToShapeOf(s, ops::Div(s, G(g), In(g, 1)), In(g, 0)));
              // d(x/y)/dy = -x / y^2
              Output gy = ops::Neg(s, ops::Div(s, ops::Mul(s, G(g), In(g, 0)), ops::Square(s, In(g, 1))));
              SetGrad(g, 1, ops::SumToShapeOf(s, gy, In(g, 1)));
              return OkStatus();
            }},
           PSFLOW_BINARY_KERNEL(x / y));

  // Maximum/Minimum: the gradient goes to whichever input was chosen (x on ties).
  auto select_grad = [](bool maximum) {
    return [maximum](GradContext& g) {
      const Scope& s = g.scope;
      const DType t = In(g, 0).dtype();
      Output y_wins = ops::Cast(s, maximum ? ops::Less(s, In(g, 0), In(g, 1)) : ops::Greater(s, In(g, 0), In(g, 1)), t);
      Output x_wins = ops::Sub(s, ops::OnesLike(s, y_wins), y_wins);
      SetGrad(g, 0, ops::SumToShapeOf(s, ops::Mul(s, G(g), x_wins), In(g, 0)));
      SetGrad(g, 1, ops::SumToShapeOf(s, ops::Mul(s, G(g), y_wins), In(g, 1)));
      return OkStatus();
    };
  };
  DefineOp({.type = "Maximum", .num_inputs = 2, .shape_fn = op_util::BroadcastBinaryShape, .grad = select_grad(true)},
           PSFLOW_BINARY_KERNEL(x < y ? y : x));
  DefineOp({.type = "Minimum", .num_inputs = 2, .shape_fn = op_util::BroadcastBinaryShape, .grad = select_grad(false)},
           PSFLOW_BINARY_KERNEL(y < x ? y : x));
  DefineOp({.type = "Pow", .num_inputs = 2, .shape_fn = op_util::BroadcastBinaryShape,
            .grad = [](GradContext& g) {
              const Scope& s = g.scope;
              Output x = In(g, 0), y = In(g, 1), z = Out(g);
              // dz/dx = y * x^(y-1) = y * z / x;  dz/dy = z * log(x)  (x > 0)
              Output one = ops::OnesLike(s, y);
              Output gx = ops::Mul(s, G(g), ops::Mul(s, y, ops::MakeOp(s, "Pow", "Pow", {x, ops::Sub(s, y, one)})));
              SetGrad(g, 0, ops::SumToShapeOf(s, gx, x));
              SetGrad(g, 1, ops::SumToShapeOf(s, ops::Mul(s, G(g), ops::Mul(s, z, ops::Log(s, x))), y));
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             Status st;
             PSFLOW_FLOAT_DISPATCH(c.input(0).dtype(),
                                   st = (BinaryLoop<T>(c, [](T x, T y) { return std::pow(x, y); })));
             return st;
           });

  DefineUnary("Neg", PSFLOW_UNARY_KERNEL(PSFLOW_NUMERIC_DISPATCH, -x),
              [](GradContext& g) {
                SetGrad(g, 0, ops::Neg(g.scope, G(g)));
                return OkStatus();
              },
              /*float_only=*/false);
  DefineUnary("Square", PSFLOW_UNARY_KERNEL(PSFLOW_NUMERIC_DISPATCH, x * x),
              [](GradContext& g) {
                const Scope& s = g.scope;
                SetGrad(g, 0, ops::Mul(s, G(g), ops::Add(s, In(g, 0), In(g, 0))));  // g * 2x
                return OkStatus();
              },
              /*float_only=*/false);
  DefineUnary("Sqrt", PSFLOW_UNARY_KERNEL(PSFLOW_FLOAT_DISPATCH, std::sqrt(x)),
              [](GradContext& g) {
                SetGrad(g, 0, ops::MakeOp(g.scope, "SqrtGrad", "SqrtGrad", {Out(g), G(g)}));
                return OkStatus();
              });
  DefineUnary("Rsqrt", PSFLOW_UNARY_KERNEL(PSFLOW_FLOAT_DISPATCH, T(1) / std::sqrt(x)),
              [](GradContext& g) {
                SetGrad(g, 0, ops::MakeOp(g.scope, "RsqrtGrad", "RsqrtGrad", {Out(g), G(g)}));
                return OkStatus();
              });
  DefineUnary("Exp", PSFLOW_UNARY_KERNEL(PSFLOW_FLOAT_DISPATCH, std::exp(x)),
              [](GradContext& g) {
                SetGrad(g, 0, ops::Mul(g.scope, G(g), Out(g)));
                return OkStatus();
              });
  DefineUnary("Log", PSFLOW_UNARY_KERNEL(PSFLOW_FLOAT_DISPATCH, std::log(x)),
              [](GradContext& g) {
                SetGrad(g, 0, ops::Div(g.scope, G(g), In(g, 0)));
                return OkStatus();
              });
  DefineUnary("Relu",
              [](OpKernelContext& c) -> Status {
                const Tensor& x = c.input(0);
                if (x.dtype() != DType::kFloat) {
                  return PSFLOW_UNARY_KERNEL(PSFLOW_NUMERIC_DISPATCH, x > T(0) ? x : T(0))(c);
                }
                Tensor* out = c.AllocateOutput(0, x.shape());
                const float* xs = x.flat<float>().data();
                float* ys = out->flat<float>().data();
                op_util::ParallelRange(c, x.num_elements(), op_util::kMinElementwisePart, [&](int64_t b, int64_t e) {
                  simd::Get().relu(xs + b, ys + b, e - b);
                });
                return OkStatus();
              },
              [](GradContext& g) {
                SetGrad(g, 0, ops::MakeOp(g.scope, "ReluGrad", "ReluGrad", {G(g), Out(g)}));
                return OkStatus();
              },
              /*float_only=*/false);
  DefineUnary("Sigmoid", PSFLOW_UNARY_KERNEL(PSFLOW_FLOAT_DISPATCH, T(1) / (T(1) + std::exp(-x))),
              [](GradContext& g) {
                SetGrad(g, 0, ops::MakeOp(g.scope, "SigmoidGrad", "SigmoidGrad", {Out(g), G(g)}));
                return OkStatus();
              });
  DefineUnary("Tanh", PSFLOW_UNARY_KERNEL(PSFLOW_FLOAT_DISPATCH, std::tanh(x)),
              [](GradContext& g) {
                SetGrad(g, 0, ops::MakeOp(g.scope, "TanhGrad", "TanhGrad", {Out(g), G(g)}));
                return OkStatus();
              });
  DefineUnary("Relu6", PSFLOW_UNARY_KERNEL(PSFLOW_NUMERIC_DISPATCH, x < T(0) ? T(0) : (x > T(6) ? T(6) : x)),
              [](GradContext& g) {
                SetGrad(g, 0, ops::MakeOp(g.scope, "Relu6Grad", "Relu6Grad", {G(g), In(g, 0)}));
                return OkStatus();
              },
              /*float_only=*/false);
  DefineUnary("Elu", PSFLOW_UNARY_KERNEL(PSFLOW_FLOAT_DISPATCH, x > T(0) ? x : std::expm1(x)),
              [](GradContext& g) {
                SetGrad(g, 0, ops::MakeOp(g.scope, "EluGrad", "EluGrad", {G(g), Out(g)}));
                return OkStatus();
              });
  // Gradient helpers; inputs as TensorFlow orders them.
  auto same_shape = [](InferenceContext& c) -> Status {
    if (!c.input_shape(0).IsCompatibleWith(c.input_shape(1))) {
      return InvalidArgumentError("shapes ", c.input_shape(0).DebugString(), " and ",
                                  c.input_shape(1).DebugString(), " differ");
    }
    return op_util::UnchangedShape(c);
  };
  DefineOp({.type = "ReluGrad", .num_inputs = 2, .shape_fn = same_shape},  // (g, y)
           [](OpKernelContext& c) -> Status {
             const Tensor& g = c.input(0);
             const Tensor& y = c.input(1);
             if (g.dtype() != DType::kFloat || !(g.shape() == y.shape()) || y.dtype() != DType::kFloat) {
               return PSFLOW_GRAD_KERNEL(y > T(0) ? g : T(0))(c);
             }
             Tensor* out = c.AllocateOutput(0, g.shape());
             const float* gs = g.flat<float>().data();
             const float* ys = y.flat<float>().data();
             float* os = out->flat<float>().data();
             op_util::ParallelRange(c, g.num_elements(), op_util::kMinElementwisePart, [&](int64_t b, int64_t e) {
               simd::Get().relu_grad(gs + b, ys + b, os + b, e - b);
             });
             return OkStatus();
           });
  DefineOp({.type = "Relu6Grad", .num_inputs = 2, .shape_fn = same_shape},  // (g, x)
           PSFLOW_GRAD_KERNEL(y > T(0) && y < T(6) ? g : T(0)));
  DefineOp({.type = "EluGrad", .num_inputs = 2, .shape_fn = same_shape},  // (g, y)
           PSFLOW_GRAD_KERNEL(y > T(0) ? g : g * (y + T(1))));
  DefineOp({.type = "SigmoidGrad", .num_inputs = 2, .shape_fn = same_shape},  // (y, g)
           PSFLOW_GRAD_KERNEL(y * g * (T(1) - g)));
  DefineOp({.type = "TanhGrad", .num_inputs = 2, .shape_fn = same_shape},  // (y, g)
           PSFLOW_GRAD_KERNEL(y * (T(1) - g * g)));
  DefineOp({.type = "SqrtGrad", .num_inputs = 2, .shape_fn = same_shape},  // (y, g)
           PSFLOW_GRAD_KERNEL(y * T(0.5) / g));
  DefineOp({.type = "RsqrtGrad", .num_inputs = 2, .shape_fn = same_shape},  // (y, g)
           PSFLOW_GRAD_KERNEL(y * T(-0.5) * g * g * g));

  // Comparisons: bool outputs, no gradient.
  auto compare_shape = [](InferenceContext& c) -> Status {
    if (c.input_dtype(0) != c.input_dtype(1)) {
      return InvalidArgumentError("cannot compare ", c.input_dtype(0), " with ", c.input_dtype(1));
    }
    ASSIGN_OR_RETURN(PartialShape s, op_util::BroadcastShapes(c.input_shape(0), c.input_shape(1)));
    c.AddOutput(DType::kBool, s);
    return OkStatus();
  };
  DefineOp({.type = "Equal", .num_inputs = 2, .shape_fn = compare_shape}, PSFLOW_COMPARE_KERNEL(x == y));
  DefineOp({.type = "Less", .num_inputs = 2, .shape_fn = compare_shape}, PSFLOW_COMPARE_KERNEL(x < y));
  DefineOp({.type = "Greater", .num_inputs = 2, .shape_fn = compare_shape}, PSFLOW_COMPARE_KERNEL(x > y));
  DefineOp({.type = "ArgMax",
            .num_inputs = 1,
            .shape_fn = [](InferenceContext& c) -> Status {
              ASSIGN_OR_RETURN(int64_t axis, c.GetAttr<int64_t>("axis"));
              const PartialShape& in = c.input_shape(0);
              if (in.unknown_rank()) {
                c.AddOutput(DType::kInt64, PartialShape::Unknown());
                return OkStatus();
              }
              ASSIGN_OR_RETURN(std::vector<int> ax, op_util::NormalizeAxes({axis}, in.rank()));
              std::vector<int64_t> dims;
              for (int d = 0; d < in.rank(); ++d) {
                if (d != ax[0]) dims.push_back(in.dim(d));
              }
              c.AddOutput(DType::kInt64, PartialShape(dims));
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             const Tensor& x = c.input(0);
             ASSIGN_OR_RETURN(op_util::AxisSplit a, op_util::ArgMaxSplit(c));
             const int64_t outer = a.outer, n = a.n, inner = a.inner;
             Tensor* out = c.AllocateOutput(0, a.out);
             auto o = out->flat<int64_t>();
             PSFLOW_NUMERIC_DISPATCH(x.dtype(), {
               const T* xs = static_cast<const T*>(x.raw_data());
               for (int64_t i = 0; i < outer; ++i) {
                 for (int64_t j = 0; j < inner; ++j) {
                   int64_t best = 0;
                   for (int64_t k = 1; k < n; ++k) {
                     if (xs[(i * n + k) * inner + j] > xs[(i * n + best) * inner + j]) best = k;
                   }
                   o[static_cast<size_t>(i * inner + j)] = best;
                 }
               }
             });
             return OkStatus();
           });

  DefineOp({.type = "Sum", .num_inputs = 1, .shape_fn = ReduceShape,
            .grad = [](GradContext& g) { return ReductionGradFn(g, false); }},
           ReduceKernelFn(Reduce::kSum));
  DefineOp({.type = "Max", .num_inputs = 1, .shape_fn = ReduceShape,
            .grad = [](GradContext& g) -> Status {
              // The gradient goes to the maxima, shared equally among ties.
              ASSIGN_OR_RETURN(auto axes, g.node->GetAttr<std::vector<int64_t>>("axes"));
              ASSIGN_OR_RETURN(bool keep, g.node->GetAttr<bool>("keep_dims"));
              const Scope& s = g.scope;
              Output x = In(g, 0);
              Output y_b = ops::ReductionGrad(s, Out(g), x, axes, keep, false);
              Output hit = ops::Cast(s, ops::Equal(s, x, y_b), x.dtype());
              Output ties = ops::ReductionGrad(s, ops::Sum(s, hit, axes, keep), x, axes, keep, false);
              Output gb = ops::ReductionGrad(s, G(g), x, axes, keep, false);
              SetGrad(g, 0, ops::Div(s, ops::Mul(s, gb, hit), ties));
              return OkStatus();
            }},
           ReduceKernelFn(Reduce::kMax));
  DefineOp({.type = "Mean", .num_inputs = 1, .shape_fn = ReduceShape,
            .grad = [](GradContext& g) { return ReductionGradFn(g, true); }},
           ReduceKernelFn(Reduce::kMean));
}

}  // namespace

void RegisterMathOpsOnce() { RegisterMathOps(); }

namespace op_util {
StatusOr<AxisSplit> ArgMaxSplit(const OpKernelContext& c) {
  ASSIGN_OR_RETURN(int64_t axis, c.GetAttr<int64_t>("axis"));
  const TensorShape& x = c.input(0).shape();
  ASSIGN_OR_RETURN(std::vector<int> ax, NormalizeAxes({axis}, x.rank()));
  AxisSplit s;
  std::vector<int64_t> dims;
  for (int d = 0; d < x.rank(); ++d) {
    if (d < ax[0]) s.outer *= x.dim(d);
    if (d > ax[0]) s.inner *= x.dim(d);
    if (d != ax[0]) dims.push_back(x.dim(d));
  }
  s.n = x.dim(ax[0]);
  if (s.n == 0) return InvalidArgumentError("ArgMax over an empty dimension of ", x.DebugString());
  s.out = TensorShape(dims);
  return s;
}
}  // namespace op_util

namespace ops {

Output Add(const Scope& s, Output x, Output y, const std::string& name) { return MakeOp(s, "Add", name, {x, y}); }
Output Sub(const Scope& s, Output x, Output y, const std::string& name) { return MakeOp(s, "Sub", name, {x, y}); }
Output Mul(const Scope& s, Output x, Output y, const std::string& name) { return MakeOp(s, "Mul", name, {x, y}); }
Output Div(const Scope& s, Output x, Output y, const std::string& name) { return MakeOp(s, "RealDiv", name, {x, y}); }
Output Neg(const Scope& s, Output x, const std::string& name) { return MakeOp(s, "Neg", name, {x}); }
Output Square(const Scope& s, Output x, const std::string& name) { return MakeOp(s, "Square", name, {x}); }
Output Sqrt(const Scope& s, Output x, const std::string& name) { return MakeOp(s, "Sqrt", name, {x}); }
Output Rsqrt(const Scope& s, Output x, const std::string& name) { return MakeOp(s, "Rsqrt", name, {x}); }
Output Exp(const Scope& s, Output x, const std::string& name) { return MakeOp(s, "Exp", name, {x}); }
Output Log(const Scope& s, Output x, const std::string& name) { return MakeOp(s, "Log", name, {x}); }
Output Relu(const Scope& s, Output x, const std::string& name) { return MakeOp(s, "Relu", name, {x}); }
Output Relu6(const Scope& s, Output x, const std::string& name) { return MakeOp(s, "Relu6", name, {x}); }
Output Elu(const Scope& s, Output x, const std::string& name) { return MakeOp(s, "Elu", name, {x}); }
Output Sigmoid(const Scope& s, Output x, const std::string& name) { return MakeOp(s, "Sigmoid", name, {x}); }
Output Tanh(const Scope& s, Output x, const std::string& name) { return MakeOp(s, "Tanh", name, {x}); }
Output Equal(const Scope& s, Output x, Output y, const std::string& name) { return MakeOp(s, "Equal", name, {x, y}); }
Output Less(const Scope& s, Output x, Output y, const std::string& name) { return MakeOp(s, "Less", name, {x, y}); }
Output Greater(const Scope& s, Output x, Output y, const std::string& name) { return MakeOp(s, "Greater", name, {x, y}); }
Output ArgMax(const Scope& s, Output x, int64_t axis, const std::string& name) {
  return MakeOp(s, "ArgMax", name, {x}, {{"axis", axis}});
}
Output Maximum(const Scope& s, Output x, Output y, const std::string& name) { return MakeOp(s, "Maximum", name, {x, y}); }
Output Minimum(const Scope& s, Output x, Output y, const std::string& name) { return MakeOp(s, "Minimum", name, {x, y}); }
Output Pow(const Scope& s, Output x, Output y, const std::string& name) { return MakeOp(s, "Pow", name, {x, y}); }
Output Max(const Scope& s, Output x, std::vector<int64_t> axes, bool keep_dims, const std::string& name) {
  return MakeOp(s, "Max", name, {x}, {{"axes", std::move(axes)}, {"keep_dims", keep_dims}});
}
Output Sum(const Scope& s, Output x, std::vector<int64_t> axes, bool keep_dims, const std::string& name) {
  return MakeOp(s, "Sum", name, {x}, {{"axes", std::move(axes)}, {"keep_dims", keep_dims}});
}
Output Mean(const Scope& s, Output x, std::vector<int64_t> axes, bool keep_dims, const std::string& name) {
  return MakeOp(s, "Mean", name, {x}, {{"axes", std::move(axes)}, {"keep_dims", keep_dims}});
}


namespace {
thread_local const DefaultScope* current_default = nullptr;
}  // namespace

DefaultScope::DefaultScope(Scope scope) : scope_(std::move(scope)), outer_(current_default) {
  current_default = this;
}
DefaultScope::~DefaultScope() { current_default = outer_; }
const Scope* DefaultScope::Current() { return current_default == nullptr ? nullptr : &current_default->scope_; }

}  // namespace ops
}  // namespace psflow

namespace psflow {
namespace {

// Builds an operator's node in the current default scope when it is the
// operands' graph's, else at the root of that graph (errors logged there).
template <typename F>
Output BuildOperator(Output anchor, const char* what, F build) {
  const Scope* current = ops::DefaultScope::Current();
  if (current != nullptr && (!anchor.valid() || current->graph() == anchor.node->graph())) return build(*current);
  if (!anchor.valid()) {
    LOG(ERROR) << "an operand of " << what << " is invalid: an earlier op failed";
    return Output{};
  }
  Scope root(anchor.node->graph());
  Output out = build(root);
  if (!root.ok()) LOG(ERROR) << what << ": " << root.status();
  return out;
}

// A Python number as a constant of x's dtype.
Output NumberLike(const Scope& s, Output x, double v) {
  switch (x.dtype()) {
    case DType::kDouble: return ops::Const(s, Tensor::Scalar<double>(v), "y");
    case DType::kInt32: return ops::Const(s, Tensor::Scalar<int32_t>(static_cast<int32_t>(v)), "y");
    case DType::kInt64: return ops::Const(s, Tensor::Scalar<int64_t>(static_cast<int64_t>(v)), "y");
    case DType::kFloat: return ops::Const(s, Tensor::Scalar<float>(static_cast<float>(v)), "y");
    default: return ops::Cast(s, ops::Const(s, Tensor::Scalar<float>(static_cast<float>(v)), "y"), x.dtype());
  }
}

Output Binary(const char* type, const char* name, const char* what, Output x, Output y) {
  return BuildOperator(x.valid() ? x : y, what, [&](const Scope& s) { return ops::MakeOp(s, type, name, {x, y}); });
}
// x op number (or number op x when number_first).
Output WithNumber(const char* type, const char* name, const char* what, Output x, double v, bool number_first) {
  return BuildOperator(x, what, [&](const Scope& s) {
    if (!x.valid()) return ops::MakeOp(s, type, name, {x});  // records the invalid operand
    Output n = NumberLike(s, x, v);
    return ops::MakeOp(s, type, name, number_first ? std::vector<Output>{n, x} : std::vector<Output>{x, n});
  });
}

}  // namespace

Output operator+(Output x, Output y) { return Binary("Add", "add", "x + y", x, y); }
Output operator-(Output x, Output y) { return Binary("Sub", "sub", "x - y", x, y); }
Output operator*(Output x, Output y) { return Binary("Mul", "mul", "x * y", x, y); }
Output operator/(Output x, Output y) { return Binary("RealDiv", "truediv", "x / y", x, y); }
Output operator-(Output x) {
  return BuildOperator(x, "-x", [&](const Scope& s) { return ops::MakeOp(s, "Neg", "Neg", {x}); });
}
Output operator+(Output x, double y) { return WithNumber("Add", "add", "x + y", x, y, false); }
Output operator+(double x, Output y) { return WithNumber("Add", "add", "x + y", y, x, true); }
Output operator-(Output x, double y) { return WithNumber("Sub", "sub", "x - y", x, y, false); }
Output operator-(double x, Output y) { return WithNumber("Sub", "sub", "x - y", y, x, true); }
Output operator*(Output x, double y) { return WithNumber("Mul", "mul", "x * y", x, y, false); }
Output operator*(double x, Output y) { return WithNumber("Mul", "mul", "x * y", y, x, true); }
Output operator/(Output x, double y) { return WithNumber("RealDiv", "truediv", "x / y", x, y, false); }
Output operator/(double x, Output y) { return WithNumber("RealDiv", "truediv", "x / y", y, x, true); }

}  // namespace psflow
