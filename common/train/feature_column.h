// Feature columns on the graph, as tf.compat.v1.feature_column.input_layer
// and linear_model build them, with TensorFlow's variable names:
//
//   ASSIGN_OR_RETURN(auto cols, ResolveFeatureColumns(specs));
//   ASSIGN_OR_RETURN(Output x, InputLayer(s, cols, features, {"I1", "C1_embedding"}));   // [batch, 1 + 16]
//   ASSIGN_OR_RETURN(Output l, LinearModel(s, cols, features, {"C1", "C1_X_C2"}, 1));  // [batch, 1]
//
// Input features are the batch's tensors: a dense one under its key
// ([batch] or [batch, k]), or a VarLen one as the SparseTensor
// "<key>/indices", "<key>/values", "<key>/dense_shape".  Dense categorical
// inputs lose their missing entries (-1, "") as in TensorFlow.  Columns are
// taken in name order (TensorFlow sorts them), whatever the order asked.
//
// input_layer: numeric columns as they are, bucketized ones one-hot,
// embedding_column the combined rows of <scope>/input_layer/<name>/embedding_weights
// [buckets, dimension] (truncated normal, stddev 1/sqrt(dimension)),
// indicator_column the per-bucket counts.  linear_model: the sum over
// columns of x * <scope>/linear_model/<name>/weights (a categorical
// column's weights summed over its ids, TensorFlow's sparse_combiner
// "sum"), plus linear_model/bias_weights; all start at zero.
// Embedding and linear lookups read their tables only through Gathers of
// the batch's unique ids, so parameter-server trainers pull them by rows.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/ops/ops.h"
#include "common/train/feature_column_spec.h"

namespace psflow {

StatusOr<Output> InputLayer(const Scope& s, const std::vector<FeatureColumnSpec>& columns,
                            const std::map<std::string, Output>& features, const std::vector<std::string>& names);
StatusOr<Output> LinearModel(const Scope& s, const std::vector<FeatureColumnSpec>& columns,
                             const std::map<std::string, Output>& features, const std::vector<std::string>& names,
                             int64_t units);
// A categorical column's ids for the batch (tests, custom model_fns).
StatusOr<ops::SparseIds> CategoricalIds(const Scope& s, const std::vector<FeatureColumnSpec>& columns,
                                        const std::map<std::string, Output>& features, const std::string& name);

}  // namespace psflow
