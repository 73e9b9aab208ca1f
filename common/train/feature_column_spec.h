// A feature column as a job file declares it (model.feature_columns), with
// TensorFlow's names: the type is tf.feature_column's function name, the
// fields its arguments.  Plain data; common/train/feature_column.h builds
// the graph from it.
//
//   {type: numeric_column, key: I1}
//   {type: bucketized_column, source_column: I1, boundaries: [0, 1, 10]}    -> I1_bucketized
//   {type: categorical_column_with_identity, key: C1, num_buckets: 1000}
//   {type: categorical_column_with_hash_bucket, key: C2, hash_bucket_size: 1000, dtype: int64}
//   {type: categorical_column_with_vocabulary_list, key: site, vocabulary_list: [a, b], num_oov_buckets: 1}
//   {type: crossed_column, keys: [C2, C1], hash_bucket_size: 10000}           -> C1_X_C2 (keys sorted)
//   {type: embedding_column, categorical_column: C1, dimension: 16}           -> C1_embedding
//   {type: indicator_column, categorical_column: site}                         -> site_indicator
//   {type: categorical_column_with_embedding, key: user_id, filter_freq: 2, steps_to_live: 100000}
//        (DeepRec's name: any int64 id, or a string's Fingerprint64, with no
//        vocabulary; an embedding_column or linear_model over it reads a
//        dynamic embedding table whose rows the PS tasks create as ids come)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/core/status.h"

namespace psflow {

struct FeatureColumnSpec {
  std::string type;
  std::string name;  // empty: TensorFlow's default name (above)
  std::string key;   // numeric_column, categorical_column_*: the input feature
  // bucketized_column: the numeric column; embedding_column, indicator_column:
  // the categorical column (a column name).
  std::string source;
  // crossed_column: input features, or categorical columns whose ids are
  // crossed (a hash bucket column's key crosses its raw values, as
  // TensorFlow allows no hashed column in a cross).
  std::vector<std::string> keys;
  std::vector<int64_t> shape = {1};  // numeric_column: values per example
  std::vector<float> boundaries;     // bucketized_column
  int64_t num_buckets = 0;           // categorical_column_with_identity
  int64_t hash_bucket_size = 0;      // categorical_column_with_hash_bucket, crossed_column
  std::string dtype = "string";      // categorical_column_with_hash_bucket / _vocabulary_list: string or int64
  std::vector<std::string> vocabulary_list;  // integers as their decimal text
  int64_t num_oov_buckets = 0;
  int64_t default_value = -1;        // vocabulary_list: the id of a value not in it (-1: dropped)
  int64_t dimension = 0;             // embedding_column
  std::string combiner = "mean";     // embedding_column: sum, mean or sqrtn
  uint64_t hash_key = 0xDECAFCAFFEull;  // crossed_column (TensorFlow's default)
  // categorical_column_with_embedding: the dynamic tables over it admit an
  // id after filter_freq sightings (<= 1: at once), evict rows unseen for
  // steps_to_live global steps (0: never), and hold at most max_rows rows
  // over all PS tasks (0: no cap), evicting the least recently seen when
  // full (on_full: evict) or failing the step (on_full: error).
  int64_t filter_freq = 0;
  int64_t steps_to_live = 0;
  int64_t max_rows = 0;
  std::string on_full = "evict";
};

// The columns with their default names filled in, after checking each
// (known type, required fields, sources that name a declared column of the
// right kind, unique names).  Errors name the column by its position and
// name and say what to set.
StatusOr<std::vector<FeatureColumnSpec>> ResolveFeatureColumns(std::vector<FeatureColumnSpec> columns);
// Whether a resolved column gives categorical ids (identity, hash bucket,
// vocabulary list, crossed, bucketized, with_embedding) and, if so, how many
// buckets (0 for categorical_column_with_embedding: its ids are unbounded).
bool IsCategoricalColumn(const FeatureColumnSpec& c);
// categorical_column_with_embedding: tables over it are dynamic.
bool IsDynamicColumn(const FeatureColumnSpec& c);
int64_t NumBuckets(const FeatureColumnSpec& c, const std::vector<FeatureColumnSpec>& all);
// The names of the columns no other column wraps (a model's default inputs).
std::vector<std::string> RootFeatureColumns(const std::vector<FeatureColumnSpec>& columns);

}  // namespace psflow
