// Sources, identity-like ops, casts, reshapes and the broadcasting helpers
// that gradients use.  Each op: definition + shape function, gradient, CPU kernel.
#include <cstring>

#include "common/ops/broadcast.h"
#include "common/ops/cpu_simd.h"
#include "common/ops/op_util.h"
#include "common/ops/ops.h"

namespace psflow {
namespace {

using op_util::DefineOp;
using op_util::ForEachBroadcast;

Status CopyInput(OpKernelContext& c) {
  c.SetOutput(0, c.input(0));
  return OkStatus();
}

template <typename T>
void FillValue(Tensor* t, T v) {
  for (T& x : t->flat<T>()) x = v;
}

Status FillLike(OpKernelContext& c, double value) {
  Tensor* out = c.AllocateOutput(0, c.input(0).shape());
  PSFLOW_NUMERIC_DISPATCH(out->dtype(), FillValue<T>(out, static_cast<T>(value)));
  return OkStatus();
}

template <typename From, typename To>
void CastLoop(const Tensor& in, Tensor* out) {
  auto s = in.flat<From>();
  auto d = out->flat<To>();
  for (size_t i = 0; i < s.size(); ++i) d[i] = static_cast<To>(s[i]);
}

Status CastKernel(OpKernelContext& c) {
  const Tensor& in = c.input(0);
  Tensor* out = c.AllocateOutput(0, in.shape());
  if (in.dtype() == DType::kBool) {
    PSFLOW_NUMERIC_DISPATCH(out->dtype(), (CastLoop<bool, T>(in, out)));
    return OkStatus();
  }
  if (out->dtype() == DType::kBool) {
    PSFLOW_NUMERIC_DISPATCH(in.dtype(), (CastLoop<T, bool>(in, out)));
    return OkStatus();
  }
  Status st;
  PSFLOW_NUMERIC_DISPATCH(in.dtype(), {
    using From = T;
    st = [&]() -> Status {
      PSFLOW_NUMERIC_DISPATCH(out->dtype(), (CastLoop<From, T>(in, out)));
      return OkStatus();
    }();
  });
  return st;
}

StatusOr<TensorShape> ResolveReshape(const std::vector<int64_t>& want, int64_t n) {
  std::vector<int64_t> dims = want;
  int unknown = -1;
  int64_t known = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == -1) {
      if (unknown >= 0) return InvalidArgumentError("only one dimension of a reshape may be -1");
      unknown = static_cast<int>(i);
    } else {
      known *= dims[i];
    }
  }
  if (unknown >= 0) {
    if (known == 0 || n % known != 0) {
      return InvalidArgumentError("cannot reshape a tensor with ", n, " elements to [",
                                  StrJoin(want, ","), "]");
    }
    dims[static_cast<size_t>(unknown)] = n / known;
  } else if (known != n) {
    return InvalidArgumentError("cannot reshape a tensor with ", n, " elements to shape [",
                                StrJoin(want, ","), "] (", known, " elements)");
  }
  return TensorShape(dims);
}

// A tensor with the same buffer and a new shape (no copy).
Tensor Reshaped(const Tensor& t, TensorShape shape) {
  if (t.dtype() == DType::kString) {
    Tensor out(DType::kString, shape);
    auto s = t.flat<std::string>();
    auto d = out.flat<std::string>();
    for (size_t i = 0; i < s.size(); ++i) d[i] = s[i];
    return out;
  }
  return t.Reshaped(std::move(shape));
}

template <typename T>
void SumTo(const Tensor& x, Tensor* out) {
  auto xs = x.flat<T>();
  auto o = out->flat<T>();
  std::fill(o.begin(), o.end(), T(0));
  ForEachBroadcast(x.shape(), out->shape(), [&](int64_t xi, int64_t oi) {
    o[static_cast<size_t>(oi)] += xs[static_cast<size_t>(xi)];
  });
}

template <typename T>
void BroadcastTo(const Tensor& x, Tensor* out, T scale) {
  auto xs = x.flat<T>();
  auto o = out->flat<T>();
  ForEachBroadcast(out->shape(), x.shape(), [&](int64_t oi, int64_t xi) {
    o[static_cast<size_t>(oi)] = xs[static_cast<size_t>(xi)] * scale;
  });
}

Status CheckBroadcastable(const TensorShape& from, const TensorShape& to) {
  auto b = op_util::BroadcastShapes(from, to);
  if (!b.ok() || !(*b == to)) {
    return InvalidArgumentError("shape ", from.DebugString(), " cannot be broadcast to ",
                                to.DebugString());
  }
  return OkStatus();
}

// The keep-dims shape of reducing `like` over `axes`.
StatusOr<TensorShape> KeptShape(const TensorShape& like, const std::vector<int64_t>& axes) {
  ASSIGN_OR_RETURN(std::vector<int> norm, op_util::NormalizeAxes(axes, like.rank()));
  std::vector<int64_t> dims = like.dims();
  for (int a : norm) dims[static_cast<size_t>(a)] = 1;
  return TensorShape(dims);
}

void RegisterArrayOps() {
  DefineOp({.type = "Const",
            .num_inputs = 0,
            .shape_fn = [](InferenceContext& c) -> Status {
              ASSIGN_OR_RETURN(Tensor v, c.GetAttr<Tensor>("value"));
              c.AddOutput(v.dtype(), v.shape());
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             ASSIGN_OR_RETURN(Tensor v, c.GetAttr<Tensor>("value"));
             c.SetOutput(0, v);
             return OkStatus();
           });
  DefineOp({.type = "Placeholder",
            .num_inputs = 0,
            .shape_fn = op_util::DtypeShapeFromAttrs},
           [](OpKernelContext& c) -> Status {
             ASSIGN_OR_RETURN(DType t, c.GetAttr<DType>("dtype"));
             ASSIGN_OR_RETURN(PartialShape s, c.GetAttr<PartialShape>("shape"));
             return InvalidArgumentError("You must feed a value for placeholder tensor '",
                                         c.node().name(), "' with dtype ", DTypeName(t),
                                         " and shape ", s.DebugString());
           });
  DefineOp({.type = "Identity",
            .num_inputs = 1,
            .shape_fn = op_util::UnchangedShape,
            .grad = [](GradContext& g) -> Status {
              (*g.grads_in)[0] = g.grads_out[0];
              return OkStatus();
            }},
           CopyInput);
  DefineOp({.type = "StopGradient", .num_inputs = 1, .shape_fn = op_util::UnchangedShape,
            .grad = [](GradContext&) { return OkStatus(); }},
           CopyInput);
  DefineOp({.type = "NoOp",
            .num_inputs = 0,
            .shape_fn = [](InferenceContext&) { return OkStatus(); }},
           [](OpKernelContext&) { return OkStatus(); });
  DefineOp({.type = "ZerosLike", .num_inputs = 1, .shape_fn = op_util::UnchangedShape,
            .grad = [](GradContext&) { return OkStatus(); }},
           [](OpKernelContext& c) { return FillLike(c, 0.0); });
  DefineOp({.type = "OnesLike", .num_inputs = 1, .shape_fn = op_util::UnchangedShape,
            .grad = [](GradContext&) { return OkStatus(); }},
           [](OpKernelContext& c) { return FillLike(c, 1.0); });
  DefineOp({.type = "Cast",
            .num_inputs = 1,
            .shape_fn = [](InferenceContext& c) -> Status {
              ASSIGN_OR_RETURN(DType to, c.GetAttr<DType>("DstT"));
              c.AddOutput(to, c.input_shape(0));
              return OkStatus();
            },
            .grad = [](GradContext& g) -> Status {
              const DType src = g.node->inputs()[0].dtype();
              if (op_util::IsFloat(src) && op_util::IsFloat(g.node->output_dtype(0))) {
                (*g.grads_in)[0] = ops::Cast(g.scope, g.grads_out[0], src);
              }
              return OkStatus();
            }},
           CastKernel);
  DefineOp({.type = "Reshape",
            .num_inputs = 1,
            .shape_fn = [](InferenceContext& c) -> Status {
              ASSIGN_OR_RETURN(std::vector<int64_t> want, c.GetAttr<std::vector<int64_t>>("shape"));
              const int64_t n = c.input_shape(0).NumElementsOrUnknown();
              if (n >= 0) {
                ASSIGN_OR_RETURN(TensorShape s, ResolveReshape(want, n));
                c.AddOutput(c.input_dtype(0), s);
              } else {
                c.AddOutput(c.input_dtype(0), PartialShape(want));
              }
              return OkStatus();
            },
            .grad = [](GradContext& g) -> Status {
              (*g.grads_in)[0] = ops::ReshapeLike(g.scope, g.grads_out[0], g.node->inputs()[0]);
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             ASSIGN_OR_RETURN(std::vector<int64_t> want, c.GetAttr<std::vector<int64_t>>("shape"));
             ASSIGN_OR_RETURN(TensorShape s, ResolveReshape(want, c.input(0).num_elements()));
             c.SetOutput(0, Reshaped(c.input(0), s));
             return OkStatus();
           });
  DefineOp({.type = "ReshapeLike",
            .num_inputs = 2,
            .shape_fn = [](InferenceContext& c) -> Status {
              c.AddOutput(c.input_dtype(0), c.input_shape(1));
              return OkStatus();
            },
            .grad = [](GradContext& g) -> Status {
              (*g.grads_in)[0] = ops::ReshapeLike(g.scope, g.grads_out[0], g.node->inputs()[0]);
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             if (c.input(0).num_elements() != c.input(1).num_elements()) {
               return InvalidArgumentError("cannot reshape ", c.input(0).shape().DebugString(),
                                           " to ", c.input(1).shape().DebugString());
             }
             c.SetOutput(0, Reshaped(c.input(0), c.input(1).shape()));
             return OkStatus();
           });
  DefineOp({.type = "AddN",
            .shape_fn = [](InferenceContext& c) -> Status {
              if (c.num_inputs() == 0) return InvalidArgumentError("AddN needs at least one input");
              PartialShape s = c.input_shape(0);
              for (int i = 1; i < c.num_inputs(); ++i) {
                if (c.input_dtype(i) != c.input_dtype(0)) {
                  return InvalidArgumentError("AddN inputs must share a dtype");
                }
                ASSIGN_OR_RETURN(s, s.Merge(c.input_shape(i)));
              }
              c.AddOutput(c.input_dtype(0), s);
              return OkStatus();
            },
            .grad = [](GradContext& g) -> Status {
              for (auto& gi : *g.grads_in) gi = g.grads_out[0];
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             Tensor* out = c.AllocateOutput(0, c.input(0).shape());
             for (int i = 1; i < c.num_inputs(); ++i) {
               if (!(c.input(i).shape() == out->shape())) {
                 return InvalidArgumentError("AddN inputs have shapes ", out->shape().DebugString(),
                                             " and ", c.input(i).shape().DebugString());
               }
             }
             PSFLOW_NUMERIC_DISPATCH(out->dtype(), {
               auto o = out->flat<T>();
               auto first = c.input(0).flat<T>();
               std::copy(first.begin(), first.end(), o.begin());
               for (int i = 1; i < c.num_inputs(); ++i) {
                 auto x = c.input(i).flat<T>();
                 for (size_t k = 0; k < o.size(); ++k) o[k] += x[k];
               }
             });
             return OkStatus();
           });
  DefineOp({.type = "SumToShapeOf",
            .num_inputs = 2,
            .shape_fn = [](InferenceContext& c) -> Status {
              c.AddOutput(c.input_dtype(0), c.input_shape(1));
              return OkStatus();
            },
            .grad = [](GradContext& g) -> Status {
              (*g.grads_in)[0] = ops::BroadcastLike(g.scope, g.grads_out[0], g.node->inputs()[0]);
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             const Tensor& x = c.input(0);
             const TensorShape& to = c.input(1).shape();
             RETURN_IF_ERROR(CheckBroadcastable(to, x.shape()));
             Tensor* out = c.AllocateOutput(0, to);
             // A bias's gradient: [..., cols] summed to [cols].
             if (x.dtype() == DType::kFloat && to.rank() == 1 && x.shape().rank() >= 1 &&
                 x.shape().dim(x.shape().rank() - 1) == to.dim(0) && to.dim(0) > 0) {
               const int64_t cols = to.dim(0);
               simd::Get().sum_rows(x.flat<float>().data(), out->flat<float>().data(), x.num_elements() / cols, cols);
               return OkStatus();
             }
             PSFLOW_NUMERIC_DISPATCH(x.dtype(), SumTo<T>(x, out));
             return OkStatus();
           });
  DefineOp({.type = "BroadcastLike",
            .num_inputs = 2,
            .shape_fn = [](InferenceContext& c) -> Status {
              c.AddOutput(c.input_dtype(0), c.input_shape(1));
              return OkStatus();
            },
            .grad = [](GradContext& g) -> Status {
              (*g.grads_in)[0] = ops::SumToShapeOf(g.scope, g.grads_out[0], g.node->inputs()[0]);
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             const Tensor& x = c.input(0);
             RETURN_IF_ERROR(CheckBroadcastable(x.shape(), c.input(1).shape()));
             Tensor* out = c.AllocateOutput(0, c.input(1).shape());
             PSFLOW_NUMERIC_DISPATCH(x.dtype(), BroadcastTo<T>(x, out, T(1)));
             return OkStatus();
           });
  DefineOp({.type = "ReductionGrad",
            .num_inputs = 2,
            .shape_fn = [](InferenceContext& c) -> Status {
              c.AddOutput(c.input_dtype(0), c.input_shape(1));
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             ASSIGN_OR_RETURN(auto axes, c.GetAttr<std::vector<int64_t>>("axes"));
             ASSIGN_OR_RETURN(bool mean, c.GetAttr<bool>("mean"));
             const TensorShape& like = c.input(1).shape();
             ASSIGN_OR_RETURN(TensorShape kept, KeptShape(like, axes));
             const Tensor& g = c.input(0);
             if (g.num_elements() != kept.num_elements()) {
               return InvalidArgumentError("gradient of shape ", g.shape().DebugString(),
                                           " does not fit the reduction of ", like.DebugString());
             }
             Tensor* out = c.AllocateOutput(0, like);
             const int64_t count = kept.num_elements() == 0 ? 1 : like.num_elements() / std::max<int64_t>(1, kept.num_elements());
             PSFLOW_NUMERIC_DISPATCH(g.dtype(), {
               BroadcastTo<T>(Reshaped(g, kept), out, mean ? T(1) / static_cast<T>(count) : T(1));
             });
             return OkStatus();
           });
}

}  // namespace

void RegisterArrayOpsOnce() { RegisterArrayOps(); }

namespace ops {

Node* MakeNode(const Scope& s, const std::string& type, const std::string& name,
               std::vector<Output> inputs, std::map<std::string, AttrValue> attrs) {
  RegisterStandardOps();
  for (const Output& in : inputs) {
    if (!in.valid()) {
      s.UpdateStatus(InvalidArgumentError("an input of ", type, " (", name,
                                          ") is invalid: an earlier op failed"))
          .IgnoreError();
      return nullptr;
    }
  }
  auto n = s.AddNode({.type = type, .name = name, .inputs = std::move(inputs), .attrs = std::move(attrs)});
  return n.ok() ? *n : nullptr;
}

Output MakeOp(const Scope& s, const std::string& type, const std::string& name,
              std::vector<Output> inputs, std::map<std::string, AttrValue> attrs) {
  Node* n = MakeNode(s, type, name, std::move(inputs), std::move(attrs));
  return n == nullptr || n->num_outputs() == 0 ? Output{} : n->output(0);
}

Output Const(const Scope& s, Tensor value, const std::string& name) {
  const DType dtype = value.dtype();
  return MakeOp(s, "Const", name, {}, {{"value", std::move(value)}, {"dtype", dtype}});
}
Output Const(const Scope& s, float v, const std::string& name) {
  return Const(s, Tensor::Scalar<float>(v), name);
}
Output Placeholder(const Scope& s, DType dtype, PartialShape shape, const std::string& name) {
  return MakeOp(s, "Placeholder", name, {}, {{"dtype", dtype}, {"shape", std::move(shape)}});
}
Output Identity(const Scope& s, Output x, const std::string& name) {
  return MakeOp(s, "Identity", name, {x});
}
Output StopGradient(const Scope& s, Output x, const std::string& name) {
  return MakeOp(s, "StopGradient", name, {x});
}
Node* NoOp(const Scope& s, const std::string& name) { return MakeNode(s, "NoOp", name, {}); }
Node* Group(const Scope& s, const std::vector<Node*>& deps, const std::string& name) {
  return NoOp(s.WithControlDependencies(deps), name);
}
Output AddN(const Scope& s, std::vector<Output> xs, const std::string& name) {
  if (xs.size() == 1) return xs[0];
  return MakeOp(s, "AddN", name, std::move(xs));
}
Output Cast(const Scope& s, Output x, DType to, const std::string& name) {
  if (x.valid() && x.dtype() == to) return x;
  return MakeOp(s, "Cast", name, {x}, {{"DstT", to}});
}
Output ZerosLike(const Scope& s, Output x, const std::string& name) {
  return MakeOp(s, "ZerosLike", name, {x});
}
Output OnesLike(const Scope& s, Output x, const std::string& name) {
  return MakeOp(s, "OnesLike", name, {x});
}
Output SumToShapeOf(const Scope& s, Output x, Output like, const std::string& name) {
  // Nothing to sum when the shapes are known and equal.
  if (x.valid() && like.valid() && x.shape().IsFullyDefined() && x.shape() == like.shape()) return x;
  return MakeOp(s, "SumToShapeOf", name, {x, like});
}
Output BroadcastLike(const Scope& s, Output x, Output like, const std::string& name) {
  return MakeOp(s, "BroadcastLike", name, {x, like});
}
Output ReductionGrad(const Scope& s, Output g, Output like, std::vector<int64_t> axes,
                     bool keep_dims, bool mean, const std::string& name) {
  return MakeOp(s, "ReductionGrad", name, {g, like},
                {{"axes", std::move(axes)}, {"keep_dims", keep_dims}, {"mean", mean}});
}
Output Reshape(const Scope& s, Output x, std::vector<int64_t> shape, const std::string& name) {
  return MakeOp(s, "Reshape", name, {x}, {{"shape", std::move(shape)}});
}
Output ReshapeLike(const Scope& s, Output x, Output like, const std::string& name) {
  return MakeOp(s, "ReshapeLike", name, {x, like});
}

}  // namespace ops
}  // namespace psflow
