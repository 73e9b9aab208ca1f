// Op wrappers: build graph nodes the way TensorFlow's Python API does.
//
//   Graph g;  Scope s(&g);
//   Output x = ops::Placeholder(s, DType::kFloat, PartialShape({-1, 784}), "x");
//   Output w = ops::Const(s, Tensor::FromVector<float>(...));
//   Output y = ops::Relu(s, ops::MatMul(s, x, w));
//   RETURN_IF_ERROR(s.status());
//
// Each wrapper returns the op's (first) output and records any error in the
// scope; an invalid Output flows through later wrappers harmlessly.  Default
// node names follow TensorFlow's Python API: ops::Add is tf.add ("Add"),
// while the operators below are Python's (`x + y` is "add", `x * y` "mul");
// pass `name` to choose one (it is still uniquified).  Ops are registered on first
// use of this header's functions (RegisterStandardOps).
// Not thread-safe (graph building is single-threaded).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/graph/op_registry.h"
#include "common/graph/scope.h"

namespace psflow {

// Registers every op, kernel and gradient of psflow's standard library.
// Idempotent and thread-safe.
void RegisterStandardOps();

namespace ops {

// Creates a node of `type` with `inputs` and `attrs`; returns output 0 or an
// invalid Output (the error is in the scope).
Output MakeOp(const Scope& s, const std::string& type, const std::string& name,
              std::vector<Output> inputs, std::map<std::string, AttrValue> attrs = {});
Node* MakeNode(const Scope& s, const std::string& type, const std::string& name,
               std::vector<Output> inputs, std::map<std::string, AttrValue> attrs = {});

// Sources.
Output Const(const Scope& s, Tensor value, const std::string& name = "Const");
Output Const(const Scope& s, float v, const std::string& name = "Const");
Output Placeholder(const Scope& s, DType dtype, PartialShape shape, const std::string& name = "Placeholder");
Output Identity(const Scope& s, Output x, const std::string& name = "Identity");
Output StopGradient(const Scope& s, Output x, const std::string& name = "StopGradient");
Node* NoOp(const Scope& s, const std::string& name = "NoOp");
// A NoOp that depends on every node in `deps` (tf.group).
Node* Group(const Scope& s, const std::vector<Node*>& deps, const std::string& name = "group_deps");

// Elementwise, with NumPy broadcasting.
Output Add(const Scope& s, Output x, Output y, const std::string& name = "Add");       // tf.add
Output Sub(const Scope& s, Output x, Output y, const std::string& name = "Sub");       // tf.subtract
Output Mul(const Scope& s, Output x, Output y, const std::string& name = "Mul");       // tf.multiply
Output Div(const Scope& s, Output x, Output y, const std::string& name = "truediv");
Output Maximum(const Scope& s, Output x, Output y, const std::string& name = "Maximum");
Output Minimum(const Scope& s, Output x, Output y, const std::string& name = "Minimum");
Output Pow(const Scope& s, Output x, Output y, const std::string& name = "Pow");
Output Neg(const Scope& s, Output x, const std::string& name = "Neg");
Output Square(const Scope& s, Output x, const std::string& name = "Square");
Output Sqrt(const Scope& s, Output x, const std::string& name = "Sqrt");
Output Rsqrt(const Scope& s, Output x, const std::string& name = "Rsqrt");
Output Exp(const Scope& s, Output x, const std::string& name = "Exp");
Output Log(const Scope& s, Output x, const std::string& name = "Log");
Output Relu(const Scope& s, Output x, const std::string& name = "Relu");
Output Relu6(const Scope& s, Output x, const std::string& name = "Relu6");
Output Elu(const Scope& s, Output x, const std::string& name = "Elu");
Output Sigmoid(const Scope& s, Output x, const std::string& name = "Sigmoid");
Output Tanh(const Scope& s, Output x, const std::string& name = "Tanh");
Output AddN(const Scope& s, std::vector<Output> xs, const std::string& name = "AddN");
Output Cast(const Scope& s, Output x, DType to, const std::string& name = "Cast");
Output ZerosLike(const Scope& s, Output x, const std::string& name = "zeros_like");
Output OnesLike(const Scope& s, Output x, const std::string& name = "ones_like");
// Sums `x` over the dimensions along which `like` was broadcast, giving
// `like`'s runtime shape (the gradient of a broadcasting op).
Output SumToShapeOf(const Scope& s, Output x, Output like, const std::string& name = "SumToShapeOf");
// Broadcasts `x` to the runtime shape of `like` (NumPy rules).
Output BroadcastLike(const Scope& s, Output x, Output like, const std::string& name = "BroadcastLike");
// The gradient of a reduction over `axes` of `like`: re-inserts the reduced
// dimensions of `g` and broadcasts it to like's shape, divided by the number
// of reduced elements when `mean`.
Output ReductionGrad(const Scope& s, Output g, Output like, std::vector<int64_t> axes, bool keep_dims,
                     bool mean, const std::string& name = "ReductionGrad");

// Comparisons (bool results, NumPy broadcasting) and ArgMax (int64).
Output Equal(const Scope& s, Output x, Output y, const std::string& name = "Equal");
Output Less(const Scope& s, Output x, Output y, const std::string& name = "Less");
Output Greater(const Scope& s, Output x, Output y, const std::string& name = "Greater");
Output ArgMax(const Scope& s, Output x, int64_t axis, const std::string& name = "ArgMax");

// Linear algebra and reductions.
Output MatMul(const Scope& s, Output a, Output b, bool transpose_a = false,
              bool transpose_b = false, const std::string& name = "MatMul");
Output BiasAdd(const Scope& s, Output x, Output bias, const std::string& name = "BiasAdd");
Output Sum(const Scope& s, Output x, std::vector<int64_t> axes, bool keep_dims = false,
           const std::string& name = "Sum");
Output Mean(const Scope& s, Output x, std::vector<int64_t> axes, bool keep_dims = false,
            const std::string& name = "Mean");
Output Max(const Scope& s, Output x, std::vector<int64_t> axes, bool keep_dims = false,
           const std::string& name = "Max");
Output Reshape(const Scope& s, Output x, std::vector<int64_t> shape, const std::string& name = "Reshape");
// Reshapes x to the runtime shape of `like` (same number of elements).
Output ReshapeLike(const Scope& s, Output x, Output like, const std::string& name = "ReshapeLike");

// Rows of params [N, ...] at indices (int32/int64, any shape): the embedding
// lookup.  Its gradient for params is row-sparse (see gradients.h).
Output Gather(const Scope& s, Output params, Output indices, const std::string& name = "Gather");
// A dynamic embedding table's rows (graph.h's EmbeddingVariableSpec): for
// each id, its row of values [N, d] where keys [N] holds it, else zeros.
// Output [ids..., d]; row-sparse gradient for values.  Parameter-server
// trainers never run it: they pull the ids' rows from the PS tasks.
Output DynamicEmbeddingLookup(const Scope& s, Output keys, Output values, Output ids,
                              const std::string& name = "DynamicEmbeddingLookup");

// Categorical features as TensorFlow hashes them (common/ops/fingerprint.h):
// AsString turns int32/int64 ids into decimal strings; StringToHashBucketFast
// maps strings to Fingerprint64(s) % num_buckets (int64, same shape).
Output AsString(const Scope& s, Output x, const std::string& name = "AsString");
Output StringToHashBucketFast(const Scope& s, Output input, int64_t num_buckets,
                              const std::string& name = "StringToHashBucketFast");
// Bucketize: per element the number of `boundaries` (sorted) <= x, int32,
// as TensorFlow's op and bucketized_column.
Output Bucketize(const Scope& s, Output x, std::vector<float> boundaries, const std::string& name = "Bucketize");
// Unique(x) -> (y, idx): x's distinct values in order of first appearance
// and each element's position in y (int32), as tf.unique.
std::pair<Output, Output> Unique(const Scope& s, Output x, const std::string& name = "Unique");
// A 2-D SparseTensor of categorical values: indices [n, 2] (example,
// position; row-major), values [n], dense_shape [2] (int64).
struct SparseIds {
  Output indices, values, dense_shape;
};
// A dense [batch, k] (or [batch]) id input as a SparseTensor, as feature
// columns take one: with drop_missing, -1 (integers) and "" (strings) are
// left out; integer values become int64 plus column * column_offset.
SparseIds DenseToSparse(const Scope& s, Output x, bool drop_missing = true, int64_t column_offset = 0,
                        const std::string& name = "DenseToSparse");
// TensorFlow's hashed SparseCross (crossed_column): per example every
// combination of the features' values (the last feature fastest), hashed
// with FingerprintCat64 from hash_key and taken % num_buckets.
SparseIds SparseCrossHashed(const Scope& s, const std::vector<SparseIds>& features, int64_t num_buckets,
                            uint64_t hash_key, const std::string& name = "SparseCrossHashed");
// categorical_column_with_vocabulary_list's ids (int64 values match their
// decimal form in `vocabulary`): the position, else an OOV bucket
// (Fingerprint64 % num_oov_buckets after the vocabulary), else default_value.
Output VocabularyLookup(const Scope& s, Output values, std::vector<std::string> vocabulary,
                        int64_t num_oov_buckets = 0, int64_t default_value = -1,
                        const std::string& name = "VocabularyLookup");
// The entries with non-negative values (TensorFlow's safe lookups prune the rest).
SparseIds SparseDropNegative(const Scope& s, const SparseIds& x, const std::string& name = "SparseDropNegative");
// TensorFlow's SparseSegment{Sum,Mean,SqrtN}WithNumSegments (combiner "sum",
// "mean", "sqrtn"): [num_segments, row...], segment k combining the rows
// data[indices[j]] with segment_ids[j] == k; empty segments are zeros.
Output SparseSegmentReduce(const Scope& s, const std::string& combiner, Output data, Output indices,
                           Output segment_ids, Output num_segments, const std::string& name = "");

// Convolution and pooling, NHWC.  strides and ksize are [1, h, w, 1];
// padding "SAME" or "VALID"; filters are [h, w, in_channels, out_channels].
Output Conv2D(const Scope& s, Output input, Output filter, std::vector<int64_t> strides,
              const std::string& padding, const std::string& name = "Conv2D");
Output MaxPool(const Scope& s, Output x, std::vector<int64_t> ksize, std::vector<int64_t> strides,
               const std::string& padding, const std::string& name = "MaxPool");
Output AvgPool(const Scope& s, Output x, std::vector<int64_t> ksize, std::vector<int64_t> strides,
               const std::string& padding, const std::string& name = "AvgPool");

// Shape manipulation.
Output Transpose(const Scope& s, Output x, std::vector<int64_t> perm, const std::string& name = "transpose");
Output ExpandDims(const Scope& s, Output x, int64_t axis, const std::string& name = "ExpandDims");
// Removes the listed size-1 dimensions (all size-1 dimensions when empty).
Output Squeeze(const Scope& s, Output x, std::vector<int64_t> axes = {}, const std::string& name = "Squeeze");
Output Concat(const Scope& s, std::vector<Output> xs, int64_t axis, const std::string& name = "concat");
// size -1: to the end of that dimension.
Output Slice(const Scope& s, Output x, std::vector<int64_t> begin, std::vector<int64_t> size,
             const std::string& name = "Slice");
// tf.strided_slice: x[begin:end:strides] per dimension, with TensorFlow's
// masks (bit i of a mask applies to spec entry i).
struct StridedSliceMasks {
  int64_t begin = 0, end = 0, ellipsis = 0, new_axis = 0, shrink_axis = 0;
};
Output StridedSlice(const Scope& s, Output x, std::vector<int64_t> begin, std::vector<int64_t> end,
                    std::vector<int64_t> strides, const StridedSliceMasks& masks = {},
                    const std::string& name = "strided_slice");
// Out-of-range indices give a row of off_value, as in TensorFlow.
Output OneHot(const Scope& s, Output indices, int64_t depth, float on_value = 1.f, float off_value = 0.f,
              DType dtype = DType::kFloat, const std::string& name = "one_hot");

// Neural network ops.
Output Softmax(const Scope& s, Output logits, const std::string& name = "Softmax");
Output LogSoftmax(const Scope& s, Output logits, const std::string& name = "LogSoftmax");
// sum(x^2) / 2.
Output L2Loss(const Scope& s, Output x, const std::string& name = "L2Loss");
// Elementwise logistic loss: max(x, 0) - x * z + log(1 + exp(-|x|)).
Output SigmoidCrossEntropyWithLogits(const Scope& s, Output labels, Output logits,
                                     const std::string& name = "logistic_loss");
// Per-example loss [batch] from logits and dense label distributions [batch, classes].
Output SoftmaxCrossEntropyWithLogits(const Scope& s, Output logits, Output labels,
                                     const std::string& name = "SoftmaxCrossEntropyWithLogits");
// Per-example loss [batch] from logits [batch, classes] and int32/int64 labels [batch].
Output SparseSoftmaxCrossEntropyWithLogits(const Scope& s, Output logits, Output labels,
                                           const std::string& name = "SparseSoftmaxCrossEntropyWithLogits");

// Random tensors and fills.  With a graph seed (Graph::set_seed) or an op
// seed the values are deterministic.
Output RandomUniform(const Scope& s, std::vector<int64_t> shape, DType dtype = DType::kFloat,
                     std::optional<int64_t> seed = std::nullopt, const std::string& name = "random_uniform");
Output RandomNormal(const Scope& s, std::vector<int64_t> shape, DType dtype = DType::kFloat,
                    std::optional<int64_t> seed = std::nullopt, const std::string& name = "random_normal");
Output TruncatedNormal(const Scope& s, std::vector<int64_t> shape, DType dtype = DType::kFloat,
                       std::optional<int64_t> seed = std::nullopt, const std::string& name = "truncated_normal");
Output Fill(const Scope& s, std::vector<int64_t> shape, float value, DType dtype = DType::kFloat,
            const std::string& name = "Fill");
inline Output Zeros(const Scope& s, std::vector<int64_t> shape, DType dtype = DType::kFloat) {
  return Fill(s, std::move(shape), 0.f, dtype, "zeros");
}
inline Output Ones(const Scope& s, std::vector<int64_t> shape, DType dtype = DType::kFloat) {
  return Fill(s, std::move(shape), 1.f, dtype, "ones");
}
// tf.nn.dropout: zeroes each element with probability `rate` and scales the
// rest by 1/(1-rate); a fresh mask every run.
Output Dropout(const Scope& s, Output x, float rate, std::optional<int64_t> seed = std::nullopt,
               const std::string& name = "dropout");

// Variables (TensorFlow's ref variables: VariableV2 + Assign + read).
Output VariableV2(const Scope& s, const std::string& exact_name, DType dtype, PartialShape shape);
Output Assign(const Scope& s, Output ref, Output value, const std::string& name = "Assign");
Output AssignAdd(const Scope& s, Output ref, Output value, const std::string& name = "AssignAdd");
Output AssignSub(const Scope& s, Output ref, Output value, const std::string& name = "AssignSub");


// The scope the arithmetic operators build in, as TensorFlow's default graph
// and name scope (`with graph.as_default(), tf.name_scope(...)`): while one
// is alive on this thread, `x + y` adds its node there (name scope, device,
// control dependencies, and any error in the scope's status).  Nested ones
// stack.  Without one (or for operands of another graph) the operators build
// at the root of the operands' graph and log an error they meet.
//
//   ops::DefaultScope as_default(s.NameScope("layer"));
//   Output y = x * w + b;        // nodes "layer/mul", "layer/add"
class DefaultScope {
 public:
  explicit DefaultScope(Scope scope);
  ~DefaultScope();
  DefaultScope(const DefaultScope&) = delete;
  DefaultScope& operator=(const DefaultScope&) = delete;
  // The innermost default scope of this thread, or null.
  static const Scope* Current();

 private:
  Scope scope_;
  const DefaultScope* outer_;
};
}  // namespace ops
// Python's arithmetic operators on graph tensors (found by argument-dependent
// lookup): nodes "add", "sub", "mul", "truediv" and "Neg", in the current
// ops::DefaultScope.  A float on one side becomes a constant of the
// tensor's dtype (float, double, int32 or int64), as Python numbers do.
Output operator+(Output x, Output y);
Output operator-(Output x, Output y);
Output operator*(Output x, Output y);
Output operator/(Output x, Output y);
Output operator-(Output x);
Output operator+(Output x, double y);
Output operator+(double x, Output y);
Output operator-(Output x, double y);
Output operator-(double x, Output y);
Output operator*(Output x, double y);
Output operator*(double x, Output y);
Output operator/(Output x, double y);
Output operator/(double x, Output y);

}  // namespace psflow
