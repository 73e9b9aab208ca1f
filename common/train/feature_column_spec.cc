#include "common/train/feature_column_spec.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>

#include "common/core/strcat.h"

namespace psflow {
namespace {

const std::set<std::string>& Types() {
  static const std::set<std::string> t = {"numeric_column",
                                          "bucketized_column",
                                          "categorical_column_with_identity",
                                          "categorical_column_with_hash_bucket",
                                          "categorical_column_with_vocabulary_list",
                                          "categorical_column_with_embedding",
                                          "crossed_column",
                                          "embedding_column",
                                          "indicator_column"};
  return t;
}

std::string DefaultName(const FeatureColumnSpec& c) {
  if (c.type == "bucketized_column") return c.source + "_bucketized";
  if (c.type == "embedding_column") return c.source + "_embedding";
  if (c.type == "indicator_column") return c.source + "_indicator";
  if (c.type == "crossed_column") {  // TensorFlow's: the keys sorted
    std::vector<std::string> keys = c.keys;
    std::sort(keys.begin(), keys.end());
    std::string n;
    for (const std::string& k : keys) n += (n.empty() ? "" : "_X_") + k;
    return n;
  }
  return c.key;
}

// The column named `name` among the first `limit` of `all` (all of them by default).
const FeatureColumnSpec* Find(const std::vector<FeatureColumnSpec>& all, const std::string& name,
                              size_t limit = SIZE_MAX) {
  for (size_t i = 0; i < all.size() && i < limit; ++i) {
    if (all[i].name == name) return &all[i];
  }
  return nullptr;
}

int64_t Elements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

}  // namespace

bool IsCategoricalColumn(const FeatureColumnSpec& c) {
  return c.type.rfind("categorical_column_", 0) == 0 || c.type == "crossed_column" || c.type == "bucketized_column";
}

bool IsDynamicColumn(const FeatureColumnSpec& c) { return c.type == "categorical_column_with_embedding"; }

int64_t NumBuckets(const FeatureColumnSpec& c, const std::vector<FeatureColumnSpec>& all) {
  if (c.type == "categorical_column_with_identity") return c.num_buckets;
  if (c.type == "categorical_column_with_hash_bucket" || c.type == "crossed_column") return c.hash_bucket_size;
  if (c.type == "categorical_column_with_vocabulary_list") {
    return static_cast<int64_t>(c.vocabulary_list.size()) + c.num_oov_buckets;
  }
  if (c.type == "bucketized_column") {
    const FeatureColumnSpec* src = Find(all, c.source);
    return static_cast<int64_t>(c.boundaries.size() + 1) * (src ? Elements(src->shape) : 1);
  }
  return 0;
}

StatusOr<std::vector<FeatureColumnSpec>> ResolveFeatureColumns(std::vector<FeatureColumnSpec> cols) {
  std::set<std::string> names;
  for (size_t i = 0; i < cols.size(); ++i) {
    FeatureColumnSpec& c = cols[i];
    if (c.name.empty()) c.name = DefaultName(c);
    const std::string at = StrCat("feature column ", i, " (", c.type, c.name.empty() ? "" : " " + c.name, ")");
    if (!Types().count(c.type)) {
      std::string known;
      for (const std::string& t : Types()) known += (known.empty() ? "" : ", ") + t;
      return InvalidArgumentError(at, ": unknown type '", c.type, "'; choose ", known);
    }
    const bool keyed = c.type == "numeric_column" || c.type.rfind("categorical_column_", 0) == 0;
    const bool wraps = c.type == "bucketized_column" || c.type == "embedding_column" || c.type == "indicator_column";
    if (keyed && c.key.empty()) return InvalidArgumentError(at, ": set key, the input feature it reads");
    if (wraps && c.source.empty()) {
      return InvalidArgumentError(at, ": set ", c.type == "bucketized_column" ? "source_column" : "categorical_column",
                                  ", the name of the column it wraps");
    }
    if (!names.insert(c.name).second) {
      return InvalidArgumentError(at, ": a second column named '", c.name, "'; give one of them another name");
    }
    // The column a wrapper wraps must come before it, so every reference
    // is to a column already checked.
    const FeatureColumnSpec* src = nullptr;
    if (wraps) {
      src = Find(cols, c.source, i);
      if (src == nullptr) {
        return InvalidArgumentError(at, ": '", c.source, "' is not a column declared before it");
      }
    }
    if (c.type == "numeric_column") {
      if (c.shape.empty() || std::any_of(c.shape.begin(), c.shape.end(), [](int64_t d) { return d <= 0; })) {
        return InvalidArgumentError(at, ": shape must be a non-empty list of positive sizes");
      }
    } else if (c.type == "bucketized_column") {
      if (src->type != "numeric_column") return InvalidArgumentError(at, ": source_column '", c.source, "' is not a numeric_column");
      if (src->shape.size() != 1) return InvalidArgumentError(at, ": source_column '", c.source, "' must be one-dimensional");
      if (c.boundaries.empty() || !std::is_sorted(c.boundaries.begin(), c.boundaries.end()) ||
          std::adjacent_find(c.boundaries.begin(), c.boundaries.end()) != c.boundaries.end()) {
        return InvalidArgumentError(at, ": boundaries must be a non-empty, strictly increasing list");
      }
    } else if (c.type == "categorical_column_with_identity") {
      if (c.num_buckets <= 0) return InvalidArgumentError(at, ": set num_buckets > 0 (ids are in [0, num_buckets))");
    } else if (c.type == "categorical_column_with_hash_bucket" || c.type == "crossed_column") {
      if (c.hash_bucket_size <= 0) return InvalidArgumentError(at, ": set hash_bucket_size > 0");
    } else if (c.type == "categorical_column_with_vocabulary_list") {
      if (c.vocabulary_list.empty()) return InvalidArgumentError(at, ": vocabulary_list is empty");
      std::set<std::string> seen;
      for (const std::string& v : c.vocabulary_list) {
        if (!seen.insert(v).second) return InvalidArgumentError(at, ": vocabulary_list has '", v, "' twice");
      }
      if (c.num_oov_buckets < 0) return InvalidArgumentError(at, ": num_oov_buckets must be >= 0");
      if (c.num_oov_buckets > 0 && c.default_value != -1) {
        return InvalidArgumentError(at, ": set default_value or num_oov_buckets, not both");
      }
    } else if (c.type == "embedding_column" || c.type == "indicator_column") {
      if (!IsCategoricalColumn(*src)) {
        return InvalidArgumentError(at, ": categorical_column '", c.source, "' is a ", src->type, ", not a categorical column");
      }
      if (c.type == "embedding_column") {
        if (c.dimension <= 0) return InvalidArgumentError(at, ": set dimension > 0");
        if (c.combiner != "sum" && c.combiner != "mean" && c.combiner != "sqrtn") {
          return InvalidArgumentError(at, ": combiner '", c.combiner, "' is not sum, mean or sqrtn");
        }
      }
    }
    if (c.type == "categorical_column_with_embedding") {
      if (c.filter_freq < 0 || c.steps_to_live < 0 || c.max_rows < 0) {
        return InvalidArgumentError(at, ": filter_freq, steps_to_live and max_rows must be >= 0 (0: off)");
      }
      if (c.on_full != "evict" && c.on_full != "error") {
        return InvalidArgumentError(at, ": on_full '", c.on_full, "' is not evict or error");
      }
    }
    if (c.type == "indicator_column" && IsDynamicColumn(*src)) {
      return InvalidArgumentError(at, ": '", c.source, "' has no fixed number of buckets to indicate; use an embedding_column");
    }
    if ((c.type == "categorical_column_with_hash_bucket" || c.type == "categorical_column_with_vocabulary_list") &&
        c.dtype != "string" && c.dtype != "int64") {
      return InvalidArgumentError(at, ": dtype '", c.dtype, "' is not string or int64");
    }
    if (c.type == "crossed_column") {
      if (c.keys.size() < 2) return InvalidArgumentError(at, ": keys must name at least two features or columns");
      for (const std::string& k : c.keys) {
        const FeatureColumnSpec* kc = Find(cols, k, i);
        if (kc != nullptr && !IsCategoricalColumn(*kc)) {
          return InvalidArgumentError(at, ": key '", k, "' is a ", kc->type, "; cross categorical columns or raw features");
        }
      }
    }
  }
  return cols;
}

std::vector<std::string> RootFeatureColumns(const std::vector<FeatureColumnSpec>& cols) {
  std::set<std::string> wrapped;
  for (const FeatureColumnSpec& c : cols) {
    if (!c.source.empty()) wrapped.insert(c.source);
    for (const std::string& k : c.keys) wrapped.insert(k);
  }
  std::vector<std::string> out;
  for (const FeatureColumnSpec& c : cols) {
    if (!wrapped.count(c.name)) out.push_back(c.name);
  }
  return out;
}

}  // namespace psflow
