// Shape manipulation: Transpose, ExpandDims, Squeeze, Concat, Slice,
// StridedSlice, OneHot.
// Each op: definition + shape function, gradient, CPU kernel.
#include <algorithm>
#include <cstring>

#include "common/ops/op_util.h"
#include "common/ops/ops.h"
#include "common/ops/strided_slice.h"

namespace psflow {
namespace {

using op_util::DefineOp;
using op_util::PlanStridedSlice;
using op_util::ReadStridedSpec;
using op_util::StridedDim;
using op_util::StridedPlan;
using op_util::StridedSliceSpec;

std::vector<int64_t> Strides(const TensorShape& s) {
  std::vector<int64_t> st(static_cast<size_t>(s.rank()), 1);
  for (int d = s.rank() - 2; d >= 0; --d) st[static_cast<size_t>(d)] = st[static_cast<size_t>(d) + 1] * s.dim(d + 1);
  return st;
}

// Copies elements between tensors of one dtype by flat index (strings too).
void CopyElement(const Tensor& src, int64_t si, Tensor* dst, int64_t di) {
  if (src.dtype() == DType::kString) {
    dst->flat<std::string>()[static_cast<size_t>(di)] = src.flat<std::string>()[static_cast<size_t>(si)];
    return;
  }
  const size_t es = DTypeSize(src.dtype());
  std::memcpy(static_cast<char*>(dst->raw_data()) + static_cast<size_t>(di) * es,
              static_cast<const char*>(src.raw_data()) + static_cast<size_t>(si) * es, es);
}

// Visits every index of `shape`: f(multi_index, flat_index).
template <typename F>
void ForEachIndex(const TensorShape& shape, F f) {
  const int64_t n = shape.num_elements();
  std::vector<int64_t> idx(static_cast<size_t>(shape.rank()), 0);
  for (int64_t flat = 0; flat < n; ++flat) {
    f(idx, flat);
    for (int d = shape.rank() - 1; d >= 0; --d) {
      if (++idx[static_cast<size_t>(d)] < shape.dim(d)) break;
      idx[static_cast<size_t>(d)] = 0;
    }
  }
}

// Copies between a tensor and the box of another one that starts at
// `begin`: box -> whole tensor `small` when !into_big, or the reverse.
void CopyBox(const Tensor& from, Tensor* to, const std::vector<int64_t>& begin, bool into_big) {
  const TensorShape& small = into_big ? from.shape() : to->shape();
  const auto st = Strides(into_big ? to->shape() : from.shape());
  ForEachIndex(small, [&](const std::vector<int64_t>& idx, int64_t flat) {
    int64_t big = 0;
    for (size_t d = 0; d < idx.size(); ++d) big += (idx[d] + begin[d]) * st[d];
    if (into_big) {
      CopyElement(from, flat, to, big);
    } else {
      CopyElement(from, big, to, flat);
    }
  });
}

// Copies x's strided box into `out` (gather) or `out`'s box from x (scatter:
// x is then the slice and out the full tensor).
void StridedCopy(const StridedPlan& p, const Tensor& from, Tensor* to, bool scatter) {
  std::vector<int64_t> counts;
  for (const StridedDim& d : p.dims) counts.push_back(d.count);
  const auto st = Strides(scatter ? to->shape() : from.shape());
  ForEachIndex(TensorShape(counts), [&](const std::vector<int64_t>& idx, int64_t flat) {
    int64_t big = 0;
    for (size_t d = 0; d < idx.size(); ++d) big += (p.dims[d].start + idx[d] * p.dims[d].stride) * st[d];
    if (scatter) CopyElement(from, flat, to, big);
    else CopyElement(from, big, to, flat);
  });
}

std::map<std::string, AttrValue> StridedAttrs(const Node& n) {
  std::map<std::string, AttrValue> a;
  for (const char* k : {"begin", "end", "strides", "begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask",
                        "shrink_axis_mask"}) {
    a[k] = n.attrs().at(k);
  }
  return a;
}

StatusOr<std::vector<int>> CheckPerm(const std::vector<int64_t>& perm, int rank) {
  if (static_cast<int>(perm.size()) != rank) {
    return InvalidArgumentError("perm has ", perm.size(), " entries for a tensor of rank ", rank);
  }
  std::vector<int> p;
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (int64_t v : perm) {
    if (v < 0 || v >= rank || seen[static_cast<size_t>(v)]) {
      return InvalidArgumentError("perm [", StrJoin(perm, ","), "] is not a permutation of 0..", rank - 1);
    }
    seen[static_cast<size_t>(v)] = true;
    p.push_back(static_cast<int>(v));
  }
  return p;
}

Output In(GradContext& g, int i) { return g.node->inputs()[static_cast<size_t>(i)]; }

// x's elements with another shape: the same buffer (no copy, so the kernel
// works on any device), strings copied.
Tensor SameElements(const Tensor& x, TensorShape shape) {
  if (x.dtype() != DType::kString) return x.Reshaped(std::move(shape));
  Tensor out(x.dtype(), std::move(shape));
  for (int64_t i = 0; i < x.num_elements(); ++i) CopyElement(x, i, &out, i);
  return out;
}

}  // namespace

void RegisterShapeOpsOnce() {
  DefineOp({.type = "Transpose",
            .num_inputs = 1,
            .shape_fn = [](InferenceContext& c) -> Status {
              ASSIGN_OR_RETURN(auto perm, c.GetAttr<std::vector<int64_t>>("perm"));
              const PartialShape& in = c.input_shape(0);
              if (in.unknown_rank()) {
                c.AddOutput(c.input_dtype(0), PartialShape::UnknownOfRank(static_cast<int>(perm.size())));
                return OkStatus();
              }
              ASSIGN_OR_RETURN(std::vector<int> p, CheckPerm(perm, in.rank()));
              std::vector<int64_t> dims;
              for (int v : p) dims.push_back(in.dim(v));
              c.AddOutput(c.input_dtype(0), PartialShape(dims));
              return OkStatus();
            },
            .grad = [](GradContext& g) -> Status {
              ASSIGN_OR_RETURN(auto perm, g.node->GetAttr<std::vector<int64_t>>("perm"));
              std::vector<int64_t> inv(perm.size());
              for (size_t i = 0; i < perm.size(); ++i) inv[static_cast<size_t>(perm[i])] = static_cast<int64_t>(i);
              (*g.grads_in)[0] = ops::Transpose(g.scope, g.grads_out[0], inv);
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             ASSIGN_OR_RETURN(auto perm, c.GetAttr<std::vector<int64_t>>("perm"));
             const Tensor& x = c.input(0);
             ASSIGN_OR_RETURN(std::vector<int> p, CheckPerm(perm, x.shape().rank()));
             std::vector<int64_t> dims;
             for (int v : p) dims.push_back(x.shape().dim(v));
             Tensor* out = c.AllocateOutput(0, TensorShape(dims));
             const auto in_strides = Strides(x.shape());
             ForEachIndex(out->shape(), [&](const std::vector<int64_t>& idx, int64_t flat) {
               int64_t src = 0;
               for (size_t d = 0; d < idx.size(); ++d) src += idx[d] * in_strides[static_cast<size_t>(p[d])];
               CopyElement(x, src, out, flat);
             });
             return OkStatus();
           });
  DefineOp({.type = "ExpandDims",
            .num_inputs = 1,
            .shape_fn = [](InferenceContext& c) -> Status {
              ASSIGN_OR_RETURN(int64_t axis, c.GetAttr<int64_t>("axis"));
              const PartialShape& in = c.input_shape(0);
              if (in.unknown_rank()) {
                c.AddOutput(c.input_dtype(0), PartialShape::Unknown());
                return OkStatus();
              }
              const int64_t a = axis < 0 ? axis + in.rank() + 1 : axis;
              if (a < 0 || a > in.rank()) {
                return InvalidArgumentError("axis ", axis, " is out of range for ExpandDims of rank ", in.rank());
              }
              std::vector<int64_t> dims = in.dims();
              dims.insert(dims.begin() + a, 1);
              c.AddOutput(c.input_dtype(0), PartialShape(dims));
              return OkStatus();
            },
            .grad = [](GradContext& g) {
              (*g.grads_in)[0] = ops::ReshapeLike(g.scope, g.grads_out[0], In(g, 0));
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             ASSIGN_OR_RETURN(int64_t axis, c.GetAttr<int64_t>("axis"));
             const Tensor& x = c.input(0);
             const int64_t a = axis < 0 ? axis + x.shape().rank() + 1 : axis;
             std::vector<int64_t> dims = x.shape().dims();
             dims.insert(dims.begin() + a, 1);
             c.SetOutput(0, SameElements(x, TensorShape(dims)));
             return OkStatus();
           });
  DefineOp({.type = "Squeeze",
            .num_inputs = 1,
            .shape_fn = [](InferenceContext& c) -> Status {
              ASSIGN_OR_RETURN(auto axes, c.GetAttr<std::vector<int64_t>>("axes"));
              const PartialShape& in = c.input_shape(0);
              if (in.unknown_rank()) {
                c.AddOutput(c.input_dtype(0), PartialShape::Unknown());
                return OkStatus();
              }
              std::vector<int> ax;
              if (!axes.empty()) {
                ASSIGN_OR_RETURN(ax, op_util::NormalizeAxes(axes, in.rank()));
              }
              std::vector<int64_t> dims;
              for (int d = 0; d < in.rank(); ++d) {
                const bool listed = std::find(ax.begin(), ax.end(), d) != ax.end();
                if (listed && in.dim(d) != 1 && in.dim(d) != kUnknownDim) {
                  return InvalidArgumentError("Can not squeeze dim[", d, "], expected a dimension of 1, got ", in.dim(d));
                }
                if (axes.empty() ? in.dim(d) == 1 : listed) continue;
                dims.push_back(in.dim(d));
              }
              c.AddOutput(c.input_dtype(0), PartialShape(dims));
              return OkStatus();
            },
            .grad = [](GradContext& g) {
              (*g.grads_in)[0] = ops::ReshapeLike(g.scope, g.grads_out[0], In(g, 0));
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             ASSIGN_OR_RETURN(auto axes, c.GetAttr<std::vector<int64_t>>("axes"));
             const Tensor& x = c.input(0);
             std::vector<int> ax;
             if (!axes.empty()) {
               ASSIGN_OR_RETURN(ax, op_util::NormalizeAxes(axes, x.shape().rank()));
             }
             std::vector<int64_t> dims;
             for (int d = 0; d < x.shape().rank(); ++d) {
               const bool listed = std::find(ax.begin(), ax.end(), d) != ax.end();
               if (listed && x.shape().dim(d) != 1) {
                 return InvalidArgumentError("Can not squeeze dim[", d, "] of ", x.shape().DebugString());
               }
               if (axes.empty() ? x.shape().dim(d) == 1 : listed) continue;
               dims.push_back(x.shape().dim(d));
             }
             c.SetOutput(0, SameElements(x, TensorShape(dims)));
             return OkStatus();
           });
  DefineOp({.type = "Concat",
            .shape_fn = [](InferenceContext& c) -> Status {
              ASSIGN_OR_RETURN(int64_t axis, c.GetAttr<int64_t>("axis"));
              if (c.num_inputs() == 0) return InvalidArgumentError("Concat needs inputs");
              PartialShape out = c.input_shape(0);
              if (out.unknown_rank()) {
                c.AddOutput(c.input_dtype(0), out);
                return OkStatus();
              }
              ASSIGN_OR_RETURN(std::vector<int> ax, op_util::NormalizeAxes({axis}, out.rank()));
              std::vector<int64_t> dims = out.dims();
              for (int i = 1; i < c.num_inputs(); ++i) {
                const PartialShape& s = c.input_shape(i);
                if (c.input_dtype(i) != c.input_dtype(0)) return InvalidArgumentError("Concat inputs differ in dtype");
                if (s.unknown_rank() || s.rank() != out.rank()) {
                  return InvalidArgumentError("Concat input ", i, " has shape ", s.DebugString(), ", input 0 ",
                                              out.DebugString());
                }
                for (int d = 0; d < out.rank(); ++d) {
                  const size_t u = static_cast<size_t>(d);
                  if (d == ax[0]) {
                    dims[u] = dims[u] < 0 || s.dim(d) < 0 ? kUnknownDim : dims[u] + s.dim(d);
                  } else if (dims[u] >= 0 && s.dim(d) >= 0 && dims[u] != s.dim(d)) {
                    return InvalidArgumentError("Concat input ", i, " has shape ", s.DebugString(),
                                                ", which differs from input 0 outside axis ", axis);
                  } else if (dims[u] < 0) {
                    dims[u] = s.dim(d);
                  }
                }
              }
              c.AddOutput(c.input_dtype(0), PartialShape(dims));
              return OkStatus();
            },
            .grad = [](GradContext& g) -> Status {
              ASSIGN_OR_RETURN(int64_t axis, g.node->GetAttr<int64_t>("axis"));
              std::vector<Output> ins = {g.grads_out[0]};
              for (const Output& in : g.node->inputs()) ins.push_back(in);
              Node* split = ops::MakeNode(g.scope, "ConcatGrad", "ConcatGrad", ins, {{"axis", axis}});
              if (split == nullptr) return g.scope.status();
              for (size_t i = 0; i < g.grads_in->size(); ++i) (*g.grads_in)[i] = split->output(static_cast<int>(i));
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             ASSIGN_OR_RETURN(op_util::ConcatLayout layout, op_util::ConcatLayoutOf(c));
             Tensor* out = c.AllocateOutput(0, layout.out);
             const int64_t outer = layout.outer;
             int64_t out_row = out->num_elements() / std::max<int64_t>(1, outer), offset = 0;
             for (int i = 0; i < c.num_inputs(); ++i) {
               const Tensor& x = c.input(i);
               const int64_t row = layout.rows[static_cast<size_t>(i)];
               for (int64_t o = 0; o < outer; ++o) {
                 for (int64_t k = 0; k < row; ++k) CopyElement(x, o * row + k, out, o * out_row + offset + k);
               }
               offset += row;
             }
             return OkStatus();
           });
  // (g, x_0, ..., x_{n-1}) -> the part of g belonging to each x_i.
  DefineOp({.type = "ConcatGrad",
            .shape_fn = [](InferenceContext& c) -> Status {
              for (int i = 1; i < c.num_inputs(); ++i) c.AddOutput(c.input_dtype(0), c.input_shape(i));
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             ASSIGN_OR_RETURN(int64_t axis, c.GetAttr<int64_t>("axis"));
             const Tensor& g = c.input(0);
             ASSIGN_OR_RETURN(std::vector<int> ax, op_util::NormalizeAxes({axis}, g.shape().rank()));
             int64_t outer = 1;
             for (int d = 0; d < ax[0]; ++d) outer *= g.shape().dim(d);
             const int64_t g_row = g.num_elements() / std::max<int64_t>(1, outer);
             int64_t offset = 0;
             for (int i = 1; i < c.num_inputs(); ++i) {
               Tensor* out = c.AllocateOutput(i - 1, c.input(i).shape());
               const int64_t row = out->num_elements() / std::max<int64_t>(1, outer);
               for (int64_t o = 0; o < outer; ++o) {
                 for (int64_t k = 0; k < row; ++k) CopyElement(g, o * g_row + offset + k, out, o * row + k);
               }
               offset += row;
             }
             return OkStatus();
           });
  DefineOp({.type = "Slice",
            .num_inputs = 1,
            .shape_fn = [](InferenceContext& c) -> Status {
              ASSIGN_OR_RETURN(auto begin, c.GetAttr<std::vector<int64_t>>("begin"));
              ASSIGN_OR_RETURN(auto size, c.GetAttr<std::vector<int64_t>>("size"));
              const PartialShape& in = c.input_shape(0);
              if (begin.size() != size.size() || (!in.unknown_rank() && static_cast<int>(begin.size()) != in.rank())) {
                return InvalidArgumentError("Slice begin [", StrJoin(begin, ","), "] and size [", StrJoin(size, ","),
                                            "] must have one entry per dimension of ", in.DebugString());
              }
              std::vector<int64_t> dims;
              for (size_t d = 0; d < begin.size(); ++d) {
                const int64_t n = in.unknown_rank() ? kUnknownDim : in.dim(static_cast<int>(d));
                if (begin[d] < 0 || (n >= 0 && size[d] >= 0 && begin[d] + size[d] > n)) {
                  return InvalidArgumentError("Slice begin ", begin[d], " size ", size[d], " is out of range for dimension ",
                                              d, " of ", in.DebugString());
                }
                dims.push_back(size[d] >= 0 ? size[d] : (n >= 0 ? n - begin[d] : kUnknownDim));
              }
              c.AddOutput(c.input_dtype(0), PartialShape(dims));
              return OkStatus();
            },
            .grad = [](GradContext& g) -> Status {
              ASSIGN_OR_RETURN(auto begin, g.node->GetAttr<std::vector<int64_t>>("begin"));
              (*g.grads_in)[0] = ops::MakeOp(g.scope, "SliceGrad", "SliceGrad", {g.grads_out[0], In(g, 0)},
                                             {{"begin", begin}});
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             ASSIGN_OR_RETURN(auto begin, c.GetAttr<std::vector<int64_t>>("begin"));
             ASSIGN_OR_RETURN(auto size, c.GetAttr<std::vector<int64_t>>("size"));
             const Tensor& x = c.input(0);
             std::vector<int64_t> dims;
             for (size_t d = 0; d < begin.size(); ++d) {
               const int64_t n = x.shape().dim(static_cast<int>(d));
               const int64_t len = size[d] >= 0 ? size[d] : n - begin[d];
               if (begin[d] < 0 || len < 0 || begin[d] + len > n) {
                 return InvalidArgumentError("Slice out of range for dimension ", d, " of ", x.shape().DebugString());
               }
               dims.push_back(len);
             }
             CopyBox(x, c.AllocateOutput(0, TensorShape(dims)), begin, /*into_big=*/false);
             return OkStatus();
           });
  // (g, x): g placed at `begin` inside zeros shaped like x.
  DefineOp({.type = "SliceGrad",
            .num_inputs = 2,
            .shape_fn = [](InferenceContext& c) -> Status {
              c.AddOutput(c.input_dtype(0), c.input_shape(1));
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             ASSIGN_OR_RETURN(auto begin, c.GetAttr<std::vector<int64_t>>("begin"));
             const Tensor& g = c.input(0);
             Tensor* out = c.AllocateOutput(0, c.input(1).shape());
             std::memset(out->raw_data(), 0, out->TotalBytes());
             CopyBox(g, out, begin, /*into_big=*/true);
             return OkStatus();
           });
  // StridedSlice(x): tf.strided_slice with the spec as attributes (begin,
  // end, strides and the five masks, TensorFlow's meaning).
  DefineOp({.type = "StridedSlice",
            .num_inputs = 1,
            .shape_fn = [](InferenceContext& c) -> Status {
              ASSIGN_OR_RETURN(StridedSliceSpec spec, ReadStridedSpec(c));
              const PartialShape& in = c.input_shape(0);
              if (in.unknown_rank()) {
                c.AddOutput(c.input_dtype(0), PartialShape::Unknown());
                return OkStatus();
              }
              ASSIGN_OR_RETURN(StridedPlan p, PlanStridedSlice(spec, in.dims()));
              c.AddOutput(c.input_dtype(0), PartialShape(p.out));
              return OkStatus();
            },
            .grad = [](GradContext& g) -> Status {
              (*g.grads_in)[0] = ops::MakeOp(g.scope, "StridedSliceGrad", "StridedSliceGrad",
                                             {g.grads_out[0], In(g, 0)}, StridedAttrs(*g.node));
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             ASSIGN_OR_RETURN(StridedSliceSpec spec, ReadStridedSpec(c));
             const Tensor& x = c.input(0);
             ASSIGN_OR_RETURN(StridedPlan p, PlanStridedSlice(spec, x.shape().dims()));
             StridedCopy(p, x, c.AllocateOutput(0, TensorShape(p.out)), /*scatter=*/false);
             return OkStatus();
           });
  // (g, x): g placed at the strided slice's positions inside zeros like x.
  DefineOp({.type = "StridedSliceGrad",
            .num_inputs = 2,
            .shape_fn = [](InferenceContext& c) -> Status {
              c.AddOutput(c.input_dtype(0), c.input_shape(1));
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             ASSIGN_OR_RETURN(StridedSliceSpec spec, ReadStridedSpec(c));
             const Tensor& g = c.input(0);
             ASSIGN_OR_RETURN(StridedPlan p, PlanStridedSlice(spec, c.input(1).shape().dims()));
             if (TensorShape(p.out).num_elements() != g.num_elements()) {
               return InvalidArgumentError("StridedSliceGrad: gradient ", g.shape().DebugString(),
                                           " does not match the slice's shape");
             }
             Tensor* out = c.AllocateOutput(0, c.input(1).shape());
             std::memset(out->raw_data(), 0, out->TotalBytes());
             StridedCopy(p, g, out, /*scatter=*/true);
             return OkStatus();
           });
  DefineOp({.type = "OneHot",
            .num_inputs = 1,
            .shape_fn = [](InferenceContext& c) -> Status {
              ASSIGN_OR_RETURN(int64_t depth, c.GetAttr<int64_t>("depth"));
              ASSIGN_OR_RETURN(DType dtype, c.GetAttr<DType>("dtype"));
              if (c.input_dtype(0) != DType::kInt32 && c.input_dtype(0) != DType::kInt64) {
                return InvalidArgumentError("OneHot indices must be int32 or int64");
              }
              if (depth < 0) return InvalidArgumentError("OneHot depth must be >= 0, got ", depth);
              PartialShape s = c.input_shape(0);
              if (!s.unknown_rank()) {
                std::vector<int64_t> dims = s.dims();
                dims.push_back(depth);
                s = PartialShape(dims);
              }
              c.AddOutput(dtype, s);
              return OkStatus();
            },
            .grad = [](GradContext&) { return OkStatus(); }},
           [](OpKernelContext& c) -> Status {
             ASSIGN_OR_RETURN(int64_t depth, c.GetAttr<int64_t>("depth"));
             ASSIGN_OR_RETURN(float on, c.GetAttr<float>("on_value"));
             ASSIGN_OR_RETURN(float off, c.GetAttr<float>("off_value"));
             const Tensor& idx = c.input(0);
             std::vector<int64_t> dims = idx.shape().dims();
             dims.push_back(depth);
             Tensor* out = c.AllocateOutput(0, TensorShape(dims));
             PSFLOW_NUMERIC_DISPATCH(out->dtype(), {
               auto o = out->flat<T>();
               std::fill(o.begin(), o.end(), static_cast<T>(off));
               for (int64_t i = 0; i < idx.num_elements(); ++i) {
                 const int64_t k = idx.dtype() == DType::kInt64 ? idx.flat<int64_t>()[static_cast<size_t>(i)]
                                                                : idx.flat<int32_t>()[static_cast<size_t>(i)];
                 if (k >= 0 && k < depth) o[static_cast<size_t>(i * depth + k)] = static_cast<T>(on);  // others: all off
               }
             });
             return OkStatus();
           });
}

namespace op_util {
StatusOr<ConcatLayout> ConcatLayoutOf(const OpKernelContext& c) {
  ASSIGN_OR_RETURN(int64_t axis, c.GetAttr<int64_t>("axis"));
  const TensorShape& s0 = c.input(0).shape();
  ASSIGN_OR_RETURN(std::vector<int> ax, NormalizeAxes({axis}, s0.rank()));
  const int a = ax[0];
  std::vector<int64_t> dims = s0.dims();
  dims[static_cast<size_t>(a)] = 0;
  ConcatLayout l;
  for (int d = 0; d < a; ++d) l.outer *= s0.dim(d);
  for (int i = 0; i < c.num_inputs(); ++i) {
    const TensorShape& s = c.input(i).shape();
    for (int d = 0; d < s0.rank(); ++d) {
      if (s.rank() != s0.rank() || (d != a && s.dim(d) != s0.dim(d))) {
        return InvalidArgumentError("Concat input ", i, " has shape ", s.DebugString(), ", input 0 ", s0.DebugString());
      }
    }
    dims[static_cast<size_t>(a)] += s.dim(a);
    l.rows.push_back(c.input(i).num_elements() / std::max<int64_t>(1, l.outer));
  }
  l.out = TensorShape(dims);
  return l;
}
StatusOr<StridedPlan> PlanStridedSlice(const op_util::StridedSliceSpec& s, const std::vector<int64_t>& in) {
  const size_t n = s.begin.size();
  if (s.end.size() != n || s.strides.size() != n) {
    return InvalidArgumentError("StridedSlice begin, end and strides must have one length, got ", n, ", ",
                                s.end.size(), " and ", s.strides.size());
  }
  if (n > 62) return InvalidArgumentError("StridedSlice spec has ", n, " entries; at most 62 are supported");
  const auto bit = [](int64_t mask, size_t i) { return ((mask >> i) & 1) != 0; };
  int ellipses = 0;
  size_t real = 0;  // entries that take an input dimension
  for (size_t i = 0; i < n; ++i) {
    if (bit(s.ellipsis_mask, i)) ++ellipses;
    else if (!bit(s.new_axis_mask, i)) ++real;
  }
  if (ellipses > 1) return InvalidArgumentError("StridedSlice spec has ", ellipses, " ellipses; at most one is allowed");
  const size_t rank = in.size();
  if (real > rank) {
    return InvalidArgumentError("StridedSlice spec indexes ", real, " dimensions of a tensor of rank ", rank);
  }
  StridedPlan p;
  p.dims.resize(rank);
  size_t d = 0;
  const auto whole = [&](size_t dim) {
    p.dims[dim] = {0, 1, in[dim]};
    p.out.push_back(in[dim]);
  };
  for (size_t i = 0; i < n; ++i) {
    if (bit(s.ellipsis_mask, i)) {
      for (size_t k = 0; k < rank - real; ++k) whole(d++);
      continue;
    }
    if (bit(s.new_axis_mask, i)) {
      p.out.push_back(1);
      continue;
    }
    const int64_t stride = s.strides[i], size = in[d];
    if (stride == 0) return InvalidArgumentError("StridedSlice stride ", i, " is 0");
    if (bit(s.shrink_axis_mask, i)) {  // x[3]: one index, the dimension dropped
      if (stride < 0) return InvalidArgumentError("StridedSlice indexes dimension ", d, " with a negative stride");
      if (size >= 0) {
        const int64_t at = bit(s.begin_mask, i) ? 0 : (s.begin[i] < 0 ? s.begin[i] + size : s.begin[i]);
        if (at < 0 || at >= size) {
          return InvalidArgumentError("StridedSlice index ", s.begin[i], " is out of range for dimension ", d,
                                      " of size ", size);
        }
        p.dims[d] = {at, 1, 1};
      } else {
        p.dims[d] = {0, 1, 1};
      }
      ++d;
      continue;
    }
    if (size < 0) {
      p.dims[d++] = {0, stride, kUnknownDim};
      p.out.push_back(kUnknownDim);
      continue;
    }
    // Python's slice rules: negatives count from the end, then clamp.
    const int64_t lo = stride > 0 ? 0 : -1, hi = stride > 0 ? size : size - 1;
    const auto at = [&](int64_t v, bool masked, int64_t masked_value) {
      if (masked) return masked_value;
      return std::clamp(v < 0 ? v + size : v, lo, hi);
    };
    const int64_t b = at(s.begin[i], bit(s.begin_mask, i), stride > 0 ? 0 : size - 1);
    const int64_t e = at(s.end[i], bit(s.end_mask, i), stride > 0 ? size : -1);
    const int64_t span = stride > 0 ? e - b : b - e, step = stride > 0 ? stride : -stride;
    const int64_t count = span > 0 ? (span + step - 1) / step : 0;
    p.dims[d++] = {b, stride, count};
    p.out.push_back(count);
  }
  while (d < rank) whole(d++);
  return p;
}

}  // namespace op_util

namespace ops {
Output Transpose(const Scope& s, Output x, std::vector<int64_t> perm, const std::string& name) {
  return MakeOp(s, "Transpose", name, {x}, {{"perm", std::move(perm)}});
}
Output ExpandDims(const Scope& s, Output x, int64_t axis, const std::string& name) {
  return MakeOp(s, "ExpandDims", name, {x}, {{"axis", axis}});
}
Output Squeeze(const Scope& s, Output x, std::vector<int64_t> axes, const std::string& name) {
  return MakeOp(s, "Squeeze", name, {x}, {{"axes", std::move(axes)}});
}
Output Concat(const Scope& s, std::vector<Output> xs, int64_t axis, const std::string& name) {
  return MakeOp(s, "Concat", name, std::move(xs), {{"axis", axis}});
}
Output Slice(const Scope& s, Output x, std::vector<int64_t> begin, std::vector<int64_t> size, const std::string& name) {
  return MakeOp(s, "Slice", name, {x}, {{"begin", std::move(begin)}, {"size", std::move(size)}});
}
Output StridedSlice(const Scope& s, Output x, std::vector<int64_t> begin, std::vector<int64_t> end,
                    std::vector<int64_t> strides, const StridedSliceMasks& masks, const std::string& name) {
  return MakeOp(s, "StridedSlice", name, {x},
                {{"begin", std::move(begin)}, {"end", std::move(end)}, {"strides", std::move(strides)},
                 {"begin_mask", masks.begin}, {"end_mask", masks.end}, {"ellipsis_mask", masks.ellipsis},
                 {"new_axis_mask", masks.new_axis}, {"shrink_axis_mask", masks.shrink_axis}});
}
Output OneHot(const Scope& s, Output indices, int64_t depth, float on_value, float off_value, DType dtype,
              const std::string& name) {
  return MakeOp(s, "OneHot", name, {indices},
                {{"depth", depth}, {"on_value", on_value}, {"off_value", off_value}, {"dtype", dtype}});
}
}  // namespace ops
}  // namespace psflow
