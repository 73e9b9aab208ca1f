#include "common/ops/tf_graph.h"

#include <algorithm>
#include <functional>
#include <map>

#include "common/core/logging.h"
#include "common/core/strcat.h"
#include "common/ops/graph_io.h"

namespace psflow::tf_graph {
namespace {

using tensorflow::NodeDef;

constexpr char kOp[] = "_psflow_op";
constexpr char kInputs[] = "_psflow_inputs";
constexpr char kAttrPrefix[] = "_psflow_attr_";
constexpr char kAdded[] = "_psflow_added";
constexpr char kHelper[] = "_psflow_helper";

std::string TensorName(const Output& o) {
  return o.index == 0 ? o.node->name() : StrCat(o.node->name(), ":", o.index);
}

tensorflow::AttrValue& Attr(NodeDef* d, const std::string& k) { return (*d->mutable_attr())[k]; }
void SetType(NodeDef* d, const std::string& k, DType t) { Attr(d, k).set_type(static_cast<tensorflow::DataType>(t)); }
void SetInt(NodeDef* d, const std::string& k, int64_t v) { Attr(d, k).set_i(v); }
void SetBool(NodeDef* d, const std::string& k, bool v) { Attr(d, k).set_b(v); }
void SetString(NodeDef* d, const std::string& k, const std::string& v) { Attr(d, k).set_s(v); }
void SetTypes(NodeDef* d, const std::string& k, const std::vector<DType>& v) {
  auto* l = Attr(d, k).mutable_list();
  for (DType t : v) l->add_type(static_cast<tensorflow::DataType>(t));
}
void SetInts(NodeDef* d, const std::string& k, const std::vector<int64_t>& v) {
  auto* l = Attr(d, k).mutable_list();
  for (int64_t x : v) l->add_i(x);
}

// psflow's own form of n: its op, inputs (control inputs last) and attributes.
NodeDef OwnForm(const Node& n) {
  NodeDef d;
  d.set_name(n.name());
  d.set_op(n.type());
  d.set_device(n.device());
  for (const Output& in : n.inputs()) d.add_input(TensorName(in));
  for (const Node* c : n.control_inputs()) d.add_input("^" + c->name());
  for (const auto& [k, v] : n.attrs()) (*d.mutable_attr())[k] = AttrValueToProto(v);
  return d;
}

// Writes the TensorFlow nodes of one psflow node.
class Emitter {
 public:
  Emitter(const Node& n, tensorflow::GraphDef* def) : n_(n), def_(def) {}

  const Node& node() const { return n_; }
  int num_inputs() const { return static_cast<int>(n_.inputs().size()); }
  std::string In(int i) const { return TensorName(n_.inputs()[static_cast<size_t>(i)]); }
  DType InType(int i) const { return n_.inputs()[static_cast<size_t>(i)].dtype(); }
  const PartialShape& InShape(int i) const { return n_.inputs()[static_cast<size_t>(i)].shape(); }
  DType OutType(int i = 0) const { return n_.output_dtype(i); }
  // An attribute of n; a missing or mistyped one gives T{} and makes the
  // whole form fail (status()), so the node is written in psflow's form.
  template <typename T>
  T Get(const std::string& attr) {
    auto v = n_.GetAttr<T>(attr);
    if (v.ok()) return *v;
    if (status_.ok()) status_ = v.status().WithContext("node ", n_.name(), " (", n_.type(), ")");
    return T{};
  }
  const Status& status() const { return status_; }

  // The node that keeps n's name, with n's control inputs.
  NodeDef* Main(const std::string& op, const std::vector<std::string>& inputs) {
    main_ = Add(n_.name(), op, inputs);
    for (const Node* c : n_.control_inputs()) main_->add_input("^" + c->name());
    return main_;
  }
  // Main with n's inputs and attributes (the op TensorFlow has under that name).
  NodeDef* Same(const std::string& op = "") {
    std::vector<std::string> ins;
    for (int i = 0; i < num_inputs(); ++i) ins.push_back(In(i));
    NodeDef* d = Main(op.empty() ? n_.type() : op, ins);
    CopyAttrs(d);
    return d;
  }
  // n's own attributes onto d.
  void CopyAttrs(NodeDef* d) const {
    for (const auto& [k, v] : n_.attrs()) (*d->mutable_attr())[k] = AttrValueToProto(v);
  }
  // A helper node n/_tf/<suffix>.
  NodeDef* Helper(const std::string& suffix, const std::string& op, const std::vector<std::string>& inputs) {
    NodeDef* d = Add(StrCat(n_.name(), "/_tf/", suffix), op, inputs);
    SetBool(d, kHelper, true);
    return d;
  }
  std::string Const(const std::string& suffix, const Tensor& t) {
    NodeDef* d = Helper(suffix, "Const", {});
    *Attr(d, "value").mutable_tensor() = TensorToProto(t);
    SetType(d, "dtype", t.dtype());
    return d->name();
  }
  std::string Int32s(const std::string& suffix, const std::vector<int64_t>& v) {
    std::vector<int32_t> w(v.begin(), v.end());
    return Const(suffix, Tensor::FromVector<int32_t>(w, TensorShape({static_cast<int64_t>(w.size())})));
  }
  std::string Int32(const std::string& suffix, int64_t v) {
    return Const(suffix, Tensor::Scalar<int32_t>(static_cast<int32_t>(v)));
  }
  // A scalar of a floating-point dtype.
  std::string Scalar(const std::string& suffix, DType t, double v) {
    if (t == DType::kDouble) return Const(suffix, Tensor::Scalar<double>(v));
    if (t == DType::kFloat) return Const(suffix, Tensor::Scalar<float>(static_cast<float>(v)));
    // half / bfloat16: a float constant cast to t.
    NodeDef* c = Helper(suffix, "Cast", {Const(suffix + "_float", Tensor::Scalar<float>(static_cast<float>(v)))});
    SetType(c, "SrcT", DType::kFloat);
    SetType(c, "DstT", t);
    return c->name();
  }
  // Shape (int32, or out) of the tensor `in` of dtype t.
  std::string ShapeOf(const std::string& suffix, const std::string& in, DType t, DType out = DType::kInt32) {
    NodeDef* d = Helper(suffix, "Shape", {in});
    SetType(d, "T", t);
    SetType(d, "out_type", out);
    return d->name();
  }
  // Dimension `axis` (>= 0) of `in`'s shape as an int32 scalar.
  std::string DimOf(const std::string& suffix, const std::string& in, DType t, int64_t axis) {
    NodeDef* slice = Helper(suffix + "_slice", "Slice",
                            {ShapeOf(suffix + "_shape", in, t), Int32s(suffix + "_begin", {axis}),
                             Int32s(suffix + "_size", {1})});
    SetType(slice, "T", DType::kInt32);
    SetType(slice, "Index", DType::kInt32);
    NodeDef* d = Helper(suffix, "Reshape", {slice->name(), Int32s(suffix + "_scalar", {})});
    SetType(d, "T", DType::kInt32);
    SetType(d, "Tshape", DType::kInt32);
    return d->name();
  }
  // A helper op of one float dtype `T`.
  std::string Op(const std::string& suffix, const std::string& op, const std::vector<std::string>& inputs, DType t) {
    NodeDef* d = Helper(suffix, op, inputs);
    SetType(d, "T", t);
    return d->name();
  }

  NodeDef* main() const { return main_; }

 private:
  NodeDef* Add(const std::string& name, const std::string& op, const std::vector<std::string>& inputs) {
    NodeDef* d = def_->add_node();
    d->set_name(name);
    d->set_op(op);
    d->set_device(n_.device());
    for (const std::string& in : inputs) d->add_input(in);
    return d;
  }

  const Node& n_;
  tensorflow::GraphDef* def_;
  NodeDef* main_ = nullptr;
  Status status_;
};

using Rule = std::function<Status(Emitter&)>;

// Axes of a reduction as TensorFlow lists them: psflow's empty list is
// every axis (TensorFlow's empty list reduces none).
StatusOr<std::vector<int64_t>> ReductionAxes(const Emitter& e, const std::vector<int64_t>& axes,
                                             const PartialShape& x) {
  if (!axes.empty()) return axes;
  if (x.unknown_rank()) {
    return UnimplementedError("node ", e.node().name(), " reduces every axis of a tensor of unknown rank, which ",
                              "has no TensorFlow form here; give the axes");
  }
  std::vector<int64_t> all;
  for (int64_t i = 0; i < x.rank(); ++i) all.push_back(i);
  return all;
}

Status Reduction(Emitter& e) {
  ASSIGN_OR_RETURN(auto axes, ReductionAxes(e, e.Get<std::vector<int64_t>>("axes"), e.InShape(0)));
  NodeDef* d = e.Main(e.node().type(), {e.In(0), e.Int32s("reduction_indices", axes)});
  SetType(d, "T", e.InType(0));
  SetType(d, "Tidx", DType::kInt32);
  SetBool(d, "keep_dims", e.Get<bool>("keep_dims"));
  return OkStatus();
}

// The gradient of Sum / Mean: g (reduced over `axes` of like) broadcast back
// to like's shape, divided by the count of reduced elements for a mean.
Status ReductionGradRule(Emitter& e) {
  const PartialShape& like = e.InShape(1);
  if (like.unknown_rank()) {
    return UnimplementedError("node ", e.node().name(), ": a reduction gradient over a tensor of unknown rank ",
                              "has no TensorFlow form here");
  }
  ASSIGN_OR_RETURN(auto axes, ReductionAxes(e, e.Get<std::vector<int64_t>>("axes"), like));
  const int64_t rank = like.rank();
  std::vector<int64_t> keep(static_cast<size_t>(rank), 1), ones(static_cast<size_t>(rank), 0);
  for (int64_t a : axes) {
    const int64_t k = a < 0 ? a + rank : a;
    if (k < 0 || k >= rank) return InvalidArgumentError("node ", e.node().name(), ": axis ", a, " out of range");
    keep[static_cast<size_t>(k)] = 0;
    ones[static_cast<size_t>(k)] = 1;
  }
  const DType t = e.InType(0);
  const std::string like_shape = e.ShapeOf("like_shape", e.In(1), e.InType(1));
  // like's shape with the reduced axes set to 1.
  const std::string kept = e.Op("kept_shape", "Add",
                                {e.Op("kept_dims", "Mul", {like_shape, e.Int32s("keep", keep)}, DType::kInt32),
                                 e.Int32s("ones", ones)},
                                DType::kInt32);
  NodeDef* r = e.Helper("reshaped", "Reshape", {e.In(0), kept});
  SetType(r, "T", t);
  SetType(r, "Tshape", DType::kInt32);
  const bool mean = e.Get<bool>("mean");
  NodeDef* b = mean ? e.Helper("broadcast", "BroadcastTo", {r->name(), like_shape})
                    : e.Main("BroadcastTo", {r->name(), like_shape});
  SetType(b, "T", t);
  SetType(b, "Tidx", DType::kInt32);
  if (!mean) return OkStatus();
  auto size = [&](const std::string& suffix, const std::string& in, DType dt) {
    NodeDef* s = e.Helper(suffix, "Size", {in});
    SetType(s, "T", dt);
    SetType(s, "out_type", DType::kInt32);
    return s->name();
  };
  const std::string count = e.Op(
      "count", "FloorDiv",
      {size("like_size", e.In(1), e.InType(1)),
       e.Op("grad_size", "Maximum", {size("grad_size_raw", e.In(0), t), e.Int32("one", 1)}, DType::kInt32)},
      DType::kInt32);
  NodeDef* c = e.Helper("count_float", "Cast", {count});
  SetType(c, "SrcT", DType::kInt32);
  SetType(c, "DstT", t);
  SetType(e.Main("RealDiv", {b->name(), c->name()}), "T", t);
  return OkStatus();
}

// x summed over the axes it was broadcast along, to like's shape (the
// gradient of a broadcasting binary op), as TensorFlow's gradients do it.
Status SumToShapeOfRule(Emitter& e) {
  const DType t = e.InType(0);
  const std::string sx = e.ShapeOf("x_shape", e.In(0), t);
  const std::string sl = e.ShapeOf("like_shape", e.In(1), e.InType(1));
  const std::string args = e.Op("BroadcastGradientArgs", "BroadcastGradientArgs", {sx, sl}, DType::kInt32);
  NodeDef* sum = e.Helper("Sum", "Sum", {e.In(0), args + ":1"});
  SetType(sum, "T", t);
  SetType(sum, "Tidx", DType::kInt32);
  SetBool(sum, "keep_dims", false);
  NodeDef* d = e.Main("Reshape", {sum->name(), sl});
  SetType(d, "T", t);
  SetType(d, "Tshape", DType::kInt32);
  return OkStatus();
}

// Dropout's mask: 1/keep where a uniform draw is at least the rate, else 0.
Status DropoutMaskRule(Emitter& e) {
  const DType t = e.InType(0);
  const double rate = e.Get<float>("rate");
  NodeDef* u = e.Helper("uniform", "RandomUniform", {e.ShapeOf("shape", e.In(0), t)});
  SetType(u, "T", DType::kInt32);
  SetType(u, "dtype", t);
  SetInt(u, "seed", e.Get<int64_t>("seed"));
  SetInt(u, "seed2", e.Get<int64_t>("seed2"));
  const std::string kept = e.Op("kept", "GreaterEqual", {u->name(), e.Scalar("rate", t, rate)}, t);
  NodeDef* c = e.Helper("kept_float", "Cast", {kept});
  SetType(c, "SrcT", DType::kBool);
  SetType(c, "DstT", t);
  SetType(e.Main("Mul", {c->name(), e.Scalar("scale", t, 1.0 / (1.0 - rate))}), "T", t);
  return OkStatus();
}

// max(x, 0) - x * z + log(1 + exp(-|x|)) for labels z and logits x.
Status SigmoidCrossEntropyRule(Emitter& e) {
  const DType t = e.InType(1);
  const std::string z = e.In(0), x = e.In(1);
  const std::string relu = e.Op("relu", "Relu", {x}, t);
  const std::string linear = e.Op("sub", "Sub", {relu, e.Op("mul", "Mul", {x, z}, t)}, t);
  const std::string soft = e.Op(
      "log1p", "Log1p", {e.Op("exp", "Exp", {e.Op("neg", "Neg", {e.Op("abs", "Abs", {x}, t)}, t)}, t)}, t);
  SetType(e.Main("Add", {linear, soft}), "T", t);
  return OkStatus();
}

// Dense ids -> (indices [n, 2], values [n], dense_shape [2]) as three
// outputs of one IdentityN: Where over the ids that are not missing,
// GatherNd of them, the ids' shape.
Status DenseToSparseRule(Emitter& e) {
  const PartialShape& shape = e.InShape(0);
  if (shape.unknown_rank() || shape.rank() < 1 || shape.rank() > 2) {
    return UnimplementedError("node ", e.node().name(), ": ids of shape ", shape.DebugString(),
                              " have no TensorFlow form here (rank 1 or 2)");
  }
  const DType t = e.InType(0);
  const bool str = t == DType::kString;
  std::string x = e.In(0);
  if (shape.rank() == 1) {
    NodeDef* r = e.Helper("ids", "Reshape", {x, e.Int32s("ids_shape", {-1, 1})});
    SetType(r, "T", t);
    SetType(r, "Tshape", DType::kInt32);
    x = r->name();
  }
  std::string mask;
  if (e.Get<bool>("drop_missing")) {
    const std::string missing = str ? e.Const("missing", Tensor::Scalar<std::string>(""))
                                    : t == DType::kInt32 ? e.Const("missing", Tensor::Scalar<int32_t>(-1))
                                                         : e.Const("missing", Tensor::Scalar<int64_t>(-1));
    NodeDef* ne = e.Helper("present", "NotEqual", {x, missing});
    SetType(ne, "T", t);
    mask = ne->name();
  } else {
    NodeDef* f = e.Helper("present", "Fill", {e.ShapeOf("ids_dims", x, t), e.Const("true", Tensor::Scalar<bool>(true))});
    SetType(f, "T", DType::kBool);
    SetType(f, "index_type", DType::kInt32);
    mask = f->name();
  }
  NodeDef* where = e.Helper("indices", "Where", {mask});
  SetType(where, "T", DType::kBool);
  NodeDef* gather = e.Helper("gathered", "GatherNd", {x, where->name()});
  SetType(gather, "Tparams", t);
  SetType(gather, "Tindices", DType::kInt64);
  std::string values = gather->name();
  if (t == DType::kInt32) {
    NodeDef* c = e.Helper("values64", "Cast", {values});
    SetType(c, "SrcT", DType::kInt32);
    SetType(c, "DstT", DType::kInt64);
    values = c->name();
  }
  const int64_t offset = e.Get<int64_t>("column_offset");
  if (offset != 0 && !str) {
    NodeDef* col = e.Helper("column", "Slice", {where->name(), e.Int32s("column_begin", {0, 1}),
                                                e.Int32s("column_size", {-1, 1})});
    SetType(col, "T", DType::kInt64);
    SetType(col, "Index", DType::kInt32);
    NodeDef* flat = e.Helper("column_flat", "Reshape", {col->name(), e.Int32s("column_flat_shape", {-1})});
    SetType(flat, "T", DType::kInt64);
    SetType(flat, "Tshape", DType::kInt32);
    const std::string shift =
        e.Op("shift", "Mul", {flat->name(), e.Const("offset", Tensor::Scalar<int64_t>(offset))}, DType::kInt64);
    values = e.Op("shifted", "Add", {values, shift}, DType::kInt64);
  }
  NodeDef* d = e.Main("IdentityN", {where->name(), values, e.ShapeOf("dense_shape", x, t, DType::kInt64)});
  SetTypes(d, "T", {DType::kInt64, str ? DType::kString : DType::kInt64, DType::kInt64});
  return OkStatus();
}

// psflow: indices..., values..., shapes... of n features.
Status SparseCrossRule(Emitter& e) {
  const int n = e.num_inputs() / 3;
  std::vector<std::string> ins;
  std::vector<DType> types;
  for (int i = 0; i < 3 * n; ++i) ins.push_back(e.In(i));
  for (int i = 0; i < n; ++i) types.push_back(e.InType(n + i));
  NodeDef* d = e.Main("SparseCross", ins);
  SetInt(d, "N", n);
  SetBool(d, "hashed_output", true);
  SetInt(d, "num_buckets", e.Get<int64_t>("num_buckets"));
  SetInt(d, "hash_key", e.Get<int64_t>("hash_key"));
  SetTypes(d, "sparse_types", types);
  SetTypes(d, "dense_types", {});
  SetType(d, "out_type", DType::kInt64);
  SetType(d, "internal_type", DType::kInt64);
  return OkStatus();
}

Status SparseSegmentRule(Emitter& e) {
  NodeDef* d = e.Same();
  SetType(d, "T", e.InType(0));
  SetType(d, "Tidx", e.InType(1));
  SetType(d, "Tsegmentids", e.InType(2));
  if (e.num_inputs() == 4) SetType(d, "Tnumsegments", e.InType(3));
  return OkStatus();
}

// StridedSlice(x) with the spec as attributes -> TensorFlow's
// StridedSlice(x, begin, end, strides); the gradient -> StridedSliceGrad(
// shape of x, begin, end, strides, dy).  Index is int32 unless a bound needs
// int64.
Status StridedSliceRule(Emitter& e) {
  const bool grad = e.node().type() == "StridedSliceGrad";
  const char* keys[] = {"begin", "end", "strides"};
  std::vector<std::vector<int64_t>> spec;
  bool wide = false;
  for (const char* k : keys) {
    spec.push_back(e.Get<std::vector<int64_t>>(k));
    for (int64_t v : spec.back()) wide |= v != static_cast<int32_t>(v);
  }
  const DType index = wide ? DType::kInt64 : DType::kInt32;
  std::vector<std::string> bounds;
  for (size_t i = 0; i < spec.size(); ++i) {
    const auto& v = spec[i];
    bounds.push_back(wide ? e.Const(keys[i], Tensor::FromVector<int64_t>(v, TensorShape({static_cast<int64_t>(v.size())})))
                          : e.Int32s(keys[i], v));
  }
  NodeDef* d = grad ? e.Main("StridedSliceGrad", {e.ShapeOf("shape", e.In(1), e.InType(1), index), bounds[0],
                                                  bounds[1], bounds[2], e.In(0)})
                    : e.Main("StridedSlice", {e.In(0), bounds[0], bounds[1], bounds[2]});
  for (const char* k : {"begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask"}) {
    SetInt(d, k, e.Get<int64_t>(k));
  }
  SetType(d, "T", e.InType(0));
  SetType(d, "Index", index);
  return OkStatus();
}

// (grad [segments, row...], indices, segment_ids, data) -> data's gradient:
// TensorFlow's SparseSegmentMeanGrad / SqrtNGrad, or for a sum the rows of
// grad gathered by segment and summed into data's rows.
Status SparseSegmentGradRule(Emitter& e) {
  const std::string combiner = e.Get<std::string>("combiner");
  const DType t = e.InType(0);
  const std::string rows = e.DimOf("rows", e.In(3), e.InType(3), 0);
  if (combiner == "Mean" || combiner == "SqrtN") {
    NodeDef* d = e.Main(StrCat("SparseSegment", combiner, "Grad"), {e.In(0), e.In(1), e.In(2), rows});
    SetType(d, "T", t);
    SetType(d, "Tidx", e.InType(1));
    SetType(d, "Tsegmentids", e.InType(2));
    return OkStatus();
  }
  if (combiner != "Sum") return UnimplementedError("combiner ", combiner);
  NodeDef* g = e.Helper("per_entry", "GatherV2", {e.In(0), e.In(2), e.Int32("axis", 0)});
  SetType(g, "Tparams", t);
  SetType(g, "Tindices", e.InType(2));
  SetType(g, "Taxis", DType::kInt32);
  SetInt(g, "batch_dims", 0);
  NodeDef* d = e.Main("UnsortedSegmentSum", {g->name(), e.In(1), rows});
  SetType(d, "T", t);
  SetType(d, "Tindices", e.InType(1));
  SetType(d, "Tnumsegments", DType::kInt32);
  return OkStatus();
}

// (g, x_0, ..., x_{n-1}) -> g split along axis into x_i's sizes (SplitV).
Status ConcatGradRule(Emitter& e) {
  const int n = e.num_inputs() - 1;
  int64_t axis = e.Get<int64_t>("axis");
  if (axis < 0) {
    if (e.InShape(0).unknown_rank()) {
      return UnimplementedError("node ", e.node().name(), ": a negative axis over a tensor of unknown rank");
    }
    axis += e.InShape(0).rank();
  }
  std::vector<std::string> sizes;
  for (int i = 0; i < n; ++i) {
    NodeDef* sz = e.Helper(StrCat("size_", i), "Slice", {e.ShapeOf(StrCat("shape_", i), e.In(i + 1), e.InType(i + 1)),
                                                         e.Int32s(StrCat("begin_", i), {axis}),
                                                         e.Int32s(StrCat("one_", i), {1})});
    SetType(sz, "T", DType::kInt32);
    SetType(sz, "Index", DType::kInt32);
    sizes.push_back(sz->name());
  }
  std::string size_splits = sizes.empty() ? "" : sizes[0];
  if (n > 1) {  // ConcatV2 takes at least two values
    sizes.push_back(e.Int32("sizes_axis", 0));
    NodeDef* cat = e.Helper("sizes", "ConcatV2", sizes);
    SetType(cat, "T", DType::kInt32);
    SetInt(cat, "N", n);
    SetType(cat, "Tidx", DType::kInt32);
    size_splits = cat->name();
  }
  NodeDef* d = e.Main("SplitV", {e.In(0), size_splits, e.Int32("axis", axis)});
  SetType(d, "T", e.InType(0));
  SetType(d, "Tlen", DType::kInt32);
  SetInt(d, "num_split", n);
  return OkStatus();
}

// (indices, rows, like) -> zeros like `like` with each row added at its index.
Status ScatterAddLikeRule(Emitter& e) {
  const DType ti = e.InType(0);
  NodeDef* idx = e.Helper("indices", "ExpandDims", {e.In(0), e.Int32("last", -1)});
  SetType(idx, "T", ti);
  SetType(idx, "Tdim", DType::kInt32);
  NodeDef* d = e.Main("ScatterNd", {idx->name(), e.In(1), e.ShapeOf("shape", e.In(2), e.InType(2), ti)});
  SetType(d, "T", e.InType(1));
  SetType(d, "Tindices", ti);
  return OkStatus();
}

// A dense optimizer apply: TensorFlow's input order, psflow's
// hyperparameter attributes as scalar inputs.
//   psflow: var, slots..., lr, grad [, beta1_power, beta2_power]
Status ApplyRule(Emitter& e) {
  const std::string& type = e.node().type();
  const DType t = e.InType(0);
  auto hyper = [&](const char* attr) { return e.Scalar(attr, t, e.Get<float>(attr)); };
  NodeDef* d = nullptr;
  if (type == "ApplyGradientDescent" || type == "ApplyAdagrad") {
    d = e.Same();
    d->mutable_attr()->clear();
  } else if (type == "ApplyMomentum") {
    d = e.Main(type, {e.In(0), e.In(1), e.In(2), e.In(3), hyper("momentum")});
    SetBool(d, "use_nesterov", e.Get<bool>("nesterov"));
  } else if (type == "ApplyRMSProp") {
    d = e.Main(type, {e.In(0), e.In(1), e.In(2), e.In(3), hyper("rho"), hyper("momentum"), hyper("epsilon"), e.In(4)});
  } else if (type == "ApplyFtrl") {
    d = e.Main(type, {e.In(0), e.In(1), e.In(2), e.In(4), e.In(3), hyper("l1"), hyper("l2"), hyper("lr_power")});
  } else if (type == "ApplyAdam") {
    d = e.Main(type, {e.In(0), e.In(1), e.In(2), e.In(5), e.In(6), e.In(3), hyper("beta1"), hyper("beta2"),
                      hyper("epsilon"), e.In(4)});
    SetBool(d, "use_nesterov", false);
  } else {
    return UnimplementedError("no TensorFlow form for ", type);
  }
  SetType(d, "T", t);
  SetBool(d, "use_locking", false);
  return OkStatus();
}

// A sparse apply (IndexedSlices gradient).
//   psflow: var, slots..., lr, grad rows, indices
Status SparseApplyRule(Emitter& e) {
  const std::string& type = e.node().type();
  const DType t = e.InType(0);
  auto hyper = [&](const char* attr) { return e.Scalar(attr, t, e.Get<float>(attr)); };
  NodeDef* d = nullptr;
  DType tindices = DType::kInt64;
  if (type == "SparseApplyGradientDescent") {
    // TensorFlow's sparse SGD: var[indices] -= lr * rows.
    d = e.Main("ScatterSub", {e.In(0), e.In(3), e.Op("scaled", "Mul", {e.In(2), e.In(1)}, t)});
    tindices = e.InType(3);
  } else if (type == "SparseApplyAdagrad") {
    d = e.Same();
    d->mutable_attr()->clear();
    tindices = e.InType(4);
  } else if (type == "SparseApplyMomentum") {
    d = e.Main(type, {e.In(0), e.In(1), e.In(2), e.In(3), e.In(4), hyper("momentum")});
    SetBool(d, "use_nesterov", e.Get<bool>("nesterov"));
    tindices = e.InType(4);
  } else if (type == "SparseApplyRMSProp") {
    d = e.Main(type, {e.In(0), e.In(1), e.In(2), e.In(3), hyper("rho"), hyper("momentum"), hyper("epsilon"),
                      e.In(4), e.In(5)});
    tindices = e.InType(5);
  } else if (type == "SparseApplyFtrl") {
    d = e.Main(type, {e.In(0), e.In(1), e.In(2), e.In(4), e.In(5), e.In(3), hyper("l1"), hyper("l2"),
                      hyper("lr_power")});
    tindices = e.InType(5);
  } else {
    return UnimplementedError("no TensorFlow form for ", type);
  }
  SetType(d, "T", t);
  SetType(d, "Tindices", tindices);
  SetBool(d, "use_locking", false);
  return OkStatus();
}

// Ops TensorFlow has under psflow's name with psflow's inputs, given their
// type attribute `T` (from input `from`).
Rule WithT(int from = 0, std::vector<std::pair<std::string, std::string>> strings = {}) {
  return [from, strings](Emitter& e) {
    NodeDef* d = e.Same();
    SetType(d, "T", e.InType(from));
    for (const auto& [k, v] : strings) SetString(d, k, v);
    return OkStatus();
  };
}

const std::map<std::string, Rule>& Rules() {
  static const auto* rules = [] {
    auto* r = new std::map<std::string, Rule>;
    for (const char* op :
         {"Add", "Sub", "Mul", "RealDiv", "Maximum", "Minimum", "Pow", "Neg", "Square", "Sqrt", "Rsqrt", "Exp", "Log",
          "Abs", "Log1p", "Relu", "Relu6", "Elu", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Identity",
          "StopGradient", "ZerosLike", "OnesLike", "ReluGrad", "Relu6Grad", "EluGrad", "SigmoidGrad", "TanhGrad",
          "SqrtGrad", "RsqrtGrad", "L2Loss", "Equal", "Less", "Greater", "GreaterEqual", "LessEqual", "NotEqual",
          "SoftmaxCrossEntropyWithLogits", "MatMul", "Assign", "AssignAdd", "AssignSub", "AsString", "Bucketize"}) {
      (*r)[op] = WithT();
    }
    (*r)["Const"] = (*r)["Placeholder"] = (*r)["VariableV2"] = (*r)["NoOp"] = [](Emitter& e) {
      e.Same();
      return OkStatus();
    };
    (*r)["StringToHashBucketFast"] = (*r)["Const"];
    (*r)["Unique"] = [](Emitter& e) {
      NodeDef* d = e.Same();
      SetType(d, "T", e.InType(0));
      SetType(d, "out_idx", e.OutType(1));
      return OkStatus();
    };
    (*r)["BiasAdd"] = WithT(0, {{"data_format", "NHWC"}});
    (*r)["IsVariableInitialized"] = [](Emitter& e) {
      SetType(e.Same(), "dtype", e.InType(0));
      return OkStatus();
    };
    (*r)["MaxPool"] = (*r)["MaxPoolGrad"] = (*r)["AvgPool"] = (*r)["Conv2D"] = WithT(0, {{"data_format", "NHWC"}});
    // psflow's convolution gradients take the tensors; TensorFlow's their shapes.
    (*r)["Conv2DBackpropInput"] = [](Emitter& e) {
      NodeDef* d = e.Main("Conv2DBackpropInput", {e.ShapeOf("input_sizes", e.In(0), e.InType(0)), e.In(1), e.In(2)});
      e.CopyAttrs(d);
      SetType(d, "T", e.InType(1));
      SetString(d, "data_format", "NHWC");
      return OkStatus();
    };
    (*r)["Conv2DBackpropFilter"] = [](Emitter& e) {
      NodeDef* d = e.Main("Conv2DBackpropFilter", {e.In(0), e.ShapeOf("filter_sizes", e.In(1), e.InType(1)), e.In(2)});
      e.CopyAttrs(d);
      SetType(d, "T", e.InType(0));
      SetString(d, "data_format", "NHWC");
      return OkStatus();
    };
    (*r)["AddN"] = [](Emitter& e) {
      NodeDef* d = e.Same();
      SetType(d, "T", e.InType(0));
      SetInt(d, "N", e.num_inputs());
      return OkStatus();
    };
    (*r)["Cast"] = [](Emitter& e) {
      NodeDef* d = e.Same();
      SetType(d, "SrcT", e.InType(0));
      return OkStatus();
    };
    (*r)["SparseSoftmaxCrossEntropyWithLogits"] = [](Emitter& e) {
      NodeDef* d = e.Same();
      SetType(d, "T", e.InType(0));
      SetType(d, "Tlabels", e.InType(1));
      return OkStatus();
    };
    (*r)["Sum"] = (*r)["Mean"] = (*r)["Max"] = Reduction;
    (*r)["ArgMax"] = [](Emitter& e) {
      NodeDef* d = e.Main("ArgMax", {e.In(0), e.Int32("dimension", e.Get<int64_t>("axis"))});
      SetType(d, "T", e.InType(0));
      SetType(d, "Tidx", DType::kInt32);
      SetType(d, "output_type", e.OutType());
      return OkStatus();
    };
    (*r)["Reshape"] = [](Emitter& e) {
      NodeDef* d = e.Main("Reshape", {e.In(0), e.Int32s("shape", e.Get<std::vector<int64_t>>("shape"))});
      SetType(d, "T", e.InType(0));
      SetType(d, "Tshape", DType::kInt32);
      return OkStatus();
    };
    (*r)["Fill"] = [](Emitter& e) {
      const DType t = e.Get<DType>("dtype");
      const double v = e.Get<float>("value");
      std::string value;
      switch (t) {
        case DType::kInt32: value = e.Const("value", Tensor::Scalar<int32_t>(static_cast<int32_t>(v))); break;
        case DType::kInt64: value = e.Const("value", Tensor::Scalar<int64_t>(static_cast<int64_t>(v))); break;
        case DType::kBool: value = e.Const("value", Tensor::Scalar<bool>(v != 0)); break;
        default: value = e.Scalar("value", t, v);
      }
      NodeDef* d = e.Main("Fill", {e.Int32s("dims", e.Get<std::vector<int64_t>>("shape")), value});
      SetType(d, "T", t);
      SetType(d, "index_type", DType::kInt32);
      return OkStatus();
    };
    (*r)["RandomUniform"] = (*r)["RandomStandardNormal"] = (*r)["TruncatedNormal"] = [](Emitter& e) {
      NodeDef* d = e.Main(e.node().type(), {e.Int32s("shape", e.Get<std::vector<int64_t>>("shape"))});
      SetType(d, "T", DType::kInt32);
      SetType(d, "dtype", e.Get<DType>("dtype"));
      SetInt(d, "seed", e.Get<int64_t>("seed"));
      SetInt(d, "seed2", e.Get<int64_t>("seed2"));
      return OkStatus();
    };
    (*r)["Transpose"] = [](Emitter& e) {
      NodeDef* d = e.Main("Transpose", {e.In(0), e.Int32s("perm", e.Get<std::vector<int64_t>>("perm"))});
      SetType(d, "T", e.InType(0));
      SetType(d, "Tperm", DType::kInt32);
      return OkStatus();
    };
    (*r)["ExpandDims"] = [](Emitter& e) {
      NodeDef* d = e.Main("ExpandDims", {e.In(0), e.Int32("dim", e.Get<int64_t>("axis"))});
      SetType(d, "T", e.InType(0));
      SetType(d, "Tdim", DType::kInt32);
      return OkStatus();
    };
    (*r)["Squeeze"] = [](Emitter& e) {
      NodeDef* d = e.Main("Squeeze", {e.In(0)});
      SetType(d, "T", e.InType(0));
      SetInts(d, "squeeze_dims", e.Get<std::vector<int64_t>>("axes"));
      return OkStatus();
    };
    (*r)["Concat"] = [](Emitter& e) {
      if (e.num_inputs() == 1) {  // TensorFlow's ConcatV2 takes at least two values
        SetType(e.Main("Identity", {e.In(0)}), "T", e.InType(0));
        return OkStatus();
      }
      std::vector<std::string> ins;
      for (int i = 0; i < e.num_inputs(); ++i) ins.push_back(e.In(i));
      ins.push_back(e.Int32("axis", e.Get<int64_t>("axis")));
      NodeDef* d = e.Main("ConcatV2", ins);
      SetType(d, "T", e.InType(0));
      SetInt(d, "N", e.num_inputs());
      SetType(d, "Tidx", DType::kInt32);
      return OkStatus();
    };
    (*r)["Slice"] = [](Emitter& e) {
      NodeDef* d = e.Main("Slice", {e.In(0), e.Int32s("begin", e.Get<std::vector<int64_t>>("begin")),
                                    e.Int32s("size", e.Get<std::vector<int64_t>>("size"))});
      SetType(d, "T", e.InType(0));
      SetType(d, "Index", DType::kInt32);
      return OkStatus();
    };
    (*r)["Gather"] = [](Emitter& e) {
      NodeDef* d = e.Main("GatherV2", {e.In(0), e.In(1), e.Int32("axis", 0)});
      SetType(d, "Tparams", e.InType(0));
      SetType(d, "Tindices", e.InType(1));
      SetType(d, "Taxis", DType::kInt32);
      SetInt(d, "batch_dims", 0);
      return OkStatus();
    };
    (*r)["ReshapeLike"] = [](Emitter& e) {
      NodeDef* d = e.Main("Reshape", {e.In(0), e.ShapeOf("shape", e.In(1), e.InType(1))});
      SetType(d, "T", e.InType(0));
      SetType(d, "Tshape", DType::kInt32);
      return OkStatus();
    };
    (*r)["BroadcastLike"] = [](Emitter& e) {
      NodeDef* d = e.Main("BroadcastTo", {e.In(0), e.ShapeOf("shape", e.In(1), e.InType(1))});
      SetType(d, "T", e.InType(0));
      SetType(d, "Tidx", DType::kInt32);
      return OkStatus();
    };
    (*r)["SumToShapeOf"] = SumToShapeOfRule;
    (*r)["DenseToSparse"] = DenseToSparseRule;
    (*r)["SparseCrossHashed"] = SparseCrossRule;
    for (const char* op : {"SparseSegmentSumWithNumSegments", "SparseSegmentMeanWithNumSegments",
                           "SparseSegmentSqrtNWithNumSegments", "SparseSegmentSum", "SparseSegmentMean",
                           "SparseSegmentSqrtN"}) {
      (*r)[op] = SparseSegmentRule;
    }
    (*r)["StridedSlice"] = StridedSliceRule;
    (*r)["StridedSliceGrad"] = StridedSliceRule;
    (*r)["SparseSegmentReduceGrad"] = SparseSegmentGradRule;
    (*r)["ConcatGrad"] = ConcatGradRule;
    (*r)["ScatterAddLike"] = ScatterAddLikeRule;
    (*r)["ReductionGrad"] = ReductionGradRule;
    (*r)["DropoutMask"] = DropoutMaskRule;
    (*r)["SigmoidCrossEntropyWithLogits"] = SigmoidCrossEntropyRule;
    for (const char* op : {"ApplyGradientDescent", "ApplyMomentum", "ApplyAdagrad", "ApplyRMSProp", "ApplyFtrl",
                           "ApplyAdam"}) {
      (*r)[op] = ApplyRule;
    }
    for (const char* op : {"SparseApplyGradientDescent", "SparseApplyMomentum", "SparseApplyAdagrad",
                           "SparseApplyRMSProp", "SparseApplyFtrl"}) {
      (*r)[op] = SparseApplyRule;
    }
    return r;
  }();
  return *rules;
}

bool SameAttr(const tensorflow::AttrValue& a, const tensorflow::AttrValue& b) {
  return a.SerializeAsString() == b.SerializeAsString();
}

// Records psflow's form on the node that keeps n's name: nothing when the
// TensorFlow node is psflow's plus attributes (those are listed), the whole
// psflow node otherwise.
void Mark(const NodeDef& own, NodeDef* d) {
  bool same = d->op() == own.op() && d->input_size() == own.input_size();
  for (int i = 0; same && i < own.input_size(); ++i) same = d->input(i) == own.input(i);
  for (const auto& [k, v] : own.attr()) {
    auto it = d->attr().find(k);
    if (it == d->attr().end() || !SameAttr(it->second, v)) same = false;
  }
  if (same) {
    std::vector<std::string> added;
    for (const auto& [k, v] : d->attr()) {
      if (!own.attr().contains(k) && !k.starts_with("_")) added.push_back(k);
    }
    std::sort(added.begin(), added.end());
    if (!added.empty()) {
      auto* l = Attr(d, kAdded).mutable_list();
      for (const std::string& k : added) l->add_s(k);
    }
    return;
  }
  SetString(d, kOp, own.op());
  auto* l = Attr(d, kInputs).mutable_list();
  for (const std::string& in : own.input()) l->add_s(in);
  for (const auto& [k, v] : own.attr()) (*d->mutable_attr())[kAttrPrefix + k] = v;
}

void SetOutputShapes(const Node& n, NodeDef* d) {
  auto* l = Attr(d, "_output_shapes").mutable_list();
  for (int i = 0; i < n.num_outputs(); ++i) *l->add_shape() = ShapeToProto(n.output_shape(i));
}

}  // namespace

Status AppendNode(const Node& n, tensorflow::GraphDef* def) {
  const NodeDef own = OwnForm(n);
  auto it = Rules().find(n.type());
  if (it == Rules().end()) {
    *def->add_node() = own;
    SetOutputShapes(n, def->mutable_node(def->node_size() - 1));
    return OkStatus();
  }
  const int first = def->node_size();
  Emitter e(n, def);
  Status s = it->second(e);
  if (s.ok()) s = e.status();
  if (!s.ok() || e.main() == nullptr) {
    // Keep the graph whole: psflow's form, which psflow reads back.
    def->mutable_node()->DeleteSubrange(first, def->node_size() - first);
    *def->add_node() = own;
    SetOutputShapes(n, def->mutable_node(def->node_size() - 1));
    return s.ok() ? InternalError("the TensorFlow form of ", n.name(), " has no main node") : s;
  }
  Mark(own, e.main());
  SetOutputShapes(n, e.main());
  return OkStatus();
}

void AppendConst(const std::string& name, const Tensor& value, const std::string& device, tensorflow::GraphDef* def) {
  NodeDef* c = def->add_node();
  c->set_name(name);
  c->set_op("Const");
  c->set_device(device);
  *Attr(c, "value").mutable_tensor() = TensorToProto(value);
  SetType(c, "dtype", value.dtype());
  *Attr(c, "_output_shapes").mutable_list()->add_shape() = ShapeToProto(value.shape());
}

void AppendSaver(const std::map<std::string, const Variable*>& vars, tensorflow::SaverDef* saver,
                 tensorflow::GraphDef* def) {
  auto add = [&](const std::string& name, const std::string& op, const std::vector<std::string>& inputs) {
    NodeDef* d = def->add_node();
    d->set_name(name);
    d->set_op(op);
    for (const std::string& in : inputs) d->add_input(in);
    SetBool(d, kHelper, true);
    return d;
  };
  auto strings = [&](const std::string& name, const std::vector<std::string>& v) {
    Tensor t(DType::kString, TensorShape({static_cast<int64_t>(v.size())}));
    for (size_t i = 0; i < v.size(); ++i) t.flat<std::string>()[i] = v[i];
    NodeDef* d = add(name, "Const", {});
    *Attr(d, "value").mutable_tensor() = TensorToProto(t);
    SetType(d, "dtype", DType::kString);
    return name;
  };
  // Variables with a static shape (a dynamic table's rows are saved under
  // other keys: not in TensorFlow's Saver).
  std::vector<const Variable*> saved;  // in key order (the map's)
  std::vector<std::string> names, slices;
  for (const auto& [key, v] : vars) {
    if (!v->shape.IsFullyDefined()) continue;
    saved.push_back(v);
    names.push_back(key);
    slices.emplace_back();
  }
  NodeDef* fname = add("save/filename", "Const", {});
  *Attr(fname, "value").mutable_tensor() = TensorToProto(Tensor::Scalar<std::string>("model"));
  SetType(fname, "dtype", DType::kString);
  NodeDef* prefix = add("save/Const", "PlaceholderWithDefault", {"save/filename"});
  SetType(prefix, "dtype", DType::kString);
  Attr(prefix, "shape").mutable_shape();  // a scalar
  std::vector<std::string> save_inputs = {"save/Const", strings("save/SaveV2/tensor_names", names),
                                          strings("save/SaveV2/shape_and_slices", slices)};
  for (const Variable* v : saved) save_inputs.push_back(v->ref.node->name());
  NodeDef* save = add("save/SaveV2", "SaveV2", save_inputs);
  auto* dtypes = Attr(save, "dtypes").mutable_list();
  for (const Variable* v : saved) dtypes->add_type(static_cast<tensorflow::DataType>(v->dtype));
  NodeDef* done = add("save/control_dependency", "Identity", {"save/Const", "^save/SaveV2"});
  SetType(done, "T", DType::kString);
  NodeDef* restore = add("save/RestoreV2", "RestoreV2",
                         {"save/Const", strings("save/RestoreV2/tensor_names", names),
                          strings("save/RestoreV2/shape_and_slices", slices)});
  *Attr(restore, "dtypes").mutable_list() = Attr(save, "dtypes").list();
  std::vector<std::string> assigns;
  for (size_t i = 0; i < saved.size(); ++i) {
    const std::string name = i == 0 ? "save/Assign" : StrCat("save/Assign_", i);
    NodeDef* a = add(name, "Assign",
                     {saved[i]->ref.node->name(), i == 0 ? "save/RestoreV2" : StrCat("save/RestoreV2:", i)});
    SetType(a, "T", saved[i]->dtype);
    SetBool(a, "validate_shape", true);
    SetBool(a, "use_locking", true);
    assigns.push_back("^" + name);
  }
  add("save/restore_all", "NoOp", assigns);
  saver->set_filename_tensor_name("save/Const:0");
  saver->set_save_tensor_name("save/control_dependency:0");
  saver->set_restore_op_name("save/restore_all");
  saver->set_sharded(false);
  saver->set_version(tensorflow::SaverDef::V2);
}

bool IsHelper(const NodeDef& d) {
  auto it = d.attr().find(kHelper);
  return it != d.attr().end() && it->second.b();
}

namespace {

// ---- Import of nodes TensorFlow wrote ----

// The constant behind input `i` of d (a Const node, possibly read through
// Identity), as int64s.
StatusOr<std::vector<int64_t>> ConstInts(const NodeDef& d, int i, const NodeLookup& lookup, const char* what) {
  if (i < 0 || i >= d.input_size() || d.input(i).starts_with("^")) {
    return InvalidArgumentError("node ", d.name(), " (", d.op(), ") has no input ", what);
  }
  std::string name = d.input(i);
  for (int hops = 0; hops < 8; ++hops) {
    const size_t colon = name.rfind(':');
    const std::string node = colon == std::string::npos ? name : name.substr(0, colon);
    const NodeDef* src = lookup(node);
    if (src == nullptr) return InvalidArgumentError("node ", d.name(), " reads ", name, ", which is not in the graph");
    if (src->op() == "Identity" && src->input_size() >= 1) {
      name = src->input(0);
      continue;
    }
    if (src->op() != "Const") {
      return UnimplementedError("node ", d.name(), " (", d.op(), "): psflow needs its ", what, " (input ", i,
                                ") to be a constant, but it comes from ", node, " (", src->op(), ")");
    }
    auto it = src->attr().find("value");
    if (it == src->attr().end()) return InvalidArgumentError("Const node ", node, " has no value");
    ASSIGN_OR_RETURN(Tensor t, TensorFromProto(it->second.tensor()));
    std::vector<int64_t> out;
    if (t.dtype() == DType::kInt32) {
      for (int32_t v : t.flat<int32_t>()) out.push_back(v);
    } else if (t.dtype() == DType::kInt64) {
      for (int64_t v : t.flat<int64_t>()) out.push_back(v);
    } else {
      return InvalidArgumentError("node ", d.name(), ": its ", what, " ", node, " is ", DTypeName(t.dtype()),
                                  ", not int32 or int64");
    }
    return out;
  }
  return InvalidArgumentError("node ", d.name(), ": its ", what, " is behind too many Identity nodes");
}

StatusOr<double> ConstScalar(const NodeDef& d, int i, const NodeLookup& lookup, const char* what) {
  if (i < 0 || i >= d.input_size() || d.input(i).starts_with("^")) {
    return InvalidArgumentError("node ", d.name(), " (", d.op(), ") has no input ", what);
  }
  std::string name = d.input(i);
  const size_t colon = name.rfind(':');
  const NodeDef* src = lookup(colon == std::string::npos ? name : name.substr(0, colon));
  if (src == nullptr || src->op() != "Const" || !src->attr().contains("value")) {
    return UnimplementedError("node ", d.name(), " (", d.op(), "): psflow needs its ", what, " to be a constant");
  }
  ASSIGN_OR_RETURN(Tensor t, TensorFromProto(src->attr().find("value")->second.tensor()));
  if (t.num_elements() != 1) return InvalidArgumentError("node ", d.name(), ": its ", what, " is not a scalar");
  switch (t.dtype()) {
    case DType::kFloat: return static_cast<double>(t.flat<float>()[0]);
    case DType::kDouble: return t.flat<double>()[0];
    case DType::kInt32: return static_cast<double>(t.flat<int32_t>()[0]);
    case DType::kInt64: return static_cast<double>(t.flat<int64_t>()[0]);
    case DType::kBool: return t.flat<bool>()[0] ? 1.0 : 0.0;
    default: return InvalidArgumentError("node ", d.name(), ": its ", what, " is ", DTypeName(t.dtype()));
  }
}

// Keeps only `keep` of d's attributes (psflow's), after checking the
// TensorFlow options psflow supports.
Status Keep(NodeDef* d, std::initializer_list<const char*> keep) {
  auto& attrs = *d->mutable_attr();
  if (auto it = attrs.find("data_format"); it != attrs.end() && it->second.s() != "NHWC") {
    return UnimplementedError("node ", d->name(), " (", d->op(), ") uses data_format ", it->second.s(),
                              "; psflow runs NHWC only");
  }
  if (auto it = attrs.find("dilations"); it != attrs.end()) {
    for (int64_t v : it->second.list().i()) {
      if (v != 1) return UnimplementedError("node ", d->name(), " (", d->op(), ") is dilated; psflow has no dilations");
    }
  }
  if (auto it = attrs.find("explicit_paddings"); it != attrs.end() && it->second.list().i_size() > 0) {
    return UnimplementedError("node ", d->name(), " (", d->op(), ") has explicit paddings; psflow has SAME/VALID");
  }
  std::vector<std::string> drop;
  for (const auto& [k, v] : attrs) {
    bool kept = false;
    for (const char* name : keep) kept |= k == name;
    if (!kept) drop.push_back(k);
  }
  for (const std::string& k : drop) attrs.erase(k);
  return OkStatus();
}

// TensorFlow's default for an attribute a graph may leave out
// (strip_default_attrs), where psflow's op needs it set.
void Default(NodeDef* d, const char* k, bool v) {
  if (!d->attr().contains(k)) SetBool(d, k, v);
}
void DefaultInt(NodeDef* d, const char* k, int64_t v) {
  if (!d->attr().contains(k)) SetInt(d, k, v);
}

// Moves data input `i` (a constant) into attribute `attr` and removes it.
Status InputToInts(NodeDef* d, int i, const char* attr, bool scalar, const NodeLookup& lookup) {
  ASSIGN_OR_RETURN(auto v, ConstInts(*d, i, lookup, attr));
  if (scalar) {
    if (v.size() != 1) return InvalidArgumentError("node ", d->name(), ": its ", attr, " must be a scalar");
    SetInt(d, attr, v[0]);
  } else {
    SetInts(d, attr, v);
  }
  d->mutable_input()->erase(d->mutable_input()->begin() + i);
  return OkStatus();
}

int DataInputs(const NodeDef& d) {
  int n = 0;
  for (const std::string& in : d.input()) n += !in.starts_with("^");
  return n;
}

using ImportRule = std::function<Status(NodeDef*, const NodeLookup&)>;

const std::map<std::string, ImportRule>& ImportRules() {
  static const auto* rules = [] {
    auto* r = new std::map<std::string, ImportRule>;
    // Ops whose psflow form is TensorFlow's without type attributes.
    for (const char* op :
         {"Add", "Sub", "Mul", "RealDiv", "Maximum", "Minimum", "Pow", "Neg", "Square", "Sqrt", "Rsqrt",
          "Exp", "Log", "Abs", "Log1p", "Relu", "Relu6", "Elu", "Sigmoid", "Tanh", "Softmax", "LogSoftmax",
          "Identity", "StopGradient", "ZerosLike", "OnesLike", "ReluGrad", "Relu6Grad", "EluGrad", "SigmoidGrad",
          "TanhGrad", "SqrtGrad", "RsqrtGrad", "L2Loss", "Equal", "Less", "Greater", "GreaterEqual", "LessEqual",
          "NotEqual", "SoftmaxCrossEntropyWithLogits", "SparseSoftmaxCrossEntropyWithLogits", "Assign", "AssignAdd",
          "AssignSub", "BiasAdd", "AddN", "NoOp"}) {
      (*r)[op] = [](NodeDef* d, const NodeLookup&) { return Keep(d, {}); };
    }
    (*r)["AddV2"] = [](NodeDef* d, const NodeLookup&) {
      d->set_op("Add");  // TensorFlow 2's `+`
      return Keep(d, {});
    };
    (*r)["Const"] = [](NodeDef* d, const NodeLookup&) { return Keep(d, {"value", "dtype"}); };
    (*r)["Placeholder"] = [](NodeDef* d, const NodeLookup&) {
      if (!d->attr().contains("shape")) Attr(d, "shape").mutable_shape()->set_unknown_rank(true);
      return Keep(d, {"dtype", "shape"});
    };
    (*r)["VariableV2"] = [](NodeDef* d, const NodeLookup&) {
      if (d->attr().contains("shared_name") && !d->attr().at("shared_name").s().empty()) {
        return UnimplementedError("variable ", d->name(), " is shared (shared_name); psflow's are not");
      }
      return Keep(d, {"dtype", "shape"});
    };
    // TensorFlow 2's resource variables (compat.v1 graphs default to them):
    // psflow's ref variables do the same work in an imported graph.
    (*r)["VarHandleOp"] = [](NodeDef* d, const NodeLookup&) {
      d->set_op("VariableV2");
      return Keep(d, {"dtype", "shape"});
    };
    (*r)["ReadVariableOp"] = [](NodeDef* d, const NodeLookup&) {
      d->set_op("Identity");
      return Keep(d, {});
    };
    (*r)["VarIsInitializedOp"] = [](NodeDef* d, const NodeLookup&) {
      d->set_op("IsVariableInitialized");
      return Keep(d, {});
    };
    (*r)["IsVariableInitialized"] = [](NodeDef* d, const NodeLookup&) { return Keep(d, {}); };
    (*r)["AssignVariableOp"] = [](NodeDef* d, const NodeLookup&) {
      d->set_op("Assign");
      return Keep(d, {});
    };
    (*r)["MatMul"] = [](NodeDef* d, const NodeLookup&) {
      Default(d, "transpose_a", false);
      Default(d, "transpose_b", false);
      return Keep(d, {"transpose_a", "transpose_b"});
    };
    (*r)["Conv2D"] = [](NodeDef* d, const NodeLookup&) { return Keep(d, {"strides", "padding"}); };
    for (const char* op : {"MaxPool", "AvgPool", "MaxPoolGrad"}) {
      (*r)[op] = [](NodeDef* d, const NodeLookup&) { return Keep(d, {"ksize", "strides", "padding"}); };
    }
    (*r)["Cast"] = [](NodeDef* d, const NodeLookup&) { return Keep(d, {"DstT"}); };
    for (const char* op : {"Sum", "Mean", "Max"}) {
      (*r)[op] = [](NodeDef* d, const NodeLookup& lookup) -> Status {
        if (DataInputs(*d) == 1) return OkStatus();  // psflow's own form
        ASSIGN_OR_RETURN(auto axes, ConstInts(*d, 1, lookup, "reduction_indices"));
        if (axes.empty()) {
          return UnimplementedError("node ", d->name(), " reduces over no axis (an identity), which psflow's ", d->op(),
                                    " cannot express");
        }
        RETURN_IF_ERROR(InputToInts(d, 1, "axes", false, lookup));
        Default(d, "keep_dims", false);
        return Keep(d, {"axes", "keep_dims"});
      };
    }
    (*r)["ArgMax"] = [](NodeDef* d, const NodeLookup& lookup) -> Status {
      if (DataInputs(*d) == 1) return OkStatus();
      if (auto it = d->attr().find("output_type"); it != d->attr().end() && it->second.type() != tensorflow::DT_INT64) {
        return UnimplementedError("node ", d->name(), ": psflow's ArgMax gives int64, not output_type ",
                                  it->second.type());
      }
      RETURN_IF_ERROR(InputToInts(d, 1, "axis", true, lookup));
      return Keep(d, {"axis"});
    };
    (*r)["Reshape"] = [](NodeDef* d, const NodeLookup& lookup) -> Status {
      if (DataInputs(*d) == 1) return OkStatus();
      RETURN_IF_ERROR(InputToInts(d, 1, "shape", false, lookup));
      return Keep(d, {"shape"});
    };
    (*r)["Transpose"] = [](NodeDef* d, const NodeLookup& lookup) -> Status {
      if (DataInputs(*d) == 1) return OkStatus();
      RETURN_IF_ERROR(InputToInts(d, 1, "perm", false, lookup));
      return Keep(d, {"perm"});
    };
    (*r)["ExpandDims"] = [](NodeDef* d, const NodeLookup& lookup) -> Status {
      if (DataInputs(*d) == 1) return OkStatus();
      RETURN_IF_ERROR(InputToInts(d, 1, "axis", true, lookup));
      return Keep(d, {"axis"});
    };
    (*r)["Squeeze"] = [](NodeDef* d, const NodeLookup&) -> Status {
      std::vector<int64_t> axes;
      if (auto it = d->attr().find("squeeze_dims"); it != d->attr().end()) {
        axes.assign(it->second.list().i().begin(), it->second.list().i().end());
      }
      SetInts(d, "axes", axes);
      return Keep(d, {"axes"});
    };
    (*r)["Slice"] = [](NodeDef* d, const NodeLookup& lookup) -> Status {
      if (DataInputs(*d) == 1) return OkStatus();
      RETURN_IF_ERROR(InputToInts(d, 2, "size", false, lookup));
      RETURN_IF_ERROR(InputToInts(d, 1, "begin", false, lookup));
      return Keep(d, {"begin", "size"});
    };
    (*r)["ConcatV2"] = [](NodeDef* d, const NodeLookup& lookup) -> Status {
      if (DataInputs(*d) < 2) return InvalidArgumentError("ConcatV2 node ", d->name(), " has no values and axis");
      RETURN_IF_ERROR(InputToInts(d, DataInputs(*d) - 1, "axis", true, lookup));
      d->set_op("Concat");
      return Keep(d, {"axis"});
    };
    (*r)["GatherV2"] = [](NodeDef* d, const NodeLookup& lookup) -> Status {
      ASSIGN_OR_RETURN(auto axis, ConstInts(*d, 2, lookup, "axis"));
      if (axis.size() != 1 || axis[0] != 0 ||
          (d->attr().contains("batch_dims") && d->attr().at("batch_dims").i() != 0)) {
        return UnimplementedError("node ", d->name(), ": psflow's Gather takes rows (axis 0, no batch_dims)");
      }
      d->mutable_input()->erase(d->mutable_input()->begin() + 2);
      d->set_op("Gather");
      return Keep(d, {});
    };
    (*r)["StridedSlice"] = [](NodeDef* d, const NodeLookup& lookup) -> Status {
      if (DataInputs(*d) == 1) return OkStatus();
      RETURN_IF_ERROR(InputToInts(d, 3, "strides", false, lookup));
      RETURN_IF_ERROR(InputToInts(d, 2, "end", false, lookup));
      RETURN_IF_ERROR(InputToInts(d, 1, "begin", false, lookup));
      for (const char* k : {"begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask"}) {
        DefaultInt(d, k, 0);
      }
      return Keep(d, {"begin", "end", "strides", "begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask",
                      "shrink_axis_mask"});
    };
    (*r)["Unique"] = [](NodeDef* d, const NodeLookup&) -> Status {
      if (auto it = d->attr().find("out_idx"); it != d->attr().end() && it->second.type() != tensorflow::DT_INT32) {
        return UnimplementedError("node ", d->name(), ": psflow's Unique gives int32 positions, not out_idx ",
                                  it->second.type());
      }
      return Keep(d, {});
    };
    // tf.nn.embedding_lookup of a resource variable: its rows.
    (*r)["ResourceGather"] = [](NodeDef* d, const NodeLookup&) -> Status {
      if (d->attr().contains("batch_dims") && d->attr().at("batch_dims").i() != 0) {
        return UnimplementedError("node ", d->name(), ": psflow's Gather takes rows (no batch_dims)");
      }
      d->set_op("Gather");
      return Keep(d, {});
    };
    for (const char* op : {"SparseSegmentSum", "SparseSegmentMean", "SparseSegmentSqrtN",
                           "SparseSegmentSumWithNumSegments", "SparseSegmentMeanWithNumSegments",
                           "SparseSegmentSqrtNWithNumSegments"}) {
      (*r)[op] = [](NodeDef* d, const NodeLookup&) { return Keep(d, {}); };
    }
    (*r)["Fill"] = [](NodeDef* d, const NodeLookup& lookup) -> Status {
      if (DataInputs(*d) == 0) return OkStatus();
      ASSIGN_OR_RETURN(double value, ConstScalar(*d, 1, lookup, "value"));
      const auto t = d->attr().contains("T") ? d->attr().at("T").type() : tensorflow::DT_FLOAT;
      RETURN_IF_ERROR(InputToInts(d, 0, "shape", false, lookup));
      d->mutable_input()->erase(d->mutable_input()->begin());
      Attr(d, "value").set_f(static_cast<float>(value));
      Attr(d, "dtype").set_type(t);
      return Keep(d, {"shape", "value", "dtype"});
    };
    for (const char* op : {"RandomUniform", "RandomStandardNormal", "TruncatedNormal"}) {
      (*r)[op] = [](NodeDef* d, const NodeLookup& lookup) -> Status {
        if (DataInputs(*d) == 0) return OkStatus();
        RETURN_IF_ERROR(InputToInts(d, 0, "shape", false, lookup));
        DefaultInt(d, "seed", 0);
        DefaultInt(d, "seed2", 0);
        return Keep(d, {"shape", "dtype", "seed", "seed2"});
      };
    }
    return r;
  }();
  return *rules;
}

}  // namespace

StatusOr<NodeDef> PsflowForm(const NodeDef& d, const NodeLookup& node_by_name) {
  NodeDef out;
  out.set_name(d.name());
  out.set_device(d.device());
  auto op = d.attr().find(kOp);
  if (op != d.attr().end()) {
    out.set_op(op->second.s());
    if (auto in = d.attr().find(kInputs); in != d.attr().end()) {
      for (const std::string& s : in->second.list().s()) out.add_input(s);
    }
    const std::string prefix = kAttrPrefix;
    for (const auto& [k, v] : d.attr()) {
      if (k.starts_with(prefix)) (*out.mutable_attr())[k.substr(prefix.size())] = v;
    }
    return out;
  }
  out.set_op(d.op());
  *out.mutable_input() = d.input();
  if (auto it = d.attr().find(kAdded); it != d.attr().end()) {
    // psflow's own node plus the attributes its export added.
    const auto& added = it->second.list().s();
    for (const auto& [k, v] : d.attr()) {
      if (k.starts_with("_") || std::find(added.begin(), added.end(), k) != added.end()) continue;
      (*out.mutable_attr())[k] = v;
    }
    return out;
  }
  for (const auto& [k, v] : d.attr()) {
    if (!k.starts_with("_")) (*out.mutable_attr())[k] = v;
  }
  auto rule = ImportRules().find(d.op());
  if (rule == ImportRules().end()) return out;  // psflow's own op, or one it does not know (named when added)
  RETURN_IF_ERROR(rule->second(&out, node_by_name));
  return out;
}

}  // namespace psflow::tf_graph
