#include "common/train/layers.h"

#include <cmath>

#include "common/ops/ops.h"

namespace psflow {
namespace layers {
namespace {

// The first of name, name_1, ... not yet used as a scope in `s`.
std::string UniqueLayerName(const Scope& s, const std::string& name) {
  const std::string prefix = s.name_scope().empty() ? "" : s.name_scope() + "/";
  const std::string full = s.graph()->UniqueName(prefix + name, /*mark_as_used=*/false);
  return full.substr(prefix.size());
}

}  // namespace

Output Activate(const Scope& s, Output x, const std::string& activation) {
  if (activation.empty() || activation == "linear") return x;
  if (activation == "relu") return ops::Relu(s, x);
  if (activation == "sigmoid") return ops::Sigmoid(s, x);
  if (activation == "tanh") return ops::Tanh(s, x);
  s.UpdateStatus(InvalidArgumentError("unknown activation '", activation,
                                      "'; choose one of linear, relu, sigmoid, tanh"))
      .IgnoreError();
  return Output{};
}

StatusOr<Output> Dense(const Scope& s, Output x, int64_t units, DenseOptions o) {
  RETURN_IF_ERROR(s.status());
  if (!x.valid()) return InvalidArgumentError("dense: invalid input");
  const PartialShape& in = x.shape();
  if (in.unknown_rank() || in.rank() != 2 || in.dim(1) < 0) {
    return InvalidArgumentError("dense layer ", o.name, " needs an input of shape [batch, features] "
                                "with known features, got ", in.DebugString(), " from ", x.name());
  }
  const Scope ls = s.VariableScope(UniqueLayerName(s, o.name));
  ASSIGN_OR_RETURN(Variable* kernel, GetVariable(ls, "kernel", TensorShape({in.dim(1), units}), x.dtype(),
                                                 o.kernel_initializer));
  Output y = ops::MatMul(ls, x, kernel->value);
  if (o.use_bias) {
    ASSIGN_OR_RETURN(Variable* bias, GetVariable(ls, "bias", TensorShape({units}), x.dtype(),
                                                 o.bias_initializer ? o.bias_initializer : ZerosInitializer()));
    y = ops::BiasAdd(ls, y, bias->value);
  }
  y = Activate(ls, y, o.activation);
  RETURN_IF_ERROR(s.status());
  return y;
}

Output Flatten(const Scope& s, Output x, const std::string& name) {
  if (!x.valid()) return x;
  const PartialShape& in = x.shape();
  int64_t rest = 1;
  for (int d = 1; !in.unknown_rank() && d < in.rank(); ++d) rest = in.dim(d) < 0 || rest < 0 ? -1 : rest * in.dim(d);
  if (in.unknown_rank() || rest < 0) {
    s.UpdateStatus(InvalidArgumentError("flatten needs known non-batch dimensions, got ", in.DebugString()))
        .IgnoreError();
    return Output{};
  }
  return ops::Reshape(s.NameScope(name), x, {-1, rest});
}

StatusOr<Output> Conv2D(const Scope& s, Output x, int64_t filters, int64_t kh, int64_t kw, Conv2DOptions o) {
  RETURN_IF_ERROR(s.status());
  if (!x.valid()) return InvalidArgumentError("conv2d: invalid input");
  const PartialShape& in = x.shape();
  if (in.unknown_rank() || in.rank() != 4 || in.dim(3) < 0) {
    return InvalidArgumentError("conv2d layer ", o.name, " needs NHWC input with known channels, got ",
                                in.DebugString(), " from ", x.name());
  }
  if (o.padding != "valid" && o.padding != "same") {
    return InvalidArgumentError("conv2d padding must be 'valid' or 'same', got '", o.padding, "'");
  }
  const Scope ls = s.VariableScope(UniqueLayerName(s, o.name));
  ASSIGN_OR_RETURN(Variable* kernel, GetVariable(ls, "kernel", TensorShape({kh, kw, in.dim(3), filters}), x.dtype()));
  Output y = ops::Conv2D(ls, x, kernel->value, {1, o.strides[0], o.strides[1], 1}, o.padding == "same" ? "SAME" : "VALID");
  if (o.use_bias) {
    ASSIGN_OR_RETURN(Variable* bias, GetVariable(ls, "bias", TensorShape({filters}), x.dtype(), ZerosInitializer()));
    y = ops::BiasAdd(ls, y, bias->value);
  }
  y = Activate(ls, y, o.activation);
  RETURN_IF_ERROR(s.status());
  return y;
}

Output MaxPooling2D(const Scope& s, Output x, int64_t pool, int64_t stride, const std::string& padding,
                    const std::string& name) {
  return ops::MaxPool(s.NameScope(UniqueLayerName(s, name)), x, {1, pool, pool, 1}, {1, stride, stride, 1},
                      padding == "same" ? "SAME" : "VALID");
}

Output Dropout(const Scope& s, Output x, float rate, bool training, const std::string& name) {
  if (!training || rate == 0.f) return x;
  return ops::Dropout(s, x, rate, std::nullopt, UniqueLayerName(s, name));
}

StatusOr<Output> BatchNormalization(const Scope& s, Output x, bool training, BatchNormOptions o) {
  RETURN_IF_ERROR(s.status());
  const PartialShape& in = x.shape();
  if (in.unknown_rank() || in.rank() < 2 || in.dim(in.rank() - 1) < 0) {
    return InvalidArgumentError("batch_normalization needs a known last dimension, got ", in.DebugString());
  }
  const int64_t c = in.dim(in.rank() - 1);
  const Scope ls = s.VariableScope(UniqueLayerName(s, o.name));
  ASSIGN_OR_RETURN(Variable* gamma, GetVariable(ls, "gamma", TensorShape({c}), x.dtype(), OnesInitializer()));
  ASSIGN_OR_RETURN(Variable* beta, GetVariable(ls, "beta", TensorShape({c}), x.dtype(), ZerosInitializer()));
  const VariableOptions moving{.trainable = false,
                               .collections = {collections::kGlobalVariables, collections::kMovingAverageVariables}};
  ASSIGN_OR_RETURN(Variable* mm, GetVariable(ls, "moving_mean", TensorShape({c}), x.dtype(), ZerosInitializer(), moving));
  ASSIGN_OR_RETURN(Variable* mv, GetVariable(ls, "moving_variance", TensorShape({c}), x.dtype(), OnesInitializer(), moving));
  std::vector<int64_t> axes;
  for (int d = 0; d + 1 < in.rank(); ++d) axes.push_back(d);
  Output mean = mm->value, var = mv->value;
  if (training) {
    mean = ops::Mean(ls, x, axes, false, "mean");
    var = ops::Mean(ls, ops::Square(ls, ops::Sub(ls, x, mean)), axes, false, "variance");
    // moving -= (moving - batch) * (1 - momentum)
    Output decay = ops::Cast(ls, ops::Const(ls, 1.f - o.momentum), x.dtype());
    Output um = ops::AssignSub(ls, mm->ref, ops::Mul(ls, ops::Sub(ls, mm->value, ops::StopGradient(ls, mean)), decay),
                               "AssignMovingAvg");
    Output uv = ops::AssignSub(ls, mv->ref, ops::Mul(ls, ops::Sub(ls, mv->value, ops::StopGradient(ls, var)), decay),
                               "AssignMovingAvg_1");
    if (um.valid()) s.graph()->AddToCollection(collections::kUpdateOps, um.node);
    if (uv.valid()) s.graph()->AddToCollection(collections::kUpdateOps, uv.node);
  }
  Output eps = ops::Cast(ls, ops::Const(ls, o.epsilon), x.dtype());
  Output scale = ops::Mul(ls, gamma->value, ops::Rsqrt(ls, ops::Add(ls, var, eps)));
  Output y = ops::Add(ls, ops::Mul(ls, ops::Sub(ls, x, mean), scale), beta->value, "batchnorm");
  RETURN_IF_ERROR(s.status());
  return y;
}

StatusOr<Output> Embedding(const Scope& s, Output ids, int64_t vocab, int64_t dim, const std::string& name) {
  RETURN_IF_ERROR(s.status());
  const Scope ls = s.VariableScope(UniqueLayerName(s, name));
  ASSIGN_OR_RETURN(Variable* table, GetVariable(ls, "embeddings", TensorShape({vocab, dim}), DType::kFloat,
                                                RandomUniformInitializer(-0.05f, 0.05f)));
  Output y = ops::Gather(ls, table->value, ids, "embedding_lookup");
  RETURN_IF_ERROR(s.status());
  return y;
}

StatusOr<Output> EmbeddingColumn(const Scope& s, const std::map<std::string, Output>& features, const std::string& key,
                                 int64_t vocab, int64_t dim, const std::string& combiner, const std::string& name) {
  RETURN_IF_ERROR(s.status());
  if (combiner != "sum" && combiner != "mean" && combiner != "sqrtn") {
    return InvalidArgumentError("embedding column ", key, ": combiner '", combiner, "' is not sum, mean or sqrtn");
  }
  auto part = [&](const char* p) -> StatusOr<Output> {
    auto it = features.find(StrCat(key, "/", p));
    if (it == features.end()) {
      return InvalidArgumentError("embedding column ", key, " needs the sparse feature ", key, "/", p,
                                  ": declare ", key, " with var_len: true in the job file's features");
    }
    return it->second;
  };
  ASSIGN_OR_RETURN(Output indices, part("indices"));
  ASSIGN_OR_RETURN(Output values, part("values"));
  ASSIGN_OR_RETURN(Output dense_shape, part("dense_shape"));
  const Scope ls = s.VariableScope(UniqueLayerName(s, name.empty() ? key + "_embedding" : name));
  // TensorFlow's embedding_column initializer: truncated normal, 1/sqrt(dim).
  ASSIGN_OR_RETURN(Variable* table, GetVariable(ls, "embedding_weights", TensorShape({vocab, dim}), DType::kFloat,
                                                TruncatedNormalInitializer(0, 1 / std::sqrt(static_cast<float>(dim)))));
  // embedding_lookup_sparse: each distinct id's row once, combined per example.
  Output segments = ops::Reshape(ls, ops::Slice(ls, indices, {0, 0}, {-1, 1}), {-1}, "segment_ids");
  Output batch = ops::Reshape(ls, ops::Slice(ls, dense_shape, {0}, {1}), {}, "batch_size");
  auto [ids, idx] = ops::Unique(ls, values);
  Output rows = ops::Gather(ls, table->value, ids, "embedding_lookup");
  Output y = ops::SparseSegmentReduce(ls, combiner, rows, idx, segments, batch, "embedding_lookup_sparse");
  RETURN_IF_ERROR(s.status());
  return y;
}

}  // namespace layers

namespace losses {
namespace {
Output Reduce(const Scope& ls, const Scope& s, Output per_example, Reduction r) {
  if (r == Reduction::kNone) return per_example;
  Output loss = r == Reduction::kSum ? ops::Sum(ls, per_example, {}, false, "value")
                                     : ops::Mean(ls, per_example, {}, false, "value");
  if (loss.valid()) s.graph()->AddToCollection(collections::kLosses, loss);
  return loss;
}
}  // namespace

Output SparseSoftmaxCrossEntropy(const Scope& s, Output labels, Output logits, Reduction r) {
  const Scope ls = s.NameScope("sparse_softmax_cross_entropy_loss");
  return Reduce(ls, s, ops::SparseSoftmaxCrossEntropyWithLogits(ls, logits, labels, "xentropy"), r);
}

Output SigmoidCrossEntropy(const Scope& s, Output labels, Output logits, Reduction r) {
  const Scope ls = s.NameScope("sigmoid_cross_entropy_loss");
  if (labels.valid() && logits.valid() && labels.dtype() != logits.dtype()) labels = ops::Cast(ls, labels, logits.dtype());
  return Reduce(ls, s, ops::SigmoidCrossEntropyWithLogits(ls, labels, logits), r);
}

Output MeanSquaredError(const Scope& s, Output labels, Output predictions, Reduction r) {
  const Scope ls = s.NameScope("mean_squared_error");
  return Reduce(ls, s, ops::Square(ls, ops::Sub(ls, predictions, labels)), r);
}

}  // namespace losses

namespace metrics {

Output BatchAccuracy(const Scope& s, Output labels, Output logits) {
  const Scope ms = s.NameScope("accuracy");
  Output pred = ops::ArgMax(ms, logits, 1);
  Output correct = ops::Equal(ms, pred, ops::Cast(ms, labels, DType::kInt64));
  return ops::Mean(ms, ops::Cast(ms, correct, DType::kFloat), {});
}

}  // namespace metrics
}  // namespace psflow
