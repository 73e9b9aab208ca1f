#include "common/train/feature_column.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <set>

#include "common/ops/fingerprint.h"
#include "common/ops/variables.h"

namespace psflow {
namespace {

// indicator_column's counts come from rows of an identity matrix; larger
// vocabularies belong in an embedding_column.
constexpr int64_t kMaxIndicatorBuckets = 4096;

bool MayBeNegative(const FeatureColumnSpec& c);

// Builds the columns for one batch of features, each transformation once.
class Transformer {
 public:
  Transformer(const Scope& s, const std::vector<FeatureColumnSpec>& cols, const std::map<std::string, Output>& f)
      : s_(s), cols_(cols), f_(f) {}

  StatusOr<const FeatureColumnSpec*> Column(const std::string& name) const {
    for (const FeatureColumnSpec& c : cols_) {
      if (c.name == name) return &c;
    }
    std::string known;
    for (const FeatureColumnSpec& c : cols_) known += (known.empty() ? "" : ", ") + c.name;
    return InvalidArgumentError("no feature column named '", name, "'; the columns are ", known);
  }

  // An input feature as it is (dense), or NotFound-style advice.
  StatusOr<Output> Dense(const std::string& key, const std::string& for_column) const {
    auto it = f_.find(key);
    if (it != f_.end()) return it->second;
    if (f_.count(key + "/values")) {
      return InvalidArgumentError("feature column ", for_column, " reads ", key,
                                  " as a dense feature, but the input has it as a VarLen (sparse) feature");
    }
    return InvalidArgumentError("feature column ", for_column, " reads the input feature '", key,
                                "', which the input does not have; declare it in the data's features (or columns)");
  }

  // An input feature as a SparseTensor: a VarLen feature's parts, or a dense
  // one without its missing entries.
  StatusOr<ops::SparseIds> Sparse(const std::string& key, const std::string& for_column) {
    if (auto it = raw_.find(key); it != raw_.end()) return it->second;
    ops::SparseIds ids;
    if (f_.count(key + "/values")) {
      ids = {f_.at(key + "/indices"), f_.at(key + "/values"), f_.at(key + "/dense_shape")};
    } else {
      ASSIGN_OR_RETURN(Output x, Dense(key, for_column));
      if (x.dtype() == DType::kFloat || x.dtype() == DType::kDouble) {
        return InvalidArgumentError("feature column ", for_column, " needs integer or string ids in '", key, "', got ",
                                    DTypeName(x.dtype()), " values; declare the feature as int64 or string");
      }
      ids = ops::DenseToSparse(s_.NameScope(key), x);
    }
    if (ids.values.valid() && ids.values.dtype() == DType::kInt32) ids.values = ops::Cast(s_, ids.values, DType::kInt64);
    return raw_[key] = ids;
  }

  // A categorical column's ids.
  StatusOr<ops::SparseIds> Ids(const FeatureColumnSpec& c) {
    if (auto it = ids_.find(c.name); it != ids_.end()) return it->second;
    const Scope cs = s_.NameScope(c.name);
    ops::SparseIds out;
    if (c.type == "categorical_column_with_identity") {
      ASSIGN_OR_RETURN(out, Sparse(c.key, c.name));
      if (out.values.dtype() != DType::kInt64) {
        return InvalidArgumentError("feature column ", c.name, " (identity) needs integer ids in '", c.key, "'");
      }
    } else if (c.type == "categorical_column_with_hash_bucket") {
      ASSIGN_OR_RETURN(out, Sparse(c.key, c.name));
      Output strings = out.values.dtype() == DType::kString ? out.values : ops::AsString(cs, out.values);
      out.values = ops::StringToHashBucketFast(cs, strings, c.hash_bucket_size);
    } else if (c.type == "categorical_column_with_embedding") {
      // Any int64 id as it is; strings by their Fingerprint64 (non-negative).
      ASSIGN_OR_RETURN(out, Sparse(c.key, c.name));
      if (out.values.dtype() == DType::kString) {
        out.values = ops::StringToHashBucketFast(cs, out.values, std::numeric_limits<int64_t>::max());
      }
    } else if (c.type == "categorical_column_with_vocabulary_list") {
      ASSIGN_OR_RETURN(out, Sparse(c.key, c.name));
      out.values = ops::VocabularyLookup(cs, out.values, c.vocabulary_list, c.num_oov_buckets, c.default_value);
    } else if (c.type == "bucketized_column") {
      ASSIGN_OR_RETURN(Output b, Buckets(c));
      out = ops::DenseToSparse(cs, b, /*drop_missing=*/false, static_cast<int64_t>(c.boundaries.size() + 1));
    } else if (c.type == "crossed_column") {
      std::vector<ops::SparseIds> parts;
      for (const std::string& k : c.keys) {
        const FeatureColumnSpec* kc = nullptr;
        for (const FeatureColumnSpec& o : cols_) {
          // TensorFlow crosses a hash bucket column's raw values, not its buckets.
          if (o.name == k && IsCategoricalColumn(o) && o.type != "categorical_column_with_hash_bucket") kc = &o;
        }
        if (kc != nullptr) {
          ASSIGN_OR_RETURN(ops::SparseIds p, Ids(*kc));
          parts.push_back(p);
        } else {
          ASSIGN_OR_RETURN(ops::SparseIds p, Sparse(k, c.name));
          parts.push_back(p);
        }
      }
      out = ops::SparseCrossHashed(cs, parts, c.hash_bucket_size, c.hash_key);
    } else {
      return InvalidArgumentError("feature column ", c.name, " (", c.type, ") is not categorical");
    }
    RETURN_IF_ERROR(s_.status());
    return ids_[c.name] = out;
  }

  // bucketized_column's bucket of each value, [batch, d] int32.
  StatusOr<Output> Buckets(const FeatureColumnSpec& c) {
    ASSIGN_OR_RETURN(const FeatureColumnSpec* src, Column(c.source));
    ASSIGN_OR_RETURN(Output x, Numeric(*src));
    return ops::Bucketize(s_.NameScope(c.name), x, c.boundaries);
  }

  // numeric_column: float [batch, elements].
  StatusOr<Output> Numeric(const FeatureColumnSpec& c) {
    ASSIGN_OR_RETURN(Output x, Dense(c.key, c.name));
    if (x.dtype() == DType::kString) {
      return InvalidArgumentError("feature column ", c.name, " (numeric) reads strings from '", c.key, "'");
    }
    const Scope cs = s_.NameScope(c.name);
    int64_t n = 1;
    for (int64_t d : c.shape) n *= d;
    return ops::Reshape(cs, ops::Cast(cs, x, DType::kFloat), {-1, n});
  }

  // A column as input_layer gives it: float [batch, width].
  StatusOr<Output> DenseColumn(const Scope& vs, const FeatureColumnSpec& c) {
    if (c.type == "numeric_column") return Numeric(c);
    if (c.type == "bucketized_column") {
      ASSIGN_OR_RETURN(Output b, Buckets(c));
      const Scope cs = s_.NameScope(c.name);
      return ops::Reshape(cs, ops::OneHot(cs, b, static_cast<int64_t>(c.boundaries.size() + 1)), {-1, NumBuckets(c, cols_)});
    }
    if (c.type == "embedding_column" || c.type == "indicator_column") {
      ASSIGN_OR_RETURN(const FeatureColumnSpec* src, Column(c.source));
      ASSIGN_OR_RETURN(ops::SparseIds ids, Ids(*src));
      const int64_t buckets = NumBuckets(*src, cols_);
      const Scope cs = vs.VariableScope(c.name);
      if (c.type == "embedding_column") {
        const float stddev = 1 / std::sqrt(static_cast<float>(c.dimension));
        if (IsDynamicColumn(*src)) {
          ASSIGN_OR_RETURN(RowsFn rows, DynamicTable(cs, "embedding_weights", *src, c.dimension, false, stddev));
          return Lookup(cs, rows, ids, c.combiner, false);
        }
        ASSIGN_OR_RETURN(Variable* table, GetVariable(cs, "embedding_weights", TensorShape({buckets, c.dimension}),
                                                      DType::kFloat, TruncatedNormalInitializer(0, stddev)));
        return Lookup(cs, GatherFrom(table->value), ids, c.combiner, MayBeNegative(*src));
      }
      if (buckets > kMaxIndicatorBuckets) {
        return InvalidArgumentError("feature column ", c.name, ": indicator_column of ", buckets, " buckets (at most ",
                                    kMaxIndicatorBuckets, "); use an embedding_column for large vocabularies");
      }
      Tensor eye(DType::kFloat, TensorShape({buckets, buckets}));
      auto e = eye.flat<float>();
      std::fill(e.begin(), e.end(), 0.f);
      for (int64_t i = 0; i < buckets; ++i) e[static_cast<size_t>(i * buckets + i)] = 1.f;
      return Lookup(cs, GatherFrom(ops::Const(cs, eye, "one_hot_rows")), ids, "sum", MayBeNegative(*src));
    }
    return InvalidArgumentError("feature column ", c.name, " (", c.type,
                                ") is categorical: wrap it in an embedding_column or indicator_column for a DNN's input");
  }

  // The rows of a table at distinct ids.
  using RowsFn = std::function<Output(const Scope&, Output unique_ids)>;
  static RowsFn GatherFrom(Output table) {
    return [table](const Scope& cs, Output unique) { return ops::Gather(cs, table, unique, "embedding_lookup"); };
  }
  // A dynamic embedding table over `src` (categorical_column_with_embedding)
  // in the current variable scope: its lookups.
  StatusOr<RowsFn> DynamicTable(const Scope& cs, const std::string& name, const FeatureColumnSpec& src, int64_t dim,
                                bool zeros, float stddev) {
    const std::string full = cs.variable_scope().empty() ? name : cs.variable_scope() + "/" + name;
    const std::optional<int64_t> graph_seed = cs.graph()->seed();
    EmbeddingVariableSpec spec{.dim = dim, .zeros_init = zeros, .stddev = stddev,
                               .seed = Fingerprint64(full) ^ static_cast<uint64_t>(graph_seed.value_or(0)),
                               .filter_freq = src.filter_freq, .steps_to_live = src.steps_to_live,
                               .max_rows = src.max_rows, .evict_when_full = src.on_full != "error"};
    ASSIGN_OR_RETURN(EmbeddingVariable ev, GetEmbeddingVariable(cs, name, spec));
    return RowsFn([ev](const Scope& s, Output unique) {
      return ops::DynamicEmbeddingLookup(s, ev.keys->value, ev.values->value, unique, "embedding_lookup");
    });
  }

  // Rows of a table at the ids, combined per example: TensorFlow's
  // embedding_lookup_sparse (each distinct id's row gathered once).
  // A vocabulary's unknown values (-1) are left out, as in TensorFlow.
  Output Lookup(const Scope& cs, const RowsFn& rows_of, ops::SparseIds ids, const std::string& combiner,
                bool may_be_negative) {
    if (may_be_negative) ids = ops::SparseDropNegative(cs, ids);
    Output segments = ops::Reshape(cs, ops::Slice(cs, ids.indices, {0, 0}, {-1, 1}), {-1}, "segment_ids");
    Output batch = ops::Reshape(cs, ops::Slice(cs, ids.dense_shape, {0}, {1}), {}, "batch_size");
    auto [unique, idx] = ops::Unique(cs, ids.values);
    Output rows = rows_of(cs, unique);
    return ops::SparseSegmentReduce(cs, combiner, rows, idx, segments, batch, "embedding_lookup_sparse");
  }

 private:
  const Scope s_;
  const std::vector<FeatureColumnSpec>& cols_;
  const std::map<std::string, Output>& f_;
  std::map<std::string, ops::SparseIds> raw_, ids_;
};

// Whether a column's ids may include -1 (a vocabulary without OOV buckets).
bool MayBeNegative(const FeatureColumnSpec& c) {
  return c.type == "categorical_column_with_vocabulary_list" && c.num_oov_buckets == 0 && c.default_value < 0;
}

std::vector<std::string> Sorted(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

}  // namespace

StatusOr<Output> InputLayer(const Scope& s, const std::vector<FeatureColumnSpec>& cols,
                            const std::map<std::string, Output>& features, const std::vector<std::string>& names) {
  if (names.empty()) return InvalidArgumentError("input_layer needs at least one feature column");
  const Scope vs = s.VariableScope("input_layer");
  Transformer t(vs, cols, features);
  std::vector<Output> parts;
  for (const std::string& n : Sorted(names)) {
    ASSIGN_OR_RETURN(const FeatureColumnSpec* c, t.Column(n));
    ASSIGN_OR_RETURN(Output d, t.DenseColumn(vs, *c));
    parts.push_back(d);
  }
  Output x = parts.size() == 1 ? parts[0] : ops::Concat(vs, parts, 1);
  RETURN_IF_ERROR(s.status());
  return x;
}

StatusOr<Output> LinearModel(const Scope& s, const std::vector<FeatureColumnSpec>& cols,
                             const std::map<std::string, Output>& features, const std::vector<std::string>& names,
                             int64_t units) {
  if (names.empty()) return InvalidArgumentError("linear_model needs at least one feature column");
  const Scope vs = s.VariableScope("linear_model");
  Transformer t(vs, cols, features);
  std::vector<Output> parts;
  for (const std::string& n : Sorted(names)) {
    ASSIGN_OR_RETURN(const FeatureColumnSpec* c, t.Column(n));
    const Scope cs = vs.VariableScope(c->name);
    if (IsDynamicColumn(*c)) {
      // Weights of ids with no vocabulary: a dynamic table of `units` wide rows, zeros at first.
      ASSIGN_OR_RETURN(ops::SparseIds ids, t.Ids(*c));
      ASSIGN_OR_RETURN(auto rows, t.DynamicTable(cs, "weights", *c, units, true, 0.f));
      parts.push_back(t.Lookup(cs, rows, ids, "sum", false));
    } else if (IsCategoricalColumn(*c)) {
      ASSIGN_OR_RETURN(ops::SparseIds ids, t.Ids(*c));
      ASSIGN_OR_RETURN(Variable* w, GetVariable(cs, "weights", TensorShape({NumBuckets(*c, cols), units}), DType::kFloat,
                                                ZerosInitializer()));
      parts.push_back(t.Lookup(cs, Transformer::GatherFrom(w->value), ids, "sum", MayBeNegative(*c)));
    } else {
      ASSIGN_OR_RETURN(Output d, t.DenseColumn(vs, *c));
      const int64_t width = d.shape().unknown_rank() || d.shape().rank() != 2 ? kUnknownDim : d.shape().dim(1);
      if (width == kUnknownDim) return InvalidArgumentError("feature column ", c->name, ": its width is unknown");
      ASSIGN_OR_RETURN(Variable* w, GetVariable(cs, "weights", TensorShape({width, units}), DType::kFloat, ZerosInitializer()));
      parts.push_back(ops::MatMul(cs, d, w->value, false, false, "weighted_sum"));
    }
  }
  ASSIGN_OR_RETURN(Variable* bias, GetVariable(vs, "bias_weights", TensorShape({units}), DType::kFloat, ZerosInitializer()));
  Output sum = parts.size() == 1 ? parts[0] : ops::AddN(vs, parts, "weighted_sum_no_bias");
  Output y = ops::BiasAdd(vs, sum, bias->value, "weighted_sum");
  RETURN_IF_ERROR(s.status());
  return y;
}

StatusOr<ops::SparseIds> CategoricalIds(const Scope& s, const std::vector<FeatureColumnSpec>& cols,
                                        const std::map<std::string, Output>& features, const std::string& name) {
  Transformer t(s, cols, features);
  ASSIGN_OR_RETURN(const FeatureColumnSpec* c, t.Column(name));
  return t.Ids(*c);
}

}  // namespace psflow
