// Layers and losses as tf.compat.v1.layers / tf.compat.v1.losses build them.
//
//   ASSIGN_OR_RETURN(Output h, layers::Dense(s, x, 256, "relu"));          // dense/kernel, dense/bias
//   ASSIGN_OR_RETURN(Output logits, layers::Dense(s, h, 10));              // dense_1/...
//   Output loss = losses::SparseSoftmaxCrossEntropy(s, labels, logits);    // mean over the batch
//   Output acc = metrics::BatchAccuracy(s, labels, logits);
//
// Layer names are uniquified per graph (dense, dense_1, ...) and become the
// variable scope of the layer's variables.  Not thread-safe (graph building).
#pragma once

#include <map>
#include <string>

#include "common/ops/variables.h"

namespace psflow {
namespace layers {

// activation: "" / "linear", "relu", "sigmoid", "tanh".
Output Activate(const Scope& s, Output x, const std::string& activation);

struct DenseOptions {
  std::string activation;
  bool use_bias = true;
  Initializer kernel_initializer;  // default: glorot uniform
  Initializer bias_initializer;    // default: zeros
  std::string name = "dense";
};
StatusOr<Output> Dense(const Scope& s, Output x, int64_t units, DenseOptions options = {});
inline StatusOr<Output> Dense(const Scope& s, Output x, int64_t units, const std::string& activation) {
  return Dense(s, x, units, DenseOptions{.activation = activation});
}
// Flattens all but the first dimension.
Output Flatten(const Scope& s, Output x, const std::string& name = "flatten");

struct Conv2DOptions {
  std::vector<int64_t> strides = {1, 1};
  std::string padding = "valid";  // "valid" or "same", as tf.layers
  std::string activation;
  bool use_bias = true;
  std::string name = "conv2d";
};
// NHWC convolution with `filters` outputs and a kh x kw window: variables
// conv2d/kernel [kh, kw, in, filters] and conv2d/bias.
StatusOr<Output> Conv2D(const Scope& s, Output x, int64_t filters, int64_t kh, int64_t kw,
                        Conv2DOptions options = {});
Output MaxPooling2D(const Scope& s, Output x, int64_t pool, int64_t stride,
                    const std::string& padding = "valid", const std::string& name = "max_pooling2d");
// Dropout when `training`, identity otherwise (the evaluation graph has none).
Output Dropout(const Scope& s, Output x, float rate, bool training, const std::string& name = "dropout");

struct BatchNormOptions {
  float momentum = 0.99f;
  float epsilon = 1e-3f;
  std::string name = "batch_normalization";
};
// Normalises over all but the last dimension.  Variables gamma, beta and the
// non-trainable moving_mean / moving_variance (MOVING_AVERAGE_VARIABLES).
// When training, batch statistics are used and the moving-average updates
// are added to UPDATE_OPS (run them with the train op, as TF requires).
StatusOr<Output> BatchNormalization(const Scope& s, Output x, bool training, BatchNormOptions options = {});

// Embedding lookup: variable <name>/embeddings [vocab, dim]; ids int32/int64.
// Its gradient is row-sparse.
StatusOr<Output> Embedding(const Scope& s, Output ids, int64_t vocab, int64_t dim,
                           const std::string& name = "embedding");
// TensorFlow's embedding_column over a VarLen id feature (the batch's
// SparseTensor `<key>/indices`, `/values`, `/dense_shape`): variable
// <name>/embedding_weights [vocab, dim] (default name "<key>_embedding"),
// each example's ids' rows combined by "sum", "mean" (TensorFlow's
// default) or "sqrtn"; an example without ids gives zeros.  [batch, dim].
StatusOr<Output> EmbeddingColumn(const Scope& s, const std::map<std::string, Output>& features, const std::string& key,
                                 int64_t vocab, int64_t dim, const std::string& combiner = "mean",
                                 const std::string& name = "");

}  // namespace layers

namespace losses {
// How per-example losses become the loss: kMean is TensorFlow's
// SUM_BY_NONZERO_WEIGHTS with unit weights (the default), kSum adds them,
// kNone keeps them per element.
enum class Reduction { kNone, kSum, kMean };

// Sparse softmax cross-entropy from int labels [batch] and logits
// [batch, classes]; added to LOSSES (unless kNone).
Output SparseSoftmaxCrossEntropy(const Scope& s, Output labels, Output logits,
                                 Reduction reduction = Reduction::kMean);
// Elementwise logistic loss from labels in [0, 1] and logits of one shape.
Output SigmoidCrossEntropy(const Scope& s, Output labels, Output logits,
                           Reduction reduction = Reduction::kMean);
// (predictions - labels)^2.
Output MeanSquaredError(const Scope& s, Output labels, Output predictions,
                        Reduction reduction = Reduction::kMean);
}  // namespace losses

namespace metrics {
// Fraction of rows whose argmax equals the label, for one batch.
Output BatchAccuracy(const Scope& s, Output labels, Output logits);
}  // namespace metrics

}  // namespace psflow
