// Input pipelines in the style of tf.data: sources (IDX, CSV, TFRecord files
// of tf.train.Example) and transformations (shard, shuffle, repeat, batch,
// prefetch), producing named tensors ready to feed a graph.
//
//   ASSIGN_OR_RETURN(auto ds, IdxDataset(images_gz, labels_gz, {}));
//   ds = Shard(std::move(ds), task_index, num_workers);
//   ds = Shuffle(std::move(ds), 10000, /*seed=*/42);
//   ds = Batch(Repeat(std::move(ds)), 128);
//   ds = Prefetch(std::move(ds), 2);
//   Example batch;  ASSIGN_OR_RETURN(bool more, ds->Next(&batch));   // batch["x"] is [128, 784]
//
// A malformed record or file gives an error naming the file and record (or
// line) number.  A dataset is an iterator: not thread-safe (Prefetch runs
// its input on its own thread and hands results over safely).
#pragma once

#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "common/core/tensor.h"

namespace psflow {

// One element: a tensor per feature name (labels included).
using Example = std::map<std::string, Tensor>;

class Dataset {
 public:
  virtual ~Dataset() = default;
  // The next element; false at the end.
  virtual StatusOr<bool> Next(Example* out) = 0;
  // Starts again from the beginning (a new epoch).
  virtual Status Reset() = 0;
};

struct IdxOptions {
  std::string image_key = "x";
  std::string label_key = "label";
  bool flatten = true;     // images as [rows*cols] floats; else [rows, cols, 1]
  float scale = 1.f / 255;
};
// MNIST-style IDX image and label files (gzipped or not).
StatusOr<std::unique_ptr<Dataset>> IdxDataset(const std::string& images, const std::string& labels,
                                              IdxOptions options = {});

struct CsvColumn {
  std::string name;
  DType dtype = DType::kFloat;  // float, int64 or string
  std::optional<std::string> default_value;  // used for empty fields; none: empty is an error
};
struct CsvOptions {
  std::vector<CsvColumn> columns;
  bool header = true;  // skip the first line
  char delimiter = ',';
};
StatusOr<std::unique_ptr<Dataset>> CsvDataset(const std::string& path, CsvOptions options);

struct FixedLenFeature {
  DType dtype = DType::kFloat;  // float, int64 or string
  TensorShape shape;            // scalar by default
  // tf.io.VarLenFeature instead: any number of values (none when the
  // feature is missing), as a SparseTensor (`shape` unused).  An element
  // holds it as three tensors, "<name>/indices" int64 [n, 1],
  // "<name>/values" [n] and "<name>/dense_shape" int64 [1] = {n}; Batch
  // turns them into the batch's SparseTensor as tf.data does (indices
  // [N, 2] with the element's index first, dense_shape {batch, longest}).
  bool var_len = false;
};
// The keys of a SparseTensor feature `name` in an Example.
std::string SparseIndicesKey(const std::string& name);     // "<name>/indices"
std::string SparseValuesKey(const std::string& name);      // "<name>/values"
std::string SparseDenseShapeKey(const std::string& name);  // "<name>/dense_shape"
// TFRecord files of serialized tf.train.Example, parsed by a feature spec.
StatusOr<std::unique_ptr<Dataset>> TFRecordExampleDataset(std::vector<std::string> paths,
                                                          std::map<std::string, FixedLenFeature> spec);

// The rows of in-memory tensors (all with the same first dimension), as
// tf.data.Dataset.from_tensor_slices.
StatusOr<std::unique_ptr<Dataset>> FromTensorSlices(Example tensors);

// Keeps elements index, index + count, ... (one worker's share).
std::unique_ptr<Dataset> Shard(std::unique_ptr<Dataset> input, int64_t index, int64_t count);
// Random order from a buffer of `buffer_size` elements; deterministic for a
// seed, with a different order each epoch.
std::unique_ptr<Dataset> Shuffle(std::unique_ptr<Dataset> input, int64_t buffer_size, uint64_t seed);
// `count` passes over the input (-1: forever).
std::unique_ptr<Dataset> Repeat(std::unique_ptr<Dataset> input, int64_t count = -1);
// Stacks `batch_size` elements into tensors with a leading batch dimension.
std::unique_ptr<Dataset> Batch(std::unique_ptr<Dataset> input, int64_t batch_size, bool drop_remainder = false);
// Computes up to `buffer` elements ahead on a background thread.
std::unique_ptr<Dataset> Prefetch(std::unique_ptr<Dataset> input, int buffer = 2);

}  // namespace psflow
