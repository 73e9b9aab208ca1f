#include "common/data/dataset.h"

#include <charconv>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "common/core/env.h"
#include "common/data/idx.h"
#include "common/data/tfrecord.h"
#include "common/proto/example.pb.h"

namespace psflow {
namespace {

// ---- Sources ----

class IdxSource final : public Dataset {
 public:
  IdxSource(IdxArray images, IdxArray labels, IdxOptions o)
      : images_(std::move(images)), labels_(std::move(labels)), o_(std::move(o)) {
    row_ = images_.dims[1] * images_.dims[2];
  }
  StatusOr<bool> Next(Example* out) override {
    if (pos_ >= images_.dims[0]) return false;
    Tensor x(DType::kFloat, o_.flatten ? TensorShape({row_}) : TensorShape({images_.dims[1], images_.dims[2], 1}));
    float* xs = static_cast<float*>(x.raw_data());
    const uint8_t* src = images_.data.data() + pos_ * row_;
    for (int64_t k = 0; k < row_; ++k) xs[k] = src[k] * o_.scale;
    out->clear();
    (*out)[o_.image_key] = x;
    (*out)[o_.label_key] = Tensor::Scalar<int32_t>(labels_.data[static_cast<size_t>(pos_)]);
    ++pos_;
    return true;
  }
  Status Reset() override {
    pos_ = 0;
    return OkStatus();
  }

 private:
  const IdxArray images_, labels_;
  const IdxOptions o_;
  int64_t row_ = 0;
  int64_t pos_ = 0;
};

StatusOr<Tensor> ParseField(const std::string& field, const CsvColumn& col, const std::string& where) {
  std::string v = field;
  if (v.empty()) {
    if (!col.default_value) return InvalidArgumentError(where, ": column '", col.name, "' is empty and has no default");
    v = *col.default_value;
  }
  switch (col.dtype) {
    case DType::kString: return Tensor::Scalar<std::string>(v);
    case DType::kInt64: {
      int64_t x;
      auto r = std::from_chars(v.data(), v.data() + v.size(), x);
      if (r.ec != std::errc() || r.ptr != v.data() + v.size()) {
        return InvalidArgumentError(where, ": column '", col.name, "': '", v, "' is not an integer");
      }
      return Tensor::Scalar<int64_t>(x);
    }
    case DType::kFloat: {
      float x;
      auto r = std::from_chars(v.data(), v.data() + v.size(), x);
      if (r.ec != std::errc() || r.ptr != v.data() + v.size()) {
        return InvalidArgumentError(where, ": column '", col.name, "': '", v, "' is not a number");
      }
      return Tensor::Scalar<float>(x);
    }
    default: return InvalidArgumentError("CSV column '", col.name, "' must be float, int64 or string");
  }
}

class CsvSource final : public Dataset {
 public:
  CsvSource(std::string path, CsvOptions o) : path_(std::move(path)), o_(std::move(o)) {}
  Status Reset() override {
    in_ = std::ifstream(path_);
    if (!in_) return NotFoundError("cannot open CSV file ", path_);
    line_no_ = 0;
    if (o_.header) {
      std::string skip;
      std::getline(in_, skip);
      ++line_no_;
    }
    return OkStatus();
  }
  StatusOr<bool> Next(Example* out) override {
    if (!in_.is_open()) RETURN_IF_ERROR(Reset());
    std::string line;
    while (std::getline(in_, line)) {
      ++line_no_;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      std::vector<std::string> fields;
      size_t start = 0;
      while (true) {
        size_t d = line.find(o_.delimiter, start);
        fields.push_back(line.substr(start, d == std::string::npos ? std::string::npos : d - start));
        if (d == std::string::npos) break;
        start = d + 1;
      }
      const std::string where = StrCat(path_, ":", line_no_);
      if (fields.size() != o_.columns.size()) {
        return InvalidArgumentError(where, ": ", fields.size(), " fields, expected ", o_.columns.size(), " (",
                                    o_.columns.front().name, "...)");
      }
      out->clear();
      for (size_t i = 0; i < fields.size(); ++i) {
        ASSIGN_OR_RETURN((*out)[o_.columns[i].name], ParseField(fields[i], o_.columns[i], where));
      }
      return true;
    }
    return false;
  }

 private:
  const std::string path_;
  const CsvOptions o_;
  std::ifstream in_;
  int64_t line_no_ = 0;
};

// The values of feature `name` of one tf.train.Example as a vector of
// `dtype`; a missing feature (null, or no list) has none.
StatusOr<Tensor> FeatureValues(const std::string& where, const std::string& name, DType dtype,
                               const tensorflow::Feature* feat) {
  if (feat == nullptr || feat->kind_case() == tensorflow::Feature::KIND_NOT_SET) return Tensor(dtype, TensorShape({0}));
  if (dtype == DType::kFloat) {
    if (!feat->has_float_list()) return InvalidArgumentError(where, ": feature '", name, "' is not a float_list");
    const auto& v = feat->float_list().value();
    Tensor t(dtype, TensorShape({v.size()}));
    std::copy(v.begin(), v.end(), t.flat<float>().begin());
    return t;
  }
  if (dtype == DType::kInt64) {
    if (!feat->has_int64_list()) return InvalidArgumentError(where, ": feature '", name, "' is not an int64_list");
    const auto& v = feat->int64_list().value();
    Tensor t(dtype, TensorShape({v.size()}));
    std::copy(v.begin(), v.end(), t.flat<int64_t>().begin());
    return t;
  }
  if (!feat->has_bytes_list()) return InvalidArgumentError(where, ": feature '", name, "' is not a bytes_list");
  const auto& v = feat->bytes_list().value();
  Tensor t(dtype, TensorShape({v.size()}));
  std::copy(v.begin(), v.end(), t.flat<std::string>().begin());
  return t;
}

// A VarLenFeature of one tf.train.Example as a SparseTensor (see dataset.h).
Status ParseVarLen(const std::string& where, const std::string& name, DType dtype, const tensorflow::Feature* feat,
                   Example* out) {
  ASSIGN_OR_RETURN(Tensor values, FeatureValues(where, name, dtype, feat));
  const int64_t n = values.num_elements();
  Tensor indices(DType::kInt64, TensorShape({n, 1}));
  for (int64_t i = 0; i < n; ++i) indices.flat<int64_t>()[static_cast<size_t>(i)] = i;
  (*out)[SparseIndicesKey(name)] = indices;
  (*out)[SparseValuesKey(name)] = values;
  (*out)[SparseDenseShapeKey(name)] = Tensor::FromVector<int64_t>({n}, TensorShape({1}));
  return OkStatus();
}

class TFRecordSource final : public Dataset {
 public:
  TFRecordSource(std::vector<std::string> paths, std::map<std::string, FixedLenFeature> spec)
      : paths_(std::move(paths)), spec_(std::move(spec)) {}
  Status Reset() override {
    file_ = 0;
    reader_.reset();
    return OkStatus();
  }
  StatusOr<bool> Next(Example* out) override {
    std::string rec;
    while (true) {
      if (reader_ == nullptr) {
        if (file_ >= paths_.size()) return false;
        ASSIGN_OR_RETURN(reader_, TFRecordReader::Open(Env::Default(), paths_[file_]));
      }
      ASSIGN_OR_RETURN(bool ok, reader_->Next(&rec));
      if (ok) break;
      reader_.reset();
      ++file_;
    }
    const std::string where = StrCat(paths_[file_], " record ", reader_->records_read() - 1);
    tensorflow::Example ex;
    if (!ex.ParseFromString(rec)) return DataLossError(where, " is not a tf.train.Example");
    out->clear();
    for (const auto& [name, f] : spec_) {
      auto it = ex.features().feature().find(name);
      if (f.var_len) {
        RETURN_IF_ERROR(ParseVarLen(where, name, f.dtype, it == ex.features().feature().end() ? nullptr : &it->second, out));
        continue;
      }
      if (it == ex.features().feature().end()) return InvalidArgumentError(where, ": feature '", name, "' is missing");
      ASSIGN_OR_RETURN(Tensor values, FeatureValues(where, name, f.dtype, &it->second));
      Tensor t(f.dtype, f.shape);
      if (values.num_elements() != t.num_elements()) {
        return InvalidArgumentError(where, ": feature '", name, "' has ", values.num_elements(), " values, expected ",
                                    t.num_elements(), " for shape ", f.shape.DebugString());
      }
      if (f.dtype == DType::kString) {
        std::copy(values.flat<std::string>().begin(), values.flat<std::string>().end(), t.flat<std::string>().begin());
      } else {
        t = values.Reshaped(f.shape);
      }
      (*out)[name] = t;
    }
    return true;
  }

 private:
  const std::vector<std::string> paths_;
  const std::map<std::string, FixedLenFeature> spec_;
  size_t file_ = 0;
  std::unique_ptr<TFRecordReader> reader_;
};

class SlicesSource final : public Dataset {
 public:
  SlicesSource(Example t, int64_t n) : t_(std::move(t)), n_(n) {}
  StatusOr<bool> Next(Example* out) override {
    if (pos_ >= n_) return false;
    out->clear();
    for (const auto& [name, t] : t_) {
      std::vector<int64_t> dims(t.shape().dims().begin() + 1, t.shape().dims().end());
      Tensor row(t.dtype(), TensorShape(dims));
      const int64_t per = row.num_elements();
      if (t.dtype() == DType::kString) {
        for (int64_t k = 0; k < per; ++k) row.flat<std::string>()[static_cast<size_t>(k)] = t.flat<std::string>()[static_cast<size_t>(pos_ * per + k)];
      } else {
        std::memcpy(row.raw_data(), static_cast<const char*>(t.raw_data()) + static_cast<size_t>(pos_) * row.TotalBytes(),
                    row.TotalBytes());
      }
      (*out)[name] = row;
    }
    ++pos_;
    return true;
  }
  Status Reset() override {
    pos_ = 0;
    return OkStatus();
  }

 private:
  const Example t_;
  const int64_t n_;
  int64_t pos_ = 0;
};

// ---- Transformations ----

class ShardDataset final : public Dataset {
 public:
  ShardDataset(std::unique_ptr<Dataset> in, int64_t index, int64_t count) : in_(std::move(in)), index_(index), count_(count) {}
  StatusOr<bool> Next(Example* out) override {
    while (true) {
      ASSIGN_OR_RETURN(bool ok, in_->Next(out));
      if (!ok) return false;
      if (pos_++ % count_ == index_) return true;
    }
  }
  Status Reset() override {
    pos_ = 0;
    return in_->Reset();
  }

 private:
  std::unique_ptr<Dataset> in_;
  const int64_t index_, count_;
  int64_t pos_ = 0;
};

class ShuffleDataset final : public Dataset {
 public:
  ShuffleDataset(std::unique_ptr<Dataset> in, int64_t buffer, uint64_t seed)
      : in_(std::move(in)), buffer_size_(buffer), seed_(seed), rng_(seed) {}
  StatusOr<bool> Next(Example* out) override {
    while (!input_done_ && static_cast<int64_t>(buffer_.size()) < buffer_size_) {
      Example e;
      ASSIGN_OR_RETURN(bool ok, in_->Next(&e));
      if (!ok) {
        input_done_ = true;
        break;
      }
      buffer_.push_back(std::move(e));
    }
    if (buffer_.empty()) return false;
    const size_t i = std::uniform_int_distribution<size_t>(0, buffer_.size() - 1)(rng_);
    std::swap(buffer_[i], buffer_.back());
    *out = std::move(buffer_.back());
    buffer_.pop_back();
    return true;
  }
  Status Reset() override {
    buffer_.clear();
    input_done_ = false;
    rng_.seed(seed_ + ++epoch_);  // a new order each epoch, still deterministic
    return in_->Reset();
  }

 private:
  std::unique_ptr<Dataset> in_;
  const int64_t buffer_size_;
  const uint64_t seed_;
  std::mt19937_64 rng_;
  uint64_t epoch_ = 0;
  std::vector<Example> buffer_;
  bool input_done_ = false;
};

class RepeatDataset final : public Dataset {
 public:
  RepeatDataset(std::unique_ptr<Dataset> in, int64_t count) : in_(std::move(in)), count_(count) {}
  StatusOr<bool> Next(Example* out) override {
    while (count_ < 0 || epoch_ < count_) {
      ASSIGN_OR_RETURN(bool ok, in_->Next(out));
      if (ok) {
        produced_in_epoch_ = true;
        return true;
      }
      if (!produced_in_epoch_) return false;  // an empty input would loop forever
      ++epoch_;
      produced_in_epoch_ = false;
      if (count_ < 0 || epoch_ < count_) RETURN_IF_ERROR(in_->Reset());
    }
    return false;
  }
  Status Reset() override {
    epoch_ = 0;
    produced_in_epoch_ = false;
    return in_->Reset();
  }

 private:
  std::unique_ptr<Dataset> in_;
  const int64_t count_;
  int64_t epoch_ = 0;
  bool produced_in_epoch_ = false;
};

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Whether `key` is part of a SparseTensor triple of `e`.
bool IsSparseKey(const Example& e, const std::string& key) {
  for (std::string_view suffix : {"/indices", "/values", "/dense_shape"}) {
    if (!EndsWith(key, suffix)) continue;
    const std::string name = key.substr(0, key.size() - suffix.size());
    return e.count(SparseIndicesKey(name)) && e.count(SparseValuesKey(name)) && e.count(SparseDenseShapeKey(name));
  }
  return false;
}

// Batches the SparseTensor that `key` belongs to (once, at its indices key):
// indices gain the element's index as their first column, values are
// concatenated, dense_shape is {batch, the largest of each dimension}.
Status BatchSparse(const std::vector<Example>& items, const std::string& key, Example* out) {
  if (!EndsWith(key, "/indices")) return OkStatus();
  const std::string name = key.substr(0, key.size() - std::string_view("/indices").size());
  const std::string ik = SparseIndicesKey(name), vk = SparseValuesKey(name), sk = SparseDenseShapeKey(name);
  const Tensor& first_values = items[0].at(vk);
  const int64_t rank = items[0].at(sk).num_elements();
  int64_t total = 0;
  std::vector<int64_t> dense(static_cast<size_t>(rank), 0);
  for (size_t i = 0; i < items.size(); ++i) {
    auto ii = items[i].find(ik), vi = items[i].find(vk), si = items[i].find(sk);
    if (ii == items[i].end() || vi == items[i].end() || si == items[i].end() || si->second.num_elements() != rank ||
        vi->second.dtype() != first_values.dtype() || ii->second.shape().rank() != 2 ||
        ii->second.shape().dim(1) != rank || ii->second.shape().dim(0) != vi->second.num_elements()) {
      return InvalidArgumentError("cannot batch sparse feature '", name, "': element ", i,
                                  " is not a SparseTensor of rank ", rank, " and dtype ", DTypeName(first_values.dtype()));
    }
    total += vi->second.num_elements();
    for (int64_t d = 0; d < rank; ++d) {
      dense[static_cast<size_t>(d)] = std::max(dense[static_cast<size_t>(d)], si->second.flat<int64_t>()[static_cast<size_t>(d)]);
    }
  }
  Tensor indices(DType::kInt64, TensorShape({total, rank + 1}));
  Tensor values(first_values.dtype(), TensorShape({total}));
  int64_t at = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    const Tensor& idx = items[i].at(ik);
    const Tensor& val = items[i].at(vk);
    const int64_t n = val.num_elements();
    for (int64_t j = 0; j < n; ++j) {
      int64_t* row = indices.flat<int64_t>().data() + (at + j) * (rank + 1);
      row[0] = static_cast<int64_t>(i);
      for (int64_t d = 0; d < rank; ++d) row[d + 1] = idx.flat<int64_t>()[static_cast<size_t>(j * rank + d)];
    }
    if (val.dtype() == DType::kString) {
      for (int64_t j = 0; j < n; ++j) values.flat<std::string>()[static_cast<size_t>(at + j)] = val.flat<std::string>()[static_cast<size_t>(j)];
    } else if (n > 0) {
      std::memcpy(static_cast<char*>(values.raw_data()) + static_cast<size_t>(at) * (val.TotalBytes() / static_cast<size_t>(n)),
                  val.raw_data(), val.TotalBytes());
    }
    at += n;
  }
  std::vector<int64_t> shape = {static_cast<int64_t>(items.size())};
  shape.insert(shape.end(), dense.begin(), dense.end());
  (*out)[ik] = indices;
  (*out)[vk] = values;
  (*out)[sk] = Tensor::FromVector<int64_t>(shape, TensorShape({rank + 1}));
  return OkStatus();
}

class BatchDataset final : public Dataset {
 public:
  BatchDataset(std::unique_ptr<Dataset> in, int64_t n, bool drop) : in_(std::move(in)), n_(n), drop_(drop) {}
  StatusOr<bool> Next(Example* out) override {
    std::vector<Example> items;
    Example e;
    while (static_cast<int64_t>(items.size()) < n_) {
      ASSIGN_OR_RETURN(bool ok, in_->Next(&e));
      if (!ok) break;
      items.push_back(std::move(e));
    }
    if (items.empty() || (drop_ && static_cast<int64_t>(items.size()) < n_)) return false;
    out->clear();
    const int64_t b = static_cast<int64_t>(items.size());
    for (const auto& [key, first] : items[0]) {
      if (IsSparseKey(items[0], key)) {
        RETURN_IF_ERROR(BatchSparse(items, key, out));
        continue;
      }
      std::vector<int64_t> dims = {b};
      for (int64_t d : first.shape().dims()) dims.push_back(d);
      Tensor t(first.dtype(), TensorShape(dims));
      const int64_t per = first.num_elements();
      for (int64_t i = 0; i < b; ++i) {
        auto it = items[static_cast<size_t>(i)].find(key);
        if (it == items[static_cast<size_t>(i)].end() || !(it->second.shape() == first.shape()) ||
            it->second.dtype() != first.dtype()) {
          return InvalidArgumentError("cannot batch feature '", key, "': element ", i, " differs in dtype or shape from element 0 (",
                                      DTypeName(first.dtype()), " ", first.shape().DebugString(), ")");
        }
        if (first.dtype() == DType::kString) {
          for (int64_t k = 0; k < per; ++k) t.flat<std::string>()[static_cast<size_t>(i * per + k)] = it->second.flat<std::string>()[static_cast<size_t>(k)];
        } else {
          std::memcpy(static_cast<char*>(t.raw_data()) + static_cast<size_t>(i) * first.TotalBytes(), it->second.raw_data(),
                      first.TotalBytes());
        }
      }
      (*out)[key] = t;
    }
    return true;
  }
  Status Reset() override { return in_->Reset(); }

 private:
  std::unique_ptr<Dataset> in_;
  const int64_t n_;
  const bool drop_;
};

class PrefetchDataset final : public Dataset {
 public:
  PrefetchDataset(std::unique_ptr<Dataset> in, int buffer) : in_(std::move(in)), buffer_(std::max(1, buffer)) { Start(); }
  ~PrefetchDataset() override { Stop(); }
  StatusOr<bool> Next(Example* out) override {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return !queue_.empty() || finished_; });
    if (!queue_.empty()) {
      *out = std::move(queue_.front());
      queue_.pop_front();
      cv_.notify_all();
      return true;
    }
    if (!status_.ok()) return status_;
    return false;
  }
  Status Reset() override {
    Stop();
    RETURN_IF_ERROR(in_->Reset());
    Start();
    return OkStatus();
  }

 private:
  void Start() {
    stop_ = false;
    finished_ = false;
    status_ = OkStatus();
    queue_.clear();
    thread_ = std::thread([this] {
      while (true) {
        Example e;
        auto ok = in_->Next(&e);
        std::unique_lock<std::mutex> l(mu_);
        if (!ok.ok() || !*ok) {
          if (!ok.ok()) status_ = ok.status();
          finished_ = true;
          cv_.notify_all();
          return;
        }
        cv_.wait(l, [&] { return static_cast<int>(queue_.size()) < buffer_ || stop_; });
        if (stop_) return;
        queue_.push_back(std::move(e));
        cv_.notify_all();
      }
    });
  }
  void Stop() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  std::unique_ptr<Dataset> in_;
  const int buffer_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Example> queue_;  // GUARDED_BY(mu_)
  bool finished_ = false;      // GUARDED_BY(mu_)
  bool stop_ = false;          // GUARDED_BY(mu_)
  Status status_;              // GUARDED_BY(mu_)
};

}  // namespace

StatusOr<std::unique_ptr<Dataset>> IdxDataset(const std::string& images, const std::string& labels, IdxOptions o) {
  ASSIGN_OR_RETURN(IdxArray im, ReadIdxFile(images));
  ASSIGN_OR_RETURN(IdxArray lb, ReadIdxFile(labels));
  if (im.dims.size() != 3) {
    return InvalidArgumentError("image file ", images, " has ", im.dims.size(), " dimensions; expected [count, rows, cols]");
  }
  if (lb.dims.size() != 1 || lb.dims[0] != im.dims[0]) {
    return InvalidArgumentError("label file ", labels, " has ", lb.dims.empty() ? 0 : lb.dims[0], " labels for ",
                                im.dims[0], " images in ", images);
  }
  return std::unique_ptr<Dataset>(new IdxSource(std::move(im), std::move(lb), std::move(o)));
}

StatusOr<std::unique_ptr<Dataset>> CsvDataset(const std::string& path, CsvOptions options) {
  if (options.columns.empty()) return InvalidArgumentError("CSV dataset ", path, " needs at least one column");
  auto ds = std::make_unique<CsvSource>(path, std::move(options));
  RETURN_IF_ERROR(ds->Reset());
  return std::unique_ptr<Dataset>(std::move(ds));
}

std::string SparseIndicesKey(const std::string& name) { return name + "/indices"; }
std::string SparseValuesKey(const std::string& name) { return name + "/values"; }
std::string SparseDenseShapeKey(const std::string& name) { return name + "/dense_shape"; }

StatusOr<std::unique_ptr<Dataset>> TFRecordExampleDataset(std::vector<std::string> paths,
                                                          std::map<std::string, FixedLenFeature> spec) {
  if (paths.empty()) return InvalidArgumentError("TFRecord dataset needs at least one file");
  for (const auto& p : paths) {
    if (!Env::Default()->FileExists(p)) return NotFoundError("TFRecord file ", p, " does not exist");
  }
  return std::unique_ptr<Dataset>(new TFRecordSource(std::move(paths), std::move(spec)));
}

StatusOr<std::unique_ptr<Dataset>> FromTensorSlices(Example tensors) {
  if (tensors.empty()) return InvalidArgumentError("FromTensorSlices needs at least one tensor");
  int64_t n = -1;
  for (const auto& [name, t] : tensors) {
    if (t.shape().rank() < 1) return InvalidArgumentError("FromTensorSlices: '", name, "' is a scalar");
    if (n >= 0 && t.shape().dim(0) != n) {
      return InvalidArgumentError("FromTensorSlices: '", name, "' has ", t.shape().dim(0), " rows, others ", n);
    }
    n = t.shape().dim(0);
  }
  return std::unique_ptr<Dataset>(new SlicesSource(std::move(tensors), n));
}

std::unique_ptr<Dataset> Shard(std::unique_ptr<Dataset> in, int64_t index, int64_t count) {
  return std::make_unique<ShardDataset>(std::move(in), index, std::max<int64_t>(1, count));
}
std::unique_ptr<Dataset> Shuffle(std::unique_ptr<Dataset> in, int64_t buffer, uint64_t seed) {
  return std::make_unique<ShuffleDataset>(std::move(in), std::max<int64_t>(1, buffer), seed);
}
std::unique_ptr<Dataset> Repeat(std::unique_ptr<Dataset> in, int64_t count) {
  return std::make_unique<RepeatDataset>(std::move(in), count);
}
std::unique_ptr<Dataset> Batch(std::unique_ptr<Dataset> in, int64_t batch_size, bool drop_remainder) {
  return std::make_unique<BatchDataset>(std::move(in), std::max<int64_t>(1, batch_size), drop_remainder);
}
std::unique_ptr<Dataset> Prefetch(std::unique_ptr<Dataset> in, int buffer) {
  return std::make_unique<PrefetchDataset>(std::move(in), buffer);
}

}  // namespace psflow
