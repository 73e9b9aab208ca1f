// Tensor bundles: TensorFlow's V2 checkpoint format.
//
// A checkpoint with prefix P is P.index (a LevelDB-format table from tensor
// name to BundleEntryProto, key "" holding a BundleHeaderProto) plus data
// files P.data-0000k-of-0000N holding raw tensor bytes.  TensorFlow's tools
// (tf.train.load_checkpoint, list_variables, inspect_checkpoint) read what
// these classes write, and these classes read what TensorFlow writes.
//
// Single writer (what a non-sharded tf.compat.v1 Saver writes):
//   BundleWriter w(env, "/m/model.ckpt-100");
//   RETURN_IF_ERROR(w.Add("dense/kernel", kernel));
//   RETURN_IF_ERROR(w.Finish());
//
// Sharded save (one writer per PS task, in parallel, then one merged index):
//   BundleShardWriter s(env, prefix, /*shard_id=*/k, /*num_shards=*/P);
//   ... s.Add(...) ...;  ASSIGN_OR_RETURN(BundleEntries e, s.Finish());
//   RETURN_IF_ERROR(WriteBundleIndex(env, prefix, P, {e0, e1, ...}));
//
// Reading (every read verifies the tensor's crc32c):
//   ASSIGN_OR_RETURN(auto r, BundleReader::Open(env, prefix));
//   ASSIGN_OR_RETURN(Tensor t, r->Lookup("dense/kernel"));
//
// Crash safety: data files are written under a temporary name, synced and
// renamed; the index is written the same way and only after every data file
// it names is in place.  So P.index exists only for a complete checkpoint.
//
// Writers are not thread-safe (use one per thread).  BundleReader is
// thread-safe: many threads may Lookup concurrently.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/checkpoint/tensor_slice.h"
#include "common/core/env.h"
#include "common/core/tensor.h"
#include "common/proto/tensor_bundle.pb.h"

namespace psflow {

// Bundle format versions written and accepted (TensorFlow's values).
inline constexpr int kTensorBundleVersion = 1;
inline constexpr int kTensorBundleMinProducer = 0;

// Index entries of one data shard, sorted by key.
using BundleEntries = std::map<std::string, tensorflow::BundleEntryProto>;

std::string BundleIndexFilename(std::string_view prefix);
// "P.data-00002-of-00004"
std::string BundleDataFilename(std::string_view prefix, int shard_id, int num_shards);

struct BundleWriterOptions {
  // Each tensor starts at a multiple of this many bytes (1 = packed, TF's default).
  size_t data_alignment = 1;
};

// Writes data shard `shard_id` of `num_shards` of checkpoint `prefix` and
// returns its index entries.  Keeps the first error and refuses further use.
class BundleShardWriter {
 public:
  BundleShardWriter(Env* env, std::string prefix, int shard_id, int num_shards,
                    BundleWriterOptions options = {});
  ~BundleShardWriter();
  BundleShardWriter(const BundleShardWriter&) = delete;
  BundleShardWriter& operator=(const BundleShardWriter&) = delete;

  // Adds a whole tensor under `key`.  Keys must be unique and non-empty.
  Status Add(std::string_view key, const Tensor& tensor);
  // Adds one slice of a partitioned variable `full_key` of shape `full_shape`;
  // `slice_tensor` holds the slice's elements.  Several slices of one variable
  // may come from several shards; the merged index lists them all.
  Status AddSlice(std::string_view full_key, const TensorShape& full_shape,
                  const TensorSlice& slice, const Tensor& slice_tensor);
  // Syncs and renames the data file into place.  After Finish the writer
  // accepts nothing more.
  StatusOr<BundleEntries> Finish();

  const Status& status() const { return status_; }
  const std::string& data_filename() const { return data_path_; }

 private:
  Status AddLocked(std::string_view key, const Tensor& tensor, tensorflow::BundleEntryProto* e);
  Status Open();
  Status Fail(Status s);

  Env* const env_;
  const std::string prefix_;
  const int shard_id_;
  const int num_shards_;
  const BundleWriterOptions options_;
  const std::string data_path_;
  std::string tmp_path_;
  std::unique_ptr<WritableFile> out_;
  int64_t size_ = 0;
  BundleEntries entries_;
  Status status_;
  bool finished_ = false;
};

// Writes P.index naming every entry of `shards` (entries of shard k must
// carry shard_id k).  Slices of one partitioned variable coming from several
// shards are merged into one full-key entry.  Fails, writing nothing, on a
// key present in two shards.  The index is written to a temporary file,
// synced and renamed.
Status WriteBundleIndex(Env* env, std::string_view prefix, int num_shards,
                        const std::vector<BundleEntries>& shards);

// Makes one tensor of the plain tensors `key` that several shards each
// hold part of (a dynamic embedding table: each PS task writes its own
// rows): shard k's rows follow those of the shards before it (along
// dimension 0), as slices of the stacked tensor, so every reader
// (TensorFlow's included) sees one tensor [all rows, ...].  Empty parts are
// dropped; a single part stays a plain tensor.  Call before
// WriteBundleIndex.  InvalidArgument when the parts disagree on dtype or
// row shape.
Status StackRowsAcrossShards(std::vector<BundleEntries>* shards, const std::string& key);

// A single-shard checkpoint: P.data-00000-of-00001 and P.index.
class BundleWriter {
 public:
  BundleWriter(Env* env, std::string prefix, BundleWriterOptions options = {});
  Status Add(std::string_view key, const Tensor& tensor) { return shard_.Add(key, tensor); }
  Status AddSlice(std::string_view full_key, const TensorShape& full_shape,
                  const TensorSlice& slice, const Tensor& slice_tensor) {
    return shard_.AddSlice(full_key, full_shape, slice, slice_tensor);
  }
  Status Finish();

 private:
  Env* const env_;
  const std::string prefix_;
  BundleShardWriter shard_;
};

// Whether checkpoint `prefix` can be restored: its .index reads and every
// data file is there with the bytes the index needs.  What a resume checks
// before trusting a checkpoint (see LatestCheckpoint).
Status CheckBundleFiles(Env* env, const std::string& prefix);

struct BundleTensorInfo {
  DType dtype = DType::kInvalid;
  TensorShape shape;
  bool partitioned = false;  // stored as slices
};

class BundleReader {
 public:
  // Reads and validates P.index (checksums, header, versions).  Data files
  // are opened on first use.  Errors name the file.
  static StatusOr<std::unique_ptr<BundleReader>> Open(Env* env, std::string prefix);
  ~BundleReader();

  const std::string& prefix() const { return prefix_; }
  int num_shards() const { return header_.num_shards(); }
  const tensorflow::BundleHeaderProto& header() const { return header_; }

  // Sorted tensor names.  Partitioned variables appear once, under their
  // full name; the keys of their slices are not listed.
  std::vector<std::string> Keys() const;
  bool Contains(std::string_view key) const;
  StatusOr<tensorflow::BundleEntryProto> GetEntry(std::string_view key) const;
  // Dtype and (full) shape; InvalidArgument/DataLoss for unsupported or bad entries.
  StatusOr<BundleTensorInfo> GetInfo(std::string_view key) const;

  // The whole tensor, assembled from its slices when it is partitioned.
  StatusOr<Tensor> Lookup(std::string_view key) const;
  // Reads a whole tensor into `out`, which must already have the stored
  // dtype and shape (a PS restoring into its variables' buffers: no
  // allocation).  On error `out` may hold part of the new values.
  Status LookupInto(std::string_view key, Tensor* out) const;
  // Part of a tensor, whatever partitioning wrote it.
  StatusOr<Tensor> LookupSlice(std::string_view key, const TensorSlice& slice) const;

  // Whether every data file the index names is there and long enough for
  // the entries it holds (their contents are checked by crc32c when read).
  // NotFound names a missing file, DataLoss a short one.
  Status CheckDataFiles() const;

 private:
  BundleReader(Env* env, std::string prefix);
  Status Init();
  StatusOr<Tensor> ReadEntry(std::string_view key, const tensorflow::BundleEntryProto& e) const;
  // REQUIRES: *out has the entry's dtype and shape.
  Status ReadEntryInto(std::string_view key, const tensorflow::BundleEntryProto& e,
                       Tensor* out) const;
  StatusOr<const RandomAccessFile*> DataFile(int shard_id) const;
  Status KeyError(std::string_view key) const;

  Env* const env_;
  const std::string prefix_;
  tensorflow::BundleHeaderProto header_;
  std::map<std::string, tensorflow::BundleEntryProto, std::less<>> entries_;  // const after Init

  mutable std::mutex mu_;
  mutable std::vector<std::unique_ptr<RandomAccessFile>> data_files_;  // GUARDED_BY(mu_)
};

}  // namespace psflow
