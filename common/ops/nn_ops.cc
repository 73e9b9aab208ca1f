// Neural-network ops: BiasAdd, Softmax, LogSoftmax, sparse softmax
// cross-entropy.  Each op: definition + shape function, gradient, CPU kernel.
#include <cmath>

#include "common/ops/cpu_simd.h"
#include "common/ops/op_util.h"
#include "common/ops/ops.h"

namespace psflow {
namespace {

using op_util::DefineOp;

// Rows of the last dimension: [outer, classes].
std::pair<int64_t, int64_t> Rows(const TensorShape& s) {
  const int64_t c = s.rank() == 0 ? 1 : s.dim(s.rank() - 1);
  return {c == 0 ? 0 : s.num_elements() / c, c};
}

template <typename T>
void SoftmaxRows(const T* x, T* y, int64_t rows, int64_t cols, bool log) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    T mx = xr[0];
    for (int64_t k = 1; k < cols; ++k) mx = std::max(mx, xr[k]);
    T sum = 0;
    for (int64_t k = 0; k < cols; ++k) sum += std::exp(xr[k] - mx);
    const T lse = std::log(sum);
    for (int64_t k = 0; k < cols; ++k) yr[k] = log ? xr[k] - mx - lse : std::exp(xr[k] - mx - lse);
  }
}

Status SoftmaxShape(InferenceContext& c) {
  if (!op_util::IsFloat(c.input_dtype(0))) return InvalidArgumentError("logits must be floating point");
  if (!c.input_shape(0).unknown_rank() && c.input_shape(0).rank() < 1) {
    return InvalidArgumentError("logits must have rank >= 1, got ", c.input_shape(0).DebugString());
  }
  return op_util::UnchangedShape(c);
}

template <typename T>
Status SparseXentKernel(OpKernelContext& c) {
  const Tensor& logits = c.input(0);
  const Tensor& labels = c.input(1);
  const auto [rows_, cols_] = Rows(logits.shape());
  const int64_t rows = rows_, cols = cols_;  // lambdas capture these (clang 14 cannot capture bindings)
  if (logits.shape().rank() != 2 || labels.shape().rank() != 1 || labels.shape().dim(0) != rows) {
    return InvalidArgumentError("logits must be [batch, classes] and labels [batch]; got ",
                                logits.shape().DebugString(), " and ", labels.shape().DebugString());
  }
  Tensor* loss = c.AllocateOutput(0, TensorShape({rows}));
  Tensor* backprop = c.AllocateOutput(1, logits.shape());
  const T* x = static_cast<const T*>(logits.raw_data());
  T* bp = static_cast<T*>(backprop->raw_data());
  SoftmaxRows(x, bp, rows, cols, /*log=*/true);  // log-probabilities first
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t label = labels.dtype() == DType::kInt64 ? labels.flat<int64_t>()[static_cast<size_t>(r)]
                                                          : labels.flat<int32_t>()[static_cast<size_t>(r)];
    if (label < 0 || label >= cols) {
      return InvalidArgumentError("Received a label value of ", label,
                                  " which is outside the valid range of [0, ", cols, ").");
    }
    T* row = bp + r * cols;
    loss->flat<T>()[static_cast<size_t>(r)] = -row[label];
    for (int64_t k = 0; k < cols; ++k) row[k] = std::exp(row[k]);
    row[label] -= T(1);
  }
  return OkStatus();
}

template <typename T>
Status SoftmaxXentKernel(OpKernelContext& c) {
  const Tensor& logits = c.input(0);
  const Tensor& labels = c.input(1);
  if (logits.shape().rank() != 2 || !(labels.shape() == logits.shape())) {
    return InvalidArgumentError("logits and labels must both be [batch, classes]; got ",
                                logits.shape().DebugString(), " and ", labels.shape().DebugString());
  }
  const auto [rows_, cols_] = Rows(logits.shape());
  const int64_t rows = rows_, cols = cols_;  // lambdas capture these (clang 14 cannot capture bindings)
  Tensor* loss = c.AllocateOutput(0, TensorShape({rows}));
  Tensor* backprop = c.AllocateOutput(1, logits.shape());
  const T* x = static_cast<const T*>(logits.raw_data());
  const T* z = static_cast<const T*>(labels.raw_data());
  T* bp = static_cast<T*>(backprop->raw_data());
  SoftmaxRows(x, bp, rows, cols, /*log=*/true);
  for (int64_t r = 0; r < rows; ++r) {
    T l = 0;
    for (int64_t k = 0; k < cols; ++k) {
      const T logp = bp[r * cols + k];
      l -= z[r * cols + k] * logp;
      bp[r * cols + k] = std::exp(logp) - z[r * cols + k];
    }
    loss->flat<T>()[static_cast<size_t>(r)] = l;
  }
  return OkStatus();
}

void RegisterNnOps() {
  DefineOp({.type = "BiasAdd",
            .num_inputs = 2,
            .shape_fn = [](InferenceContext& c) -> Status {
              const PartialShape& b = c.input_shape(1);
              if (!b.unknown_rank() && b.rank() != 1) {
                return InvalidArgumentError("bias must be 1-D, got ", b.DebugString());
              }
              return op_util::BroadcastBinaryShape(c);
            },
            .grad = [](GradContext& g) {
              (*g.grads_in)[0] = g.grads_out[0];
              (*g.grads_in)[1] = ops::SumToShapeOf(g.scope, g.grads_out[0], g.node->inputs()[1]);
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             const Tensor& x = c.input(0);
             const Tensor& b = c.input(1);
             const auto [rows_, cols_] = Rows(x.shape());
             const int64_t rows = rows_, cols = cols_;  // lambdas capture these (clang 14 cannot capture bindings)
             if (b.shape().rank() != 1 || b.shape().dim(0) != cols) {
               return InvalidArgumentError("bias of shape ", b.shape().DebugString(),
                                           " does not match the last dimension of ",
                                           x.shape().DebugString());
             }
             Tensor* out = c.AllocateOutput(0, x.shape());
             if (x.dtype() == DType::kFloat && b.dtype() == DType::kFloat) {
               const float* xs = x.flat<float>().data();
               const float* bs = b.flat<float>().data();
               float* o = out->flat<float>().data();
               op_util::ParallelRange(c, rows, std::max<int64_t>(1, op_util::kMinElementwisePart / std::max<int64_t>(cols, 1)),
                                      [&](int64_t r0, int64_t r1) {
                                        simd::Get().bias_add(xs + r0 * cols, bs, o + r0 * cols, r1 - r0, cols);
                                      });
               return OkStatus();
             }
             PSFLOW_NUMERIC_DISPATCH(x.dtype(), {
               const T* xs = static_cast<const T*>(x.raw_data());
               const T* bs = static_cast<const T*>(b.raw_data());
               T* o = static_cast<T*>(out->raw_data());
               for (int64_t r = 0; r < rows; ++r) {
                 for (int64_t k = 0; k < cols; ++k) o[r * cols + k] = xs[r * cols + k] + bs[k];
               }
             });
             return OkStatus();
           });
  for (bool log : {false, true}) {
    const std::string type = log ? "LogSoftmax" : "Softmax";
    DefineOp({.type = type, .num_inputs = 1, .shape_fn = SoftmaxShape,
              .grad = [type](GradContext& g) {
                (*g.grads_in)[0] = ops::MakeOp(g.scope, type + "Grad", type + "Grad",
                                               {g.grads_out[0], g.node->output(0)});
                return OkStatus();
              }},
             [log](OpKernelContext& c) -> Status {
               const Tensor& x = c.input(0);
               Tensor* y = c.AllocateOutput(0, x.shape());
               const auto [rows_, cols_] = Rows(x.shape());
               const int64_t rows = rows_, cols = cols_;  // lambdas capture these (clang 14 cannot capture bindings)
               PSFLOW_FLOAT_DISPATCH(x.dtype(), SoftmaxRows<T>(static_cast<const T*>(x.raw_data()),
                                                               static_cast<T*>(y->raw_data()), rows, cols, log));
               return OkStatus();
             });
  }
  // Softmax gradient: (g, y) -> (g - sum(g * y, -1)) * y.
  // LogSoftmax gradient: (g, y = log softmax) -> g - exp(y) * sum(g, -1).
  for (bool log : {false, true}) {
    DefineOp({.type = log ? "LogSoftmaxGrad" : "SoftmaxGrad", .num_inputs = 2, .shape_fn = op_util::UnchangedShape},
             [log](OpKernelContext& c) -> Status {
               const Tensor& g = c.input(0);
               const Tensor& y = c.input(1);
               Tensor* out = c.AllocateOutput(0, y.shape());
               const auto [rows_, cols_] = Rows(y.shape());
               const int64_t rows = rows_, cols = cols_;  // lambdas capture these (clang 14 cannot capture bindings)
               PSFLOW_FLOAT_DISPATCH(y.dtype(), {
                 for (int64_t r = 0; r < rows; ++r) {
                   const T* gs = static_cast<const T*>(g.raw_data()) + r * cols;
                   const T* ys = static_cast<const T*>(y.raw_data()) + r * cols;
                   T* o = static_cast<T*>(out->raw_data()) + r * cols;
                   T acc = 0;
                   for (int64_t k = 0; k < cols; ++k) acc += log ? gs[k] : gs[k] * ys[k];
                   for (int64_t k = 0; k < cols; ++k) o[k] = log ? gs[k] - std::exp(ys[k]) * acc : (gs[k] - acc) * ys[k];
                 }
               });
               return OkStatus();
             });
  }
  DefineOp({.type = "L2Loss",
            .num_inputs = 1,
            .shape_fn = [](InferenceContext& c) -> Status {
              if (!op_util::IsFloat(c.input_dtype(0))) return InvalidArgumentError("L2Loss needs floats");
              c.AddOutput(c.input_dtype(0), PartialShape({}));
              return OkStatus();
            },
            .grad = [](GradContext& g) {
              (*g.grads_in)[0] = ops::Mul(g.scope, g.node->inputs()[0], g.grads_out[0]);
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             Tensor* out = c.AllocateOutput(0, TensorShape({}));
             PSFLOW_FLOAT_DISPATCH(c.input(0).dtype(), {
               T sum = 0;
               for (T v : c.input(0).flat<T>()) sum += v * v;
               out->flat<T>()[0] = sum / T(2);
             });
             return OkStatus();
           });
  // (labels, logits), as tf.nn.sigmoid_cross_entropy_with_logits.
  DefineOp({.type = "SigmoidCrossEntropyWithLogits",
            .num_inputs = 2,
            .shape_fn = [](InferenceContext& c) -> Status {
              if (!op_util::IsFloat(c.input_dtype(1))) return InvalidArgumentError("logits must be floating point");
              if (!c.input_shape(0).IsCompatibleWith(c.input_shape(1))) {
                return InvalidArgumentError("logits and labels must have the same shape, got ",
                                            c.input_shape(1).DebugString(), " and ", c.input_shape(0).DebugString());
              }
              return op_util::BroadcastBinaryShape(c);
            },
            .grad = [](GradContext& g) {
              const Scope& s = g.scope;
              Output z = g.node->inputs()[0], x = g.node->inputs()[1];
              (*g.grads_in)[1] = ops::Mul(s, g.grads_out[0], ops::Sub(s, ops::Sigmoid(s, x), z));
              (*g.grads_in)[0] = ops::Mul(s, g.grads_out[0], ops::Neg(s, x));
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             const Tensor& z = c.input(0);
             const Tensor& x = c.input(1);
             if (!(z.shape() == x.shape())) {
               return InvalidArgumentError("logits ", x.shape().DebugString(), " and labels ",
                                           z.shape().DebugString(), " differ in shape");
             }
             Tensor* out = c.AllocateOutput(0, x.shape());
             PSFLOW_FLOAT_DISPATCH(x.dtype(), {
               auto xs = x.flat<T>();
               auto zs = z.flat<T>();
               auto o = out->flat<T>();
               for (size_t i = 0; i < o.size(); ++i) {
                 o[i] = std::max(xs[i], T(0)) - xs[i] * zs[i] + std::log1p(std::exp(-std::abs(xs[i])));
               }
             });
             return OkStatus();
           });
  DefineOp({.type = "SoftmaxCrossEntropyWithLogits",
            .num_inputs = 2,
            .shape_fn = [](InferenceContext& c) -> Status {
              if (!op_util::IsFloat(c.input_dtype(0)) || c.input_dtype(0) != c.input_dtype(1)) {
                return InvalidArgumentError("logits and labels must be the same floating-point dtype");
              }
              ASSIGN_OR_RETURN(PartialShape l, c.input_shape(0).Merge(c.input_shape(1)));
              if (!l.unknown_rank() && l.rank() != 2) {
                return InvalidArgumentError("logits must be [batch, classes], got ", l.DebugString());
              }
              c.AddOutput(c.input_dtype(0), l.unknown_rank() ? PartialShape::UnknownOfRank(1) : PartialShape({l.dim(0)}));
              c.AddOutput(c.input_dtype(0), l);
              return OkStatus();
            },
            .grad = [](GradContext& g) {
              const Scope& s = g.scope;
              if (!g.grads_out[0].valid()) return OkStatus();
              Output scale = ops::Reshape(s, g.grads_out[0], {-1, 1});
              (*g.grads_in)[0] = ops::Mul(s, g.node->output(1), scale);
              (*g.grads_in)[1] = ops::Mul(s, ops::Neg(s, ops::LogSoftmax(s, g.node->inputs()[0])), scale);
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             Status st;
             PSFLOW_FLOAT_DISPATCH(c.input(0).dtype(), st = SoftmaxXentKernel<T>(c));
             return st;
           });
  DefineOp({.type = "SparseSoftmaxCrossEntropyWithLogits",
            .num_inputs = 2,
            .shape_fn = [](InferenceContext& c) -> Status {
              if (!op_util::IsFloat(c.input_dtype(0))) return InvalidArgumentError("logits must be floating point");
              if (c.input_dtype(1) != DType::kInt32 && c.input_dtype(1) != DType::kInt64) {
                return InvalidArgumentError("labels must be int32 or int64, got ", c.input_dtype(1));
              }
              const PartialShape& l = c.input_shape(0);
              if (!l.unknown_rank() && l.rank() != 2) {
                return InvalidArgumentError("logits must be [batch, classes], got ", l.DebugString());
              }
              const PartialShape& y = c.input_shape(1);
              if (!y.unknown_rank() && y.rank() != 1) {
                return InvalidArgumentError("labels must be [batch], got ", y.DebugString());
              }
              c.AddOutput(c.input_dtype(0), l.unknown_rank() ? PartialShape::UnknownOfRank(1)
                                                             : PartialShape({l.dim(0)}));
              c.AddOutput(c.input_dtype(0), l);
              return OkStatus();
            },
            .grad = [](GradContext& g) {
              // d loss_i / d logits_i = backprop_i, scaled by the incoming gradient of loss_i.
              const Scope& s = g.scope;
              if (!g.grads_out[0].valid()) return OkStatus();
              Output scale = ops::Reshape(s, g.grads_out[0], {-1, 1});
              (*g.grads_in)[0] = ops::Mul(s, g.node->output(1), scale);
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             Status st;
             PSFLOW_FLOAT_DISPATCH(c.input(0).dtype(), st = SparseXentKernel<T>(c));
             return st;
           });
}

}  // namespace

void RegisterNnOpsOnce() { RegisterNnOps(); }

namespace ops {
Output BiasAdd(const Scope& s, Output x, Output bias, const std::string& name) {
  return MakeOp(s, "BiasAdd", name, {x, bias});
}
Output Softmax(const Scope& s, Output logits, const std::string& name) {
  return MakeOp(s, "Softmax", name, {logits});
}
Output LogSoftmax(const Scope& s, Output logits, const std::string& name) {
  return MakeOp(s, "LogSoftmax", name, {logits});
}
Output L2Loss(const Scope& s, Output x, const std::string& name) { return MakeOp(s, "L2Loss", name, {x}); }
Output SigmoidCrossEntropyWithLogits(const Scope& s, Output labels, Output logits, const std::string& name) {
  return MakeOp(s, "SigmoidCrossEntropyWithLogits", name, {labels, logits});
}
Output SoftmaxCrossEntropyWithLogits(const Scope& s, Output logits, Output labels, const std::string& name) {
  return MakeOp(s, "SoftmaxCrossEntropyWithLogits", name, {logits, labels});
}
Output SparseSoftmaxCrossEntropyWithLogits(const Scope& s, Output logits, Output labels,
                                           const std::string& name) {
  return MakeOp(s, "SparseSoftmaxCrossEntropyWithLogits", name, {logits, labels});
}
}  // namespace ops
}  // namespace psflow
