// Batches of tf.train.Example records from TFRecord files, as TensorFlow's
// input pipelines make them:
//
//   TFRecordDataset(files).shard(n, i).shuffle(buffer, seed).repeat().batch(b).map(parse_example)
//
//   ASSIGN_OR_RETURN(auto ds, TFRecordExampleBatches(files, spec, {.batch_size = 256, .num_shards = 3,
//                                                                   .shard_index = 1, .shuffle_buffer = 10000,
//                                                                   .repeat = true}));
//
// Records are sharded, shuffled and batched as bytes; a batch is parsed at
// once, straight into its tensors, by a reader of the Example wire format
// (no per-example tensors or protobuf maps: what a tf.train.Example costs
// to parse is its bytes).  The batches are those of TFRecordExampleDataset
// + Batch on the same records in the same order: the same keys, dtypes and
// shapes, VarLen features as SparseTensors, a protobuf map's last entry of a
// repeated key.  Errors name the file and record ("...train-00001-of-00004
// record 17: feature 'C3' has 2 values, expected 1 for shape [1]").  With
// repeat, the shuffle buffer drains at the end of each pass (shuffle, then
// repeat).  Not thread-safe (wrap in Prefetch for a thread of its own).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/data/dataset.h"

namespace psflow {

struct ExampleBatchOptions {
  int64_t batch_size = 128;
  // Keep record k (counted over the files in order) when k % num_shards == shard_index.
  int64_t num_shards = 1;
  int64_t shard_index = 0;
  int64_t shuffle_buffer = 0;  // 0 or 1: in file order
  uint64_t seed = 0;
  bool repeat = false;          // pass over the files again and again
  std::string rename_from;      // a feature to output under `rename_to` (the label)
  std::string rename_to;
};

StatusOr<std::unique_ptr<Dataset>> TFRecordExampleBatches(std::vector<std::string> paths,
                                                          std::map<std::string, FixedLenFeature> spec,
                                                          ExampleBatchOptions options);

}  // namespace psflow
