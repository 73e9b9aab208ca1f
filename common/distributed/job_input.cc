#include "common/distributed/job_input.h"

#include <algorithm>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/core/strcat.h"
#include "common/data/example_batches.h"

namespace psflow {
namespace {

// The datasets of several files, one after the other.
class Concatenate final : public Dataset {
 public:
  explicit Concatenate(std::vector<std::unique_ptr<Dataset>> parts) : parts_(std::move(parts)) {}
  StatusOr<bool> Next(Example* out) override {
    while (i_ < parts_.size()) {
      ASSIGN_OR_RETURN(bool more, parts_[i_]->Next(out));
      if (more) return true;
      ++i_;
    }
    return false;
  }
  Status Reset() override {
    for (auto& p : parts_) RETURN_IF_ERROR(p->Reset());
    i_ = 0;
    return OkStatus();
  }

 private:
  std::vector<std::unique_ptr<Dataset>> parts_;
  size_t i_ = 0;
};

// CSV rows: the float columns packed into "x", the label column as "label".
class PackColumns final : public Dataset {
 public:
  PackColumns(std::unique_ptr<Dataset> in, std::vector<std::string> features, std::string label)
      : in_(std::move(in)), features_(std::move(features)), label_(std::move(label)) {}
  StatusOr<bool> Next(Example* out) override {
    Example row;
    ASSIGN_OR_RETURN(bool more, in_->Next(&row));
    if (!more) return false;
    Tensor x(DType::kFloat, TensorShape({static_cast<int64_t>(features_.size())}));
    for (size_t i = 0; i < features_.size(); ++i) x.flat<float>()[i] = row.at(features_[i]).flat<float>()[0];
    out->clear();
    (*out)["x"] = x;
    (*out)["label"] = row.at(label_);
    return true;
  }
  Status Reset() override { return in_->Reset(); }

 private:
  std::unique_ptr<Dataset> in_;
  const std::vector<std::string> features_;
  const std::string label_;
};

// CSV rows with declared features: every column its own feature of one
// value ([1], so that batches are [batch, 1] as a tfrecord feature of
// shape [1] gives them), the label column as "label".
class ColumnsAsFeatures final : public Dataset {
 public:
  ColumnsAsFeatures(std::unique_ptr<Dataset> in, std::string label) : in_(std::move(in)), label_(std::move(label)) {}
  StatusOr<bool> Next(Example* out) override {
    Example row;
    ASSIGN_OR_RETURN(bool more, in_->Next(&row));
    if (!more) return false;
    out->clear();
    for (auto& [name, t] : row) {
      if (name == label_) {
        (*out)["label"] = std::move(t);
      } else if (t.dtype() == DType::kString) {
        Tensor one(DType::kString, TensorShape({1}));
        one.flat<std::string>()[0] = std::move(t.flat<std::string>()[0]);
        (*out)[name] = std::move(one);
      } else {
        (*out)[name] = t.Reshaped(TensorShape({1}));
      }
    }
    return true;
  }
  Status Reset() override { return in_->Reset(); }

 private:
  std::unique_ptr<Dataset> in_;
  const std::string label_;
};

// Renames the label feature "label".
class RenameLabel final : public Dataset {
 public:
  RenameLabel(std::unique_ptr<Dataset> in, std::string label) : in_(std::move(in)), label_(std::move(label)) {}
  StatusOr<bool> Next(Example* out) override {
    ASSIGN_OR_RETURN(bool more, in_->Next(out));
    if (more && label_ != "label") {
      auto node = out->extract(label_);
      node.key() = "label";
      out->insert(std::move(node));
    }
    return more;
  }
  Status Reset() override { return in_->Reset(); }

 private:
  std::unique_ptr<Dataset> in_;
  const std::string label_;
};

DType FeatureDType(const std::string& name) {
  return name == "int64" ? DType::kInt64 : name == "string" ? DType::kString : DType::kFloat;
}

StatusOr<std::vector<std::string>> CsvHeader(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFoundError("CSV file ", path, " cannot be read");
  std::string line;
  if (!std::getline(in, line)) return InvalidArgumentError("CSV file ", path, " is empty; it needs a header line");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  std::vector<std::string> names;
  std::stringstream ss(line);
  std::string name;
  while (std::getline(ss, name, ',')) names.push_back(name);
  return names;
}

}  // namespace

StatusOr<std::unique_ptr<Dataset>> OpenInput(const InputSpec& spec) {
  if (spec.format == "idx") return IdxDataset(spec.images, spec.labels);
  if (spec.files.empty()) return InvalidArgumentError("a ", spec.format, " input needs files");
  if (spec.format == "tfrecord") {
    std::map<std::string, FixedLenFeature> features;
    for (const auto& [name, f] : spec.features) {
      features[name] = {.dtype = FeatureDType(f.dtype), .shape = TensorShape(f.shape), .var_len = f.var_len};
    }
    if (!features.count(spec.label)) return InvalidArgumentError("the tfrecord features do not include the label ", spec.label);
    ASSIGN_OR_RETURN(auto ds, TFRecordExampleDataset(spec.files, features));
    return std::unique_ptr<Dataset>(new RenameLabel(std::move(ds), spec.label));
  }
  if (spec.format != "csv") return InvalidArgumentError("unknown input format ", spec.format, "; use idx, csv or tfrecord");
  std::vector<std::string> names = spec.columns;
  if (names.empty()) {
    ASSIGN_OR_RETURN(names, CsvHeader(spec.files[0]));
  }
  CsvOptions options{.header = spec.header};
  std::vector<std::string> features;
  bool has_label = false;
  for (const std::string& n : names) {
    CsvColumn c{.name = n, .dtype = n == spec.label ? DType::kInt64 : DType::kFloat};
    if (auto f = spec.features.find(n); f != spec.features.end() && n != spec.label) {
      // A declared column: its dtype, and an empty field is a missing value
      // ("" and -1 are what feature columns leave out; 0 for numbers).
      c.dtype = FeatureDType(f->second.dtype);
      c.default_value = c.dtype == DType::kString ? "" : (c.dtype == DType::kInt64 ? "-1" : "0");
    }
    options.columns.push_back(c);
    if (n == spec.label) {
      has_label = true;
    } else {
      features.push_back(n);
    }
  }
  for (const auto& [name, f] : spec.features) {
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      return InvalidArgumentError("data.*.features names ", name, ", which is not a column of ", spec.files[0],
                                  " (columns: ", StrJoin(names, ", "), ")");
    }
  }
  if (!has_label) {
    return InvalidArgumentError("CSV file ", spec.files[0], " has no label column '", spec.label, "' (columns: ",
                                StrJoin(names, ", "), "); set data.*.label");
  }
  std::vector<std::unique_ptr<Dataset>> parts;
  for (const std::string& f : spec.files) {
    ASSIGN_OR_RETURN(auto ds, CsvDataset(f, options));
    parts.push_back(std::move(ds));
  }
  if (!spec.features.empty()) {
    return std::unique_ptr<Dataset>(new ColumnsAsFeatures(std::make_unique<Concatenate>(std::move(parts)), spec.label));
  }
  return std::unique_ptr<Dataset>(
      new PackColumns(std::make_unique<Concatenate>(std::move(parts)), std::move(features), spec.label));
}

namespace {

// tf.train.Example files: sharded, shuffled and batched as records, parsed a
// batch at a time (common/data/example_batches.h), the label as "label".
StatusOr<std::unique_ptr<Dataset>> ExampleBatchesOf(const InputSpec& spec, ExampleBatchOptions o) {
  std::map<std::string, FixedLenFeature> features;
  for (const auto& [name, f] : spec.features) {
    features[name] = {.dtype = FeatureDType(f.dtype), .shape = TensorShape(f.shape), .var_len = f.var_len};
  }
  if (!features.count(spec.label)) return InvalidArgumentError("the tfrecord features do not include the label ", spec.label);
  o.rename_from = spec.label;
  o.rename_to = "label";
  return TFRecordExampleBatches(spec.files, std::move(features), std::move(o));
}

}  // namespace

InputFn TrainInput(const JobConfig& job, int64_t shard, int64_t num_shards) {
  const uint64_t seed = static_cast<uint64_t>(job.run.tf_random_seed.value_or(1)) + static_cast<uint64_t>(shard);
  return [spec = job.data.train, data = job.data, shard, num_shards, seed]() -> StatusOr<std::unique_ptr<Dataset>> {
    if (spec.format == "tfrecord") {
      ASSIGN_OR_RETURN(auto ds, ExampleBatchesOf(spec, {.batch_size = data.batch_size,
                                                        .num_shards = std::max<int64_t>(1, num_shards),
                                                        .shard_index = shard,
                                                        .shuffle_buffer = data.shuffle_buffer,
                                                        .seed = seed,
                                                        .repeat = true}));
      return Prefetch(std::move(ds), 2);
    }
    ASSIGN_OR_RETURN(auto ds, OpenInput(spec));
    ds = Shard(std::move(ds), shard, std::max<int64_t>(1, num_shards));
    return Prefetch(Batch(Repeat(Shuffle(std::move(ds), data.shuffle_buffer, seed)), data.batch_size), 2);
  };
}

InputFn EvalInput(const JobConfig& job) {
  return [spec = job.data.eval, batch = job.data.batch_size]() -> StatusOr<std::unique_ptr<Dataset>> {
    if (spec.format == "tfrecord") {
      ASSIGN_OR_RETURN(auto ds, ExampleBatchesOf(spec, {.batch_size = batch}));
      return Prefetch(std::move(ds), 2);
    }
    ASSIGN_OR_RETURN(auto ds, OpenInput(spec));
    return Prefetch(Batch(std::move(ds), batch), 2);
  };
}

Status CheckInputFiles(const InputSpec& spec, const std::string& key) {
  std::vector<std::pair<std::string, std::string>> files;  // (key, path)
  if (spec.format == "idx") {
    files = {{key + ".images", spec.images}, {key + ".labels", spec.labels}};
  } else {
    for (size_t i = 0; i < spec.files.size(); ++i) files.emplace_back(StrCat(key, ".files[", i, "]"), spec.files[i]);
  }
  for (const auto& [k, path] : files) {
    if (path.empty()) return InvalidArgumentError(k, " is not set in the job file");
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      return NotFoundError(k, ": cannot read ", path, " (", std::strerror(errno),
                           "); fix the path in the job file, or install the data set");
    }
  }
  return OkStatus();
}

}  // namespace psflow
