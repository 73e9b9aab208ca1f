// Every GPU kernel against the CPU kernel of the same op on the same inputs
// (a table of cases; tolerances per dtype), plus a check that every op with
// a CPU kernel has a GPU kernel and a case here.  Built twice: against
// emulated devices (always runs) and against CUDA devices (skips without a
// GPU).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "common/core/logging.h"
#include "common/gpu/gpu_test_util.h"
#include "common/ops/kernel.h"
#include "common/ops/ops.h"
#include "common/runtime/session.h"
#include "common/train/metrics.h"
#include "common/train/optimizer.h"

namespace psflow {
namespace {

using gpu_test::Random;
using Attrs = std::map<std::string, AttrValue>;

struct OpCase {
  std::string label;  // unique; the test's name
  std::string type;
  std::vector<Tensor> inputs;
  Attrs attrs;
  double rtol = 1e-5, atol = 1e-6;  // for floating-point outputs (double: 1e-12 of each)
};

const DType kNumeric[] = {DType::kFloat, DType::kDouble, DType::kInt32, DType::kInt64};
const DType kFloats[] = {DType::kFloat, DType::kDouble};

std::string Short(DType t) {
  switch (t) {
    case DType::kFloat: return "f32";
    case DType::kDouble: return "f64";
    case DType::kInt32: return "i32";
    case DType::kInt64: return "i64";
    case DType::kBool: return "bool";
    default: return "x";
  }
}

TensorShape S(std::initializer_list<int64_t> d) { return TensorShape(std::vector<int64_t>(d)); }

class CaseList {
 public:
  void Add(OpCase c) {
    CHECK(labels_.insert(c.label).second) << "duplicate case " << c.label;
    cases_.push_back(std::move(c));
  }
  std::vector<OpCase> Take() { return std::move(cases_); }

 private:
  std::vector<OpCase> cases_;
  std::set<std::string> labels_;
};

void ElementwiseCases(CaseList& L) {
  uint32_t seed = 1;
  for (DType t : kNumeric) {
    for (const char* op : {"Neg", "Square", "Relu", "Relu6"}) {
      L.Add({StrCat(op, "_", Short(t)), op, {Random(t, S({3, 5, 7}), -8, 8, seed++)}});
    }
  }
  for (DType t : kFloats) {
    for (const char* op : {"Sqrt", "Rsqrt", "Log"}) {
      L.Add({StrCat(op, "_", Short(t)), op, {Random(t, S({4, 33}), 0.1, 4, seed++)}});
    }
    for (const char* op : {"Exp", "Sigmoid", "Tanh", "Elu"}) {
      L.Add({StrCat(op, "_", Short(t)), op, {Random(t, S({4, 33}), -4, 4, seed++)}});
    }
  }
  // Binary ops with each broadcasting path: same shape, scalar on either
  // side, and general broadcasting.
  const std::pair<TensorShape, TensorShape> shapes[] = {
      {S({4, 6}), S({4, 6})}, {S({4, 6}), S({})}, {S({}), S({4, 6})}, {S({4, 1, 6}), S({5, 1})}, {S({2, 3, 4}), S({3, 1})},
      {S({1}), S({7, 1, 1})}};
  const char* shape_names[] = {"same", "scalar_b", "scalar_a", "bcast", "bcast2", "bcast3"};
  for (DType t : kNumeric) {
    for (const char* op : {"Add", "Sub", "Mul", "Maximum", "Minimum", "RealDiv", "Equal", "Less", "Greater"}) {
      for (size_t k = 0; k < std::size(shapes); ++k) {
        const bool div = std::string(op) == "RealDiv";
        const bool eq = std::string(op) == "Equal";
        // Small integer ranges make Equal and the comparisons hit ties.
        Tensor a = Random(t, shapes[k].first, eq ? -2 : -6, eq ? 2 : 6, seed++);
        Tensor b = Random(t, shapes[k].second, div ? 1 : (eq ? -2 : -6), eq ? 2 : 6, seed++);
        L.Add({StrCat(op, "_", shape_names[k], "_", Short(t)), op, {a, b}});
      }
    }
  }
  for (DType t : kFloats) {
    L.Add({StrCat("Pow_", Short(t)), "Pow", {Random(t, S({5, 4}), 0.5, 2, seed++), Random(t, S({4}), -2, 2, seed++)}});
    for (const char* op : {"ReluGrad", "Relu6Grad", "EluGrad", "SigmoidGrad", "TanhGrad"}) {
      L.Add({StrCat(op, "_", Short(t)), op, {Random(t, S({3, 9}), -7, 7, seed++), Random(t, S({3, 9}), -7, 7, seed++)}});
    }
    for (const char* op : {"SqrtGrad", "RsqrtGrad"}) {
      L.Add({StrCat(op, "_", Short(t)), op, {Random(t, S({3, 9}), 0.5, 3, seed++), Random(t, S({3, 9}), -2, 2, seed++)}});
    }
    L.Add({StrCat(Short(t)), "SigmoidCrossEntropyWithLogits",
           {Random(t, S({6, 5}), 0, 1, seed++), Random(t, S({6, 5}), -30, 30, seed++)}});
  }
  const DType cast_types[] = {DType::kFloat, DType::kDouble, DType::kInt32, DType::kInt64, DType::kBool};
  for (DType from : cast_types) {
    for (DType to : cast_types) {
      if (from == to && from == DType::kBool) continue;  // ops::Cast never makes one; the CPU kernel refuses it
      L.Add({StrCat("Cast_", Short(from), "_to_", Short(to)), "Cast", {Random(from, S({5, 7}), -3, 3, seed++)}, {{"DstT", to}}});
    }
  }
  for (DType t : kNumeric) {
    L.Add({StrCat("ZerosLike_", Short(t)), "ZerosLike", {Random(t, S({3, 4}), -3, 3, seed++)}});
    L.Add({StrCat("OnesLike_", Short(t)), "OnesLike", {Random(t, S({3, 4}), -3, 3, seed++)}});
    L.Add({StrCat("Fill_", Short(t)), "Fill", {}, {{"shape", std::vector<int64_t>{2, 3, 5}}, {"value", 2.5f}, {"dtype", t}}});
    L.Add({StrCat("AddN1_", Short(t)), "AddN", {Random(t, S({4, 5}), -3, 3, seed++)}});
    L.Add({StrCat("AddN3_", Short(t)), "AddN",
           {Random(t, S({4, 5}), -3, 3, seed++), Random(t, S({4, 5}), -3, 3, seed++), Random(t, S({4, 5}), -3, 3, seed++)}});
    L.Add({StrCat("BiasAdd_", Short(t)), "BiasAdd", {Random(t, S({2, 3, 6}), -3, 3, seed++), Random(t, S({6}), -3, 3, seed++)}});
    L.Add({StrCat("BroadcastLike_", Short(t)), "BroadcastLike",
           {Random(t, S({4, 1}), -3, 3, seed++), Random(t, S({3, 4, 6}), -3, 3, seed++)}});
    L.Add({StrCat("ReductionGrad_mean_", Short(t)), "ReductionGrad",
           {Random(t, S({4}), -3, 3, seed++), Random(t, S({4, 6}), -3, 3, seed++)},
           {{"axes", std::vector<int64_t>{1}}, {"keep_dims", false}, {"mean", true}}});
    L.Add({StrCat("ReductionGrad_sum_", Short(t)), "ReductionGrad",
           {Random(t, S({1, 6, 1}), -3, 3, seed++), Random(t, S({3, 6, 2}), -3, 3, seed++)},
           {{"axes", std::vector<int64_t>{0, -1}}, {"keep_dims", true}, {"mean", false}}});
    for (DType it : {DType::kInt32, DType::kInt64}) {
      // -1 and 7 are outside [0, 5): all "off", as TensorFlow does.
      L.Add({StrCat("OneHot_", Short(it), "_", Short(t)), "OneHot", {Random(it, S({3, 4}), -1, 7, seed++)},
             {{"depth", int64_t{5}}, {"on_value", 3.f}, {"off_value", -1.f}, {"dtype", t}}});
    }
  }
}

Tensor Ints(std::vector<int64_t> v, DType t) {
  const TensorShape shape({static_cast<int64_t>(v.size())});
  if (t == DType::kInt64) return Tensor::FromVector<int64_t>(v, shape);
  std::vector<int32_t> w(v.begin(), v.end());
  return Tensor::FromVector<int32_t>(w, shape);
}

void ArrayCases(CaseList& L) {
  uint32_t seed = 1000;
  const DType all[] = {DType::kFloat, DType::kDouble, DType::kInt32, DType::kInt64, DType::kBool};
  for (DType t : all) {
    const std::string n = Short(t);
    L.Add({"Identity_" + n, "Identity", {Random(t, S({3, 4}), -3, 3, seed++)}});
    L.Add({"StopGradient_" + n, "StopGradient", {Random(t, S({3, 4}), -3, 3, seed++)}});
    L.Add({"Reshape_" + n, "Reshape", {Random(t, S({4, 6}), -3, 3, seed++)}, {{"shape", std::vector<int64_t>{-1, 3, 2}}}});
    L.Add({"ReshapeLike_" + n, "ReshapeLike", {Random(t, S({4, 6}), -3, 3, seed++), Random(t, S({2, 12}), -3, 3, seed++)}});
    L.Add({"ExpandDims_" + n, "ExpandDims", {Random(t, S({4, 6}), -3, 3, seed++)}, {{"axis", int64_t{-1}}}});
    L.Add({"Squeeze_" + n, "Squeeze", {Random(t, S({3, 1, 4, 1}), -3, 3, seed++)}, {{"axes", std::vector<int64_t>{}}}});
    L.Add({"Transpose_" + n, "Transpose", {Random(t, S({2, 3, 4}), -9, 9, seed++)}, {{"perm", std::vector<int64_t>{2, 0, 1}}}});
    L.Add({"Transpose2d_" + n, "Transpose", {Random(t, S({33, 17}), -9, 9, seed++)}, {{"perm", std::vector<int64_t>{1, 0}}}});
    L.Add({"Concat_axis1_" + n, "Concat",
           {Random(t, S({2, 3, 2}), -9, 9, seed++), Random(t, S({2, 1, 2}), -9, 9, seed++), Random(t, S({2, 4, 2}), -9, 9, seed++)},
           {{"axis", int64_t{1}}}});
    L.Add({"Concat_axis0_" + n, "Concat", {Random(t, S({2, 3}), -9, 9, seed++), Random(t, S({5, 3}), -9, 9, seed++)},
           {{"axis", int64_t{0}}}});
    L.Add({"Concat_last_" + n, "Concat", {Random(t, S({4, 3}), -9, 9, seed++), Random(t, S({4, 5}), -9, 9, seed++)},
           {{"axis", int64_t{-1}}}});
    L.Add({"ConcatGrad_" + n, "ConcatGrad",
           {Random(t, S({2, 7}), -9, 9, seed++), Random(t, S({2, 3}), -9, 9, seed++), Random(t, S({2, 4}), -9, 9, seed++)},
           {{"axis", int64_t{1}}}});
    L.Add({"Slice_" + n, "Slice", {Random(t, S({4, 6, 3}), -9, 9, seed++)},
           {{"begin", std::vector<int64_t>{1, 2, 0}}, {"size", std::vector<int64_t>{2, -1, 3}}}});
    L.Add({"SliceGrad_" + n, "SliceGrad", {Random(t, S({2, 4, 3}), -9, 9, seed++), Random(t, S({4, 6, 3}), -9, 9, seed++)},
           {{"begin", std::vector<int64_t>{1, 2, 0}}}});
    // x[3:0:-2, ..., tf.newaxis, 1] and its gradient.
    const Attrs strided = {{"begin", std::vector<int64_t>{3, 0, 0, 1}}, {"end", std::vector<int64_t>{0, 0, 0, 2}},
                           {"strides", std::vector<int64_t>{-2, 1, 1, 1}}, {"begin_mask", int64_t{0}},
                           {"end_mask", int64_t{0}}, {"ellipsis_mask", int64_t{2}}, {"new_axis_mask", int64_t{4}},
                           {"shrink_axis_mask", int64_t{8}}};
    L.Add({"StridedSlice_" + n, "StridedSlice", {Random(t, S({4, 6, 3}), -9, 9, seed++)}, strided});
    L.Add({"StridedSliceGrad_" + n, "StridedSliceGrad",
           {Random(t, S({2, 6, 1}), -9, 9, seed++), Random(t, S({4, 6, 3}), -9, 9, seed++)}, strided});
  }
  for (DType t : kNumeric) {
    for (DType it : {DType::kInt32, DType::kInt64}) {
      const std::string n = Short(t) + "_" + Short(it);
      L.Add({"Gather_" + n, "Gather", {Random(t, S({10, 4}), -9, 9, seed++), Random(it, S({3, 2}), 0, 9, seed++)}});
      L.Add({"ScatterAddLike_" + n, "ScatterAddLike",
             {Ints({3, 0, 3, 7, 3}, it), Random(t, S({5, 4}), -9, 9, seed++), Random(t, S({8, 4}), -9, 9, seed++)}});
    }
  }
  for (DType t : kFloats) {
    for (DType it : {DType::kInt32, DType::kInt64}) {
      const std::string n = Short(t) + "_" + Short(it);
      // Entries 0..5 into 4 segments (segment 2 empty), a repeated row.
      for (const char* comb : {"Sum", "Mean", "SqrtN"}) {
        L.Add({StrCat("SparseSegment", comb, "_", n), StrCat("SparseSegment", comb, "WithNumSegments"),
               {Random(t, S({5, 3}), -9, 9, seed++), Ints({4, 0, 4, 1, 2, 3}, it), Ints({0, 0, 1, 1, 3, 3}, it),
                Ints({4}, it).Reshaped(TensorShape({}))}});
        L.Add({StrCat("SparseSegment", comb, "NoNum_", n), StrCat("SparseSegment", comb),
               {Random(t, S({5, 3}), -9, 9, seed++), Ints({4, 0, 4, 1, 2, 3}, it), Ints({0, 0, 1, 1, 3, 3}, it)}});
        L.Add({StrCat("SparseSegmentReduceGrad", comb, "_", n), "SparseSegmentReduceGrad",
               {Random(t, S({4, 3}), -9, 9, seed++), Ints({4, 0, 4, 1, 2, 3}, it), Ints({0, 0, 1, 1, 3, 3}, it),
                Random(t, S({5, 3}), -9, 9, seed++)},
               {{"combiner", std::string(comb)}}});
      }
    }
  }
  for (DType t : kNumeric) {
    L.Add({"Bucketize_" + Short(t), "Bucketize", {Random(t, S({4, 5}), -9, 9, seed++)},
           {{"boundaries", std::vector<float>{-5.f, 0.f, 0.5f, 3.f, 3.f, 8.f}}}});
  }
  L.Add({"Gather_vector_rows", "Gather", {Random(DType::kFloat, S({6}), -9, 9, seed++), Ints({5, 0, 2}, DType::kInt64)}});
}

void ReduceCases(CaseList& L) {
  uint32_t seed = 2000;
  struct Config {
    const char* name;
    std::vector<int64_t> shape, axes;
    bool keep;
  };
  const Config configs[] = {
      {"all", {4, 5, 6}, {}, false},       {"axis0", {4, 5, 6}, {0}, false},    {"axis1", {4, 5, 6}, {1}, true},
      {"axis2", {4, 5, 6}, {2}, false},    {"axes02", {4, 5, 6}, {0, 2}, true}, {"last", {4, 5, 6}, {-1}, false},
      {"axes12", {4, 5, 6}, {1, 2}, false}, {"rows", {3, 1000}, {1}, false},    {"cols", {1000, 3}, {0}, false},
      {"size1", {2, 1, 5}, {1}, false},     {"full_long", {2000}, {0}, false},  {"scalar", {}, {}, false}};
  for (DType t : kNumeric) {
    for (const char* op : {"Sum", "Mean", "Max"}) {
      for (const Config& cfg : configs) {
        L.Add({StrCat(op, "_", cfg.name, "_", Short(t)), op, {Random(t, TensorShape(cfg.shape), -3, 3, seed++)},
               {{"axes", cfg.axes}, {"keep_dims", cfg.keep}}, 1e-5, 1e-4});
      }
    }
    const std::pair<TensorShape, TensorShape> to[] = {{S({4, 6}), S({6})},       {S({4, 6}), S({4, 1})},
                                                      {S({4, 6}), S({1, 6})},    {S({2, 3, 4}), S({3, 1})},
                                                      {S({2, 3, 4}), S({})},     {S({300, 7}), S({7})},
                                                      {S({5, 2, 3}), S({5, 1, 3})}};
    for (size_t k = 0; k < std::size(to); ++k) {
      L.Add({StrCat("SumToShapeOf_", k, "_", Short(t)), "SumToShapeOf",
             {Random(t, to[k].first, -3, 3, seed++), Random(t, to[k].second, -3, 3, seed++)}, {}, 1e-5, 1e-4});
    }
    // Small integer ranges give ties: the first maximum wins on both.
    L.Add({StrCat("ArgMax_axis1_", Short(t)), "ArgMax", {Random(t, S({4, 7}), -2, 2, seed++)}, {{"axis", int64_t{1}}}});
    L.Add({StrCat("ArgMax_axis0_", Short(t)), "ArgMax", {Random(t, S({4, 7}), -2, 2, seed++)}, {{"axis", int64_t{0}}}});
    L.Add({StrCat("ArgMax_mid_", Short(t)), "ArgMax", {Random(t, S({3, 4, 5}), -9, 9, seed++)}, {{"axis", int64_t{-2}}}});
  }
  for (DType t : kFloats) {
    const std::string n = Short(t);
    L.Add({"L2Loss_long_" + n, "L2Loss", {Random(t, S({5000}), -1, 1, seed++)}, {}, 1e-5, 1e-4});
    L.Add({"L2Loss_" + n, "L2Loss", {Random(t, S({3, 4}), -2, 2, seed++)}});
    for (const char* op : {"Softmax", "LogSoftmax"}) {
      L.Add({StrCat(op, "_", n), op, {Random(t, S({6, 10}), -5, 5, seed++)}});
      L.Add({StrCat(op, "_wide_", n), op, {Random(t, S({3, 1000}), -20, 20, seed++)}});
      L.Add({StrCat(op, "_rank3_", n), op, {Random(t, S({2, 3, 5}), -5, 5, seed++)}});
    }
    for (const char* op : {"SoftmaxGrad", "LogSoftmaxGrad"}) {
      L.Add({StrCat(op, "_", n), op, {Random(t, S({6, 10}), -2, 2, seed++), Random(t, S({6, 10}), -2, 0.5, seed++)}});
      // A sum of 700 floats in another order: relative differences near 1e-5.
      L.Add({StrCat(op, "_wide_", n), op, {Random(t, S({3, 700}), -2, 2, seed++), Random(t, S({3, 700}), -2, 0.5, seed++)},
             {}, 1e-4, 1e-5});
    }
    for (DType it : {DType::kInt32, DType::kInt64}) {
      L.Add({StrCat("SparseSoftmaxCrossEntropyWithLogits_", n, "_", Short(it)), "SparseSoftmaxCrossEntropyWithLogits",
             {Random(t, S({8, 10}), -5, 5, seed++), Random(it, S({8}), 0, 9, seed++)}});
      L.Add({StrCat("SparseSoftmaxCrossEntropyWithLogits_wide_", n, "_", Short(it)), "SparseSoftmaxCrossEntropyWithLogits",
             {Random(t, S({4, 1000}), -5, 5, seed++), Random(it, S({4}), 0, 999, seed++)}});
    }
    L.Add({"SoftmaxCrossEntropyWithLogits_" + n, "SoftmaxCrossEntropyWithLogits",
           {Random(t, S({8, 10}), -5, 5, seed++), Random(t, S({8, 10}), 0, 1, seed++)}});
    L.Add({"SoftmaxCrossEntropyWithLogits_wide_" + n, "SoftmaxCrossEntropyWithLogits",
           {Random(t, S({3, 600}), -5, 5, seed++), Random(t, S({3, 600}), 0, 1, seed++)}, {}, 1e-5, 1e-5});
  }
}

int64_t OutDim(int64_t in, int64_t k, int64_t stride, const std::string& padding) {
  return padding == "SAME" ? (in + stride - 1) / stride : (in - k) / stride + 1;
}

void MatMulConvCases(CaseList& L) {
  uint32_t seed = 3000;
  for (DType t : kNumeric) {
    const bool fl = t == DType::kFloat || t == DType::kDouble;
    for (int tr = 0; tr < 4; ++tr) {
      const bool ta = tr & 1, tb = tr & 2;
      Tensor a = Random(t, ta ? S({7, 5}) : S({5, 7}), -3, 3, seed++);
      Tensor b = Random(t, tb ? S({3, 7}) : S({7, 3}), -3, 3, seed++);
      L.Add({StrCat("MatMul_", ta ? "T" : "N", tb ? "T" : "N", "_", Short(t)), "MatMul", {a, b},
             {{"transpose_a", ta}, {"transpose_b", tb}}});
    }
    L.Add({StrCat("MatMul_empty_k_", Short(t)), "MatMul", {Random(t, S({3, 0}), -1, 1, seed++), Random(t, S({0, 4}), -1, 1, seed++)},
           {{"transpose_a", false}, {"transpose_b", false}}});
    if (fl) {
      L.Add({StrCat("MatMul_large_", Short(t)), "MatMul",
             {Random(t, S({64, 300}), -1, 1, seed++), Random(t, S({300, 50}), -1, 1, seed++)},
             {{"transpose_a", false}, {"transpose_b", false}}, 1e-5, 1e-4});
    }
  }
  struct Conv {
    const char* name;
    std::vector<int64_t> x, f;
    int64_t stride;
    const char* padding;
  };
  const Conv convs[] = {{"3x3_same", {2, 7, 7, 3}, {3, 3, 3, 4}, 1, "SAME"},
                        {"3x3_s2_valid", {2, 8, 7, 3}, {3, 3, 3, 2}, 2, "VALID"},
                        {"5x5_s2_same", {1, 9, 9, 2}, {5, 5, 2, 3}, 2, "SAME"},
                        {"1x1", {3, 4, 4, 5}, {1, 1, 5, 6}, 1, "VALID"}};
  for (DType t : kFloats) {
    for (const Conv& cv : convs) {
      const int64_t oh = OutDim(cv.x[1], cv.f[0], cv.stride, cv.padding), ow = OutDim(cv.x[2], cv.f[1], cv.stride, cv.padding);
      const Attrs attrs = {{"strides", std::vector<int64_t>{1, cv.stride, cv.stride, 1}}, {"padding", std::string(cv.padding)}};
      Tensor x = Random(t, TensorShape(cv.x), -2, 2, seed++);
      Tensor f = Random(t, TensorShape(cv.f), -1, 1, seed++);
      Tensor g = Random(t, S({cv.x[0], oh, ow, cv.f[3]}), -1, 1, seed++);
      L.Add({StrCat("Conv2D_", cv.name, "_", Short(t)), "Conv2D", {x, f}, attrs, 1e-5, 1e-5});
      L.Add({StrCat("Conv2DBackpropInput_", cv.name, "_", Short(t)), "Conv2DBackpropInput", {x, f, g}, attrs, 1e-5, 1e-5});
      L.Add({StrCat("Conv2DBackpropFilter_", cv.name, "_", Short(t)), "Conv2DBackpropFilter", {x, f, g}, attrs, 1e-5, 1e-5});
    }
    struct Pool {
      const char* name;
      int64_t k, stride;
      const char* padding;
    };
    for (const Pool& pl : {Pool{"2x2_s2", 2, 2, "VALID"}, Pool{"3x3_s2_same", 3, 2, "SAME"}, Pool{"3x3_s1_same", 3, 1, "SAME"}}) {
      const std::vector<int64_t> xs = {2, 7, 6, 3};
      const int64_t oh = OutDim(xs[1], pl.k, pl.stride, pl.padding), ow = OutDim(xs[2], pl.k, pl.stride, pl.padding);
      const Attrs attrs = {{"ksize", std::vector<int64_t>{1, pl.k, pl.k, 1}},
                           {"strides", std::vector<int64_t>{1, pl.stride, pl.stride, 1}},
                           {"padding", std::string(pl.padding)}};
      Tensor x = Random(t, TensorShape(xs), -2, 2, seed++);
      Tensor y = Random(t, S({2, oh, ow, 3}), -2, 2, seed++);
      Tensor g = Random(t, S({2, oh, ow, 3}), -1, 1, seed++);
      L.Add({StrCat("MaxPool_", pl.name, "_", Short(t)), "MaxPool", {x}, attrs});
      L.Add({StrCat("AvgPool_", pl.name, "_", Short(t)), "AvgPool", {x}, attrs});
      L.Add({StrCat("MaxPoolGrad_", pl.name, "_", Short(t)), "MaxPoolGrad", {x, y, g}, attrs});
      L.Add({StrCat("AvgPoolGrad_", pl.name, "_", Short(t)), "AvgPoolGrad", {x, g}, attrs});
    }
  }
}

void TrainCases(CaseList& L) {
  uint32_t seed = 4000;
  for (int64_t step : {0, 999, 1000, 2500}) {
    for (bool staircase : {false, true}) {
      L.Add({StrCat("LearningRateSchedule_exp_", step, staircase ? "_staircase" : ""), "LearningRateSchedule",
             {Tensor::Scalar<int64_t>(step)},
             {{"kind", std::string("exponential")}, {"lr", 0.1f}, {"decay_steps", int64_t{1000}}, {"decay_rate", 0.5f},
              {"staircase", staircase}}});
    }
    L.Add({StrCat("LearningRateSchedule_piecewise_", step), "LearningRateSchedule", {Tensor::Scalar<int64_t>(step)},
           {{"kind", std::string("piecewise")}, {"boundaries", std::vector<int64_t>{999, 2000}},
            {"values", std::vector<float>{0.5f, 0.25f, 0.125f}}}});
  }
  for (DType lt : {DType::kBool, DType::kInt64, DType::kFloat}) {
    L.Add({StrCat("ThresholdCounts_", Short(lt)), "ThresholdCounts",
           {Random(lt, S({50}), 0, 1, seed++), Random(DType::kFloat, S({50}), 0, 1, seed++)},
           {{"num_thresholds", int64_t{20}}}});
  }
  L.Add({"AUCFromCounts", "AUCFromCounts",
         {Random(DType::kFloat, S({20}), 0, 30, seed++), Random(DType::kFloat, S({20}), 0, 30, seed++),
          Random(DType::kFloat, S({20}), 0, 30, seed++), Random(DType::kFloat, S({20}), 0, 30, seed++)}});
}

const std::vector<OpCase>& AllCases() {
  static const std::vector<OpCase> cases = [] {
    CaseList L;
    ElementwiseCases(L);
    ArrayCases(L);
    ReduceCases(L);
    MatMulConvCases(L);
    TrainCases(L);
    return L.Take();
  }();
  return cases;
}

// Runs node `type` on `inputs` (fed through placeholders) in `sess`.
Status RunOp(Session& sess, const std::vector<Output>& fetches, const FeedList& feeds, std::vector<Tensor>* out) {
  return sess.Run(feeds, fetches, out);
}

class GpuKernelTest : public ::testing::TestWithParam<size_t> {};

TEST_P(GpuKernelTest, MatchesCpuKernel) {
  PSFLOW_GPU_OR_SKIP(gpu, 0);
  const OpCase& c = AllCases()[GetParam()];
  RegisterTrainOps();
  metrics::RegisterMetricOps();
  Graph g;
  Scope s(&g);
  std::vector<Output> ins;
  FeedList feeds;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    Output p = ops::Placeholder(s, c.inputs[i].dtype(), PartialShape(c.inputs[i].shape().dims()), StrCat("in", i));
    ins.push_back(p);
    feeds.push_back({p, c.inputs[i]});
  }
  Node* n = ops::MakeNode(s, c.type, "op", ins, c.attrs);
  ASSERT_TRUE(s.status().ok()) << s.status();
  ASSERT_NE(n, nullptr);
  std::vector<Output> fetches;
  for (int k = 0; k < n->num_outputs(); ++k) fetches.push_back(n->output(k));
  Session cpu(&g);
  Session dev(&g, {.gpu = gpu});
  std::vector<Tensor> want, got;
  const Status cs = RunOp(cpu, fetches, feeds, &want);
  const Status gs = RunOp(dev, fetches, feeds, &got);
  ASSERT_TRUE(cs.ok()) << "CPU: " << cs;
  ASSERT_TRUE(gs.ok()) << "GPU: " << gs;
  ASSERT_EQ(got.size(), want.size());
  for (size_t k = 0; k < got.size(); ++k) {
    EXPECT_TRUE(got[k].device().is_host());
    const bool f64 = want[k].dtype() == DType::kDouble;
    EXPECT_TRUE(gpu_test::Near(got[k], want[k], f64 ? c.rtol * 1e-7 : c.rtol, f64 ? c.atol * 1e-6 : c.atol))
        << "output " << k << " of " << c.label;
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, GpuKernelTest, ::testing::Range<size_t>(0, AllCases().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) { return AllCases()[info.param].label; });

// Op types that the case table exercises through other tests of this file
// (stateful or random ops need their own set-up).
std::set<std::string> TypesWithOwnTests() {
  std::set<std::string> t = {"Const",        "Placeholder",          "NoOp",           "VariableV2",  "Assign",
                              "AssignAdd",    "AssignSub",            "RandomUniform",  "RandomStandardNormal",
                              "TruncatedNormal", "DropoutMask"};
  for (const char* k : {"GradientDescent", "Momentum", "Adagrad", "Adam", "RMSProp", "Ftrl"}) {
    t.insert(StrCat("Apply", k));
    t.insert(StrCat("SparseApply", k));
  }
  return t;
}

// Every optimizer apply, dense and sparse (a repeated row included), from
// the same variables on the CPU and the GPU, three steps.
TEST(GpuKernelTest, OptimizerAppliesMatchTheCpu) {
  PSFLOW_GPU_OR_SKIP(gpu, 0);
  RegisterTrainOps();
  struct Opt {
    const char* name;
    int slots;
    float slot_lo;  // accumulators must stay positive
  };
  const Opt opts[] = {{"GradientDescent", 0, 0}, {"Momentum", 1, -1}, {"Adagrad", 1, 0.1f},
                      {"Adam", 2, 0.f},         {"RMSProp", 2, 0.5f}, {"Ftrl", 2, 0.1f}};
  uint32_t seed = 5000;
  for (const Opt& o : opts) {
    for (bool sparse : {false, true}) {
      for (DType t : kFloats) {
        for (bool nesterov : {false, true}) {
          if (nesterov && std::string(o.name) != "Momentum") continue;
          SCOPED_TRACE(StrCat(sparse ? "Sparse" : "", "Apply", o.name, " ", DTypeName(t), nesterov ? " nesterov" : ""));
          Graph g;
          Scope s(&g);
          std::vector<Output> ins;
          std::vector<std::string> names;
          for (int k = 0; k <= o.slots; ++k) {
            names.push_back(k == 0 ? "var" : StrCat("var/slot", k));
            ins.push_back(ops::VariableV2(s, names.back(), t, PartialShape({6, 3})));
          }
          ins.push_back(ops::Const(s, Tensor::Scalar<float>(0.05f)));
          Tensor grad = Random(t, sparse ? S({4, 3}) : S({6, 3}), -1, 1, seed++);
          ins.push_back(ops::Const(s, grad));
          if (sparse) ins.push_back(ops::Const(s, Ints({5, 0, 5, 2}, DType::kInt64)));
          if (std::string(o.name) == "Adam") {
            ins.push_back(ops::Const(s, Tensor::Scalar<float>(0.81f)));
            ins.push_back(ops::Const(s, Tensor::Scalar<float>(0.998f)));
          }
          Node* apply = ops::MakeNode(s, StrCat(sparse ? "Sparse" : "", "Apply", o.name), "apply", ins,
                                      {{"momentum", 0.9f}, {"nesterov", nesterov}, {"beta1", 0.9f}, {"beta2", 0.999f},
                                       {"epsilon", 1e-7f}, {"rho", 0.9f}, {"l1", 0.01f}, {"l2", 0.02f}, {"lr_power", -0.5f}});
          ASSERT_TRUE(s.status().ok()) << s.status();
          Session cpu(&g);
          Session dev(&g, {.gpu = gpu});
          for (int k = 0; k <= o.slots; ++k) {
            const Tensor init = Random(t, S({6, 3}), k == 0 ? -1 : o.slot_lo, 1, seed++);
            ASSERT_TRUE(cpu.variables()->Assign(names[static_cast<size_t>(k)], init.DeepCopy()).ok());
            ASSERT_TRUE(dev.variables()->Assign(names[static_cast<size_t>(k)], init.DeepCopy()).ok());  // a host value
          }
          std::vector<Tensor> out;
          for (int step = 0; step < 3; ++step) {
            ASSERT_TRUE(cpu.Run({}, {}, {apply}, &out).ok());
            Status st = dev.Run({}, {}, {apply}, &out);
            ASSERT_TRUE(st.ok()) << st;
          }
          for (const std::string& n : names) {
            auto want = cpu.variables()->Read(n);
            auto got = dev.variables()->Read(n);
            ASSERT_TRUE(want.ok() && got.ok());
            EXPECT_EQ(got->device(), gpu->device()) << n;
            auto host = got->ToHost();
            ASSERT_TRUE(host.ok());
            EXPECT_TRUE(gpu_test::Near(*host, *want, t == DType::kFloat ? 1e-5 : 1e-12, 1e-6)) << n;
          }
        }
      }
    }
  }
}

TEST(GpuKernelTest, SparseApplyIndexOutOfRangeNamesTheNode) {
  PSFLOW_GPU_OR_SKIP(gpu, 0);
  RegisterTrainOps();
  Graph g;
  Scope s(&g);
  Output v = ops::VariableV2(s, "emb", DType::kFloat, PartialShape({4, 2}));
  Node* apply = ops::MakeNode(s, "SparseApplyGradientDescent", "sgd_update",
                              {v, ops::Const(s, 0.1f), ops::Const(s, Random(DType::kFloat, S({2, 2}), -1, 1, 1)),
                               ops::Const(s, Ints({1, 4}, DType::kInt64))},
                              {{"momentum", 0.f}, {"nesterov", false}, {"beta1", 0.9f}, {"beta2", 0.999f}, {"epsilon", 1e-7f},
                               {"rho", 0.9f}, {"l1", 0.f}, {"l2", 0.f}, {"lr_power", -0.5f}});
  ASSERT_TRUE(s.status().ok()) << s.status();
  Session dev(&g, {.gpu = gpu});
  ASSERT_TRUE(dev.variables()->Assign("emb", Random(DType::kFloat, S({4, 2}), -1, 1, 2)).ok());
  std::vector<Tensor> out;
  Status st = dev.Run({}, {}, {apply}, &out);
  EXPECT_THAT(st.message(), ::testing::HasSubstr("node sgd_update (SparseApplyGradientDescent)"));
  EXPECT_THAT(st.message(), ::testing::HasSubstr("indices[1] = 4 is not in [0, 4)"));
}

// Random ops: GPU draws come from another generator than the CPU's, so
// they are compared by their distribution: moments against the exact ones
// and against the CPU kernel's sample, bounds, determinism.
struct Moments {
  double mean = 0, var = 0, min = 1e300, max = -1e300, zeros = 0;
};
Moments MomentsOf(const Tensor& t) {
  Moments m;
  const int64_t n = t.num_elements();
  for (int64_t i = 0; i < n; ++i) {
    const double v = t.dtype() == DType::kDouble ? t.flat<double>()[static_cast<size_t>(i)] : t.flat<float>()[static_cast<size_t>(i)];
    m.mean += v;
    m.min = std::min(m.min, v);
    m.max = std::max(m.max, v);
    m.zeros += v == 0;
  }
  m.mean /= static_cast<double>(n);
  for (int64_t i = 0; i < n; ++i) {
    const double v = t.dtype() == DType::kDouble ? t.flat<double>()[static_cast<size_t>(i)] : t.flat<float>()[static_cast<size_t>(i)];
    m.var += (v - m.mean) * (v - m.mean);
  }
  m.var /= static_cast<double>(n - 1);
  return m;
}

TEST(GpuKernelTest, RandomOpsDrawFromTheRightDistributions) {
  PSFLOW_GPU_OR_SKIP(gpu, 0);
  constexpr int64_t kN = 200000;
  struct Want {
    const char* type;
    double mean, var, lo, hi;
  };
  // Standard normal truncated at +-2: variance 1 - 4 phi(2) / (2 Phi(2) - 1).
  const Want wants[] = {{"RandomUniform", 0.5, 1.0 / 12, 0, 1},
                        {"RandomStandardNormal", 0, 1, -10, 10},
                        {"TruncatedNormal", 0, 0.7737413, -2, 2}};
  for (const Want& w : wants) {
    for (DType t : kFloats) {
      SCOPED_TRACE(StrCat(w.type, " ", DTypeName(t)));
      Graph g;
      Scope s(&g);
      Output r = ops::MakeOp(s, w.type, "r", {},
                             {{"shape", std::vector<int64_t>{kN}}, {"dtype", t}, {"seed", int64_t{7}}, {"seed2", int64_t{11}}});
      ASSERT_TRUE(s.status().ok());
      Session dev(&g, {.gpu = gpu}), dev2(&g, {.gpu = gpu}), cpu(&g);
      std::vector<Tensor> a, b, again, c;
      ASSERT_TRUE(dev.Run({}, {r}, &a).ok());
      ASSERT_TRUE(dev2.Run({}, {r}, &b).ok());
      ASSERT_TRUE(dev.Run({}, {r}, &again).ok());
      ASSERT_TRUE(cpu.Run({}, {r}, &c).ok());
      EXPECT_TRUE(a[0].Equals(b[0])) << "same seeds, fresh sessions: same values";
      EXPECT_FALSE(a[0].Equals(again[0])) << "the next run draws new values";
      const Moments m = MomentsOf(a[0]), mc = MomentsOf(c[0]);
      // Standard errors at n = 200000 are below 0.003; 5 of them.
      EXPECT_NEAR(m.mean, w.mean, 0.01);
      EXPECT_NEAR(m.var, w.var, 0.015);
      EXPECT_NEAR(m.mean, mc.mean, 0.015);
      EXPECT_NEAR(m.var, mc.var, 0.02);
      EXPECT_GE(m.min, w.lo);
      EXPECT_LE(m.max, w.hi);
      if (std::string(w.type) == "RandomUniform") EXPECT_LT(m.max, 1.0);
    }
  }
}

TEST(GpuKernelTest, DropoutMaskKeepsTheRightFraction) {
  PSFLOW_GPU_OR_SKIP(gpu, 0);
  Graph g;
  Scope s(&g);
  Output x = ops::Placeholder(s, DType::kFloat, PartialShape({400, 250}), "x");
  Output mask = ops::MakeOp(s, "DropoutMask", "mask", {x}, {{"rate", 0.3f}, {"seed", int64_t{3}}, {"seed2", int64_t{4}}});
  ASSERT_TRUE(s.status().ok());
  Session dev(&g, {.gpu = gpu});
  std::vector<Tensor> out;
  ASSERT_TRUE(dev.Run({{x, Tensor(DType::kFloat, TensorShape({400, 250}))}}, {mask}, &out).ok());
  const Moments m = MomentsOf(out[0]);
  EXPECT_NEAR(m.zeros / 100000.0, 0.3, 0.01);
  EXPECT_FLOAT_EQ(static_cast<float>(m.max), 1.f / 0.7f);
  EXPECT_NEAR(m.mean, 1.0, 0.02);  // 1/keep on the kept ones: the expectation stays 1
}

// The CPU and the GPU kernel draw the same Philox stream from the same
// seeds: the same node gives the same mask on either, run after run.
TEST(GpuKernelTest, DropoutMaskIsTheSameOnTheCpu) {
  PSFLOW_GPU_OR_SKIP(gpu, 0);
  Graph g;
  Scope s(&g);
  Output x = ops::Placeholder(s, DType::kFloat, PartialShape({300, 70}), "x");
  Output mask = ops::MakeOp(s, "DropoutMask", "mask", {x}, {{"rate", 0.4f}, {"seed", int64_t{7}}, {"seed2", int64_t{9}}});
  ASSERT_TRUE(s.status().ok());
  Session cpu(&g);
  Session dev(&g, {.gpu = gpu});
  const FeedList feeds = {{x, Tensor(DType::kFloat, TensorShape({300, 70}))}};
  for (int run = 0; run < 3; ++run) {
    std::vector<Tensor> want, got;
    ASSERT_TRUE(cpu.Run(feeds, {mask}, &want).ok());
    ASSERT_TRUE(dev.Run(feeds, {mask}, &got).ok());
    const auto w = want[0].flat<float>(), d = got[0].flat<float>();
    ASSERT_EQ(w.size(), d.size());
    int64_t differ = 0;
    for (size_t i = 0; i < w.size(); ++i) differ += w[i] != d[i];
    EXPECT_EQ(differ, 0) << "run " << run;
  }
}

// Runs the graph's fetches on the CPU and on the GPU and compares them.
void ExpectSameOnBoth(GpuDevice* gpu, const Graph& g, const FeedList& feeds, const std::vector<Output>& fetches,
                      const std::vector<Node*>& targets = {}) {
  Session cpu(&g);
  Session dev(&g, {.gpu = gpu});
  std::vector<Tensor> want, got;
  ASSERT_TRUE(cpu.Run(feeds, fetches, targets, &want).ok());
  Status s = dev.Run(feeds, fetches, targets, &got);
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(gpu_test::Near(got[i], want[i], 1e-6, 1e-7)) << fetches[i].name();
}

TEST(GpuKernelTest, ConstsAreCopiedOnceAndReused) {
  PSFLOW_GPU_OR_SKIP(gpu, 0);
  Graph g;
  Scope s(&g);
  Output c = ops::Const(s, Tensor::FromVector<float>({1, 2, 3, 4}, TensorShape({2, 2})));
  Output x = ops::Placeholder(s, DType::kFloat, PartialShape({2, 2}), "x");
  Output y = ops::Mul(s, ops::Add(s, x, c), c);
  ASSERT_TRUE(s.status().ok());
  Session dev(&g, {.gpu = gpu});
  const Tensor feed = Tensor::FromVector<float>({1, 1, 1, 1}, TensorShape({2, 2}));
  std::vector<Tensor> out;
  ASSERT_TRUE(dev.Run({{x, feed}}, {y, c}, &out).ok());
  EXPECT_TRUE(out[0].Equals(Tensor::FromVector<float>({2, 6, 12, 20}, TensorShape({2, 2}))));
  const size_t pool = gpu->pool_bytes();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(dev.Run({{x, feed}}, {y}, &out).ok());
  EXPECT_EQ(gpu->pool_bytes(), pool);  // no new device memory for the constant
  EXPECT_TRUE(out[0].Equals(Tensor::FromVector<float>({2, 6, 12, 20}, TensorShape({2, 2}))));
}

TEST(GpuKernelTest, UnfedPlaceholderSaysWhatToFeed) {
  PSFLOW_GPU_OR_SKIP(gpu, 0);
  Graph g;
  Scope s(&g);
  Output x = ops::Placeholder(s, DType::kFloat, PartialShape({-1, 3}), "x");
  Output y = ops::Relu(s, x);
  Node* noop = ops::NoOp(s.WithControlDependencies({y.node}), "after");
  ASSERT_TRUE(s.status().ok());
  Session dev(&g, {.gpu = gpu});
  std::vector<Tensor> out;
  Status st = dev.Run({}, {y}, &out);
  EXPECT_THAT(st.message(), ::testing::HasSubstr("You must feed a value for placeholder tensor 'x'"));
  ASSERT_TRUE(dev.Run({{x, Tensor::FromVector<float>({-1, 2, 3}, TensorShape({1, 3}))}}, {}, {noop}, &out).ok());
}

TEST(GpuKernelTest, VariablesAssignAndUpdateOnTheDevice) {
  PSFLOW_GPU_OR_SKIP(gpu, 0);
  for (DType t : kNumeric) {
    Graph g;
    Scope s(&g);
    Output v = ops::VariableV2(s, "v", t, PartialShape({2, 3}));
    Output init = ops::Assign(s, v, ops::Const(s, Random(t, S({2, 3}), -5, 5, 7)));
    Output d = ops::Const(s, Random(t, S({2, 3}), -5, 5, 8));
    Output add = ops::AssignAdd(s, v, d);
    Output sub = ops::AssignSub(s, v, ops::Mul(s, d, d));
    Output read = ops::Identity(s, v, "read");
    ASSERT_TRUE(s.status().ok());
    Session cpu(&g);
    Session dev(&g, {.gpu = gpu});
    for (Session* sess : {&cpu, &dev}) {
      std::vector<Tensor> out;
      ASSERT_TRUE(sess->Run({}, {init}, &out).ok());
      ASSERT_TRUE(sess->Run({}, {add}, &out).ok());
      ASSERT_TRUE(sess->Run({}, {add}, &out).ok());
      Status st = sess->Run({}, {sub}, &out);
      ASSERT_TRUE(st.ok()) << st;
    }
    std::vector<Tensor> want, got;
    ASSERT_TRUE(cpu.Run({}, {read}, &want).ok());
    ASSERT_TRUE(dev.Run({}, {read}, &got).ok());
    EXPECT_TRUE(gpu_test::Near(got[0], want[0], 1e-6, 1e-6)) << DTypeName(t);
    // The value lives on the device now; a host value assigned from outside
    // (a pull from a PS) moves there on first use.
    auto stored = dev.variables()->Read("v");
    ASSERT_TRUE(stored.ok());
    EXPECT_EQ(stored->device(), gpu->device());
    ASSERT_TRUE(dev.variables()->Assign("v", want[0]).ok());
    ASSERT_TRUE(dev.Run({}, {read}, &got).ok());
    EXPECT_TRUE(gpu_test::Near(got[0], want[0], 0, 0));
  }
}

TEST(GpuKernelTest, LabelOutOfRangeNamesTheNode) {
  PSFLOW_GPU_OR_SKIP(gpu, 0);
  Graph g;
  Scope s(&g);
  Output logits = ops::Placeholder(s, DType::kFloat, PartialShape({3, 5}), "logits");
  Output labels = ops::Placeholder(s, DType::kInt32, PartialShape({3}), "labels");
  Output loss = ops::SparseSoftmaxCrossEntropyWithLogits(s, logits, labels, "xent");
  ASSERT_TRUE(s.status().ok());
  Session dev(&g, {.gpu = gpu});
  std::vector<Tensor> out;
  Status st = dev.Run({{logits, Random(DType::kFloat, S({3, 5}), -1, 1, 3)}, {labels, Ints({0, 4, 5}, DType::kInt32)}},
                      {loss}, &out);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), ::testing::HasSubstr("node xent (SparseSoftmaxCrossEntropyWithLogits)"));
  EXPECT_THAT(st.message(), ::testing::HasSubstr("label value of 5 (row 2) which is outside the valid range of [0, 5)"));
}

TEST(GpuKernelTest, GatherIndexOutOfRangeNamesTheNode) {
  PSFLOW_GPU_OR_SKIP(gpu, 0);
  Graph g;
  Scope s(&g);
  Output params = ops::Placeholder(s, DType::kFloat, PartialShape({10, 4}), "params");
  Output idx = ops::Placeholder(s, DType::kInt64, PartialShape({3}), "idx");
  Output y = ops::Gather(s, params, idx, "lookup");
  ASSERT_TRUE(s.status().ok());
  Session dev(&g, {.gpu = gpu});
  std::vector<Tensor> out;
  Status st = dev.Run({{params, Random(DType::kFloat, S({10, 4}), -1, 1, 3)}, {idx, Ints({2, 12, 1}, DType::kInt64)}}, {y}, &out);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), ::testing::HasSubstr("node lookup (Gather)"));
  EXPECT_THAT(st.message(), ::testing::HasSubstr("indices[1] = 12 is not in [0, 10)"));
  // Params without rows: every index is out of range, as on the CPU.
  Graph g2;
  Scope s2(&g2);
  Output empty = ops::Placeholder(s2, DType::kFloat, PartialShape({0, 4}), "empty");
  Output idx2 = ops::Placeholder(s2, DType::kInt32, PartialShape({2}), "idx");
  Output y2 = ops::Gather(s2, empty, idx2, "lookup_empty");
  ASSERT_TRUE(s2.status().ok());
  Session dev2(&g2, {.gpu = gpu});
  st = dev2.Run({{empty, Tensor(DType::kFloat, TensorShape({0, 4}))}, {idx2, Ints({0, 1}, DType::kInt32)}}, {y2}, &out);
  EXPECT_THAT(st.message(), ::testing::HasSubstr("indices[0] = 0 is not in [0, 0)"));
  // The error is cleared: the next good step runs.
  st = dev.Run({{params, Random(DType::kFloat, S({10, 4}), -1, 1, 3)}, {idx, Ints({2, 9, 1}, DType::kInt64)}}, {y}, &out);
  EXPECT_TRUE(st.ok()) << st;
}

TEST(GpuKernelCoverageTest, EveryOpHasAGpuKernelAndACase) {
  PSFLOW_GPU_OR_SKIP(gpu, 0);
  RegisterStandardOps();
  RegisterTrainOps();
  metrics::RegisterMetricOps();
  std::set<std::string> cased = TypesWithOwnTests();
  for (const OpCase& c : AllCases()) cased.insert(c.type);
  // Ops that read or write strings: strings never live on a GPU, so the
  // session keeps these on the CPU (common/runtime/session.cc).
  // Unique and the feature-column ops too (DenseToSparse, SparseCrossHashed,
  // VocabularyLookup, SparseDropNegative): their outputs' sizes depend on the values, so they
  // run where the host can read them (their inputs are ids from the input
  // pipeline).  The dynamic embedding lookups too: a hash index over the
  // keys, built on the host (parameter-server trainers never run them).
  // IsVariableInitialized reads the variable store's bookkeeping, no tensor.
  const std::set<std::string> string_ops = {"AsString", "StringToHashBucketFast", "Unique", "DenseToSparse",
                                            "SparseCrossHashed", "VocabularyLookup", "SparseDropNegative",
                                            "DynamicEmbeddingLookup", "DynamicEmbeddingIndex",
                                            "IsVariableInitialized"};
  std::vector<std::string> missing_kernel, missing_case;
  for (const std::string& type : KernelRegistry::Global()->Types(DeviceKind::kCPU)) {
    if (string_ops.count(type)) continue;
    if (gpu->kernels().Lookup(type, DeviceKind::kGPU) == nullptr) missing_kernel.push_back(type);
    else if (!cased.count(type)) missing_case.push_back(type);
  }
  EXPECT_THAT(missing_kernel, ::testing::IsEmpty()) << "ops without a GPU kernel";
  EXPECT_THAT(missing_case, ::testing::IsEmpty()) << "GPU kernels not compared with the CPU";
}

}  // namespace
}  // namespace psflow
