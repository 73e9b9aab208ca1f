#include "common/checkpoint/tensor_bundle.h"

#include <leveldb/env.h>
#include <leveldb/iterator.h>
#include <leveldb/options.h>
#include <leveldb/table.h>
#include <leveldb/table_builder.h>

#include <algorithm>
#include <bit>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <limits>

#include "common/core/crc32c.h"
#include "common/core/logging.h"
#include "common/core/varint.h"

namespace psflow {

static_assert(std::endian::native == std::endian::little,
              "psflow writes little-endian checkpoints and runs on little-endian hosts only");

namespace {

using tensorflow::BundleEntryProto;
using tensorflow::BundleHeaderProto;

// TensorFlow's table block size; with it LevelDB's TableBuilder writes the
// same bytes TensorFlow does (see docs/checkpoint_format.md).
constexpr size_t kIndexBlockSize = 262144;
// Tensor bytes are checksummed and written/read in chunks of this size, so
// the chunk is still in cache when the second pass touches it.
constexpr size_t kIoChunk = 1 << 20;

// ---- LevelDB adapters over psflow's Env, so the index goes through the same
// (fault-injectable) file layer as the data files. ----
class LevelDbWritableFile final : public leveldb::WritableFile {
 public:
  explicit LevelDbWritableFile(psflow::WritableFile* f) : f_(f) {}
  leveldb::Status Append(const leveldb::Slice& data) override {
    return Convert(f_->Append(std::string_view(data.data(), data.size())));
  }
  leveldb::Status Close() override { return leveldb::Status::OK(); }  // owner closes
  leveldb::Status Flush() override { return leveldb::Status::OK(); }  // owner syncs at the end
  leveldb::Status Sync() override { return Convert(f_->Sync()); }
  Status last_error() const { return last_error_; }

 private:
  leveldb::Status Convert(const Status& s) {
    if (s.ok()) return leveldb::Status::OK();
    last_error_ = s;
    return leveldb::Status::IOError(s.ToString());
  }
  psflow::WritableFile* const f_;
  Status last_error_;
};

void PutFixed32(std::string* dst, uint32_t v) {
  char b[4];
  std::memcpy(b, &v, 4);  // little-endian host (static_assert above)
  dst->append(b, 4);
}

// Crc of the string lengths as TensorFlow defines it: each length as a
// little-endian uint32, or uint64 when it does not fit.
uint32_t ExtendLengthCrc(uint32_t crc, uint64_t len) {
  if (len <= 0xffffffffu) {
    const uint32_t l32 = static_cast<uint32_t>(len);
    return crc32c::Extend(crc, &l32, 4);
  }
  return crc32c::Extend(crc, &len, 8);
}

tensorflow::TensorShapeProto ShapeToProto(const TensorShape& s) {
  tensorflow::TensorShapeProto p;
  for (int64_t d : s.dims()) p.add_dim()->set_size(d);
  return p;
}

StatusOr<TensorShape> ShapeFromProto(const tensorflow::TensorShapeProto& p) {
  if (p.unknown_rank()) return InvalidArgumentError("shape has unknown rank");
  std::vector<int64_t> dims;
  for (const auto& d : p.dim()) dims.push_back(d.size());
  return TensorShape::FromDims(dims);
}

std::string IndexCorruptHint() {
  return "; the file is corrupt or truncated, or was not written by psflow or TensorFlow. "
         "Restore from another checkpoint (see the `checkpoint` file) or delete this one";
}

// LevelDB allocates a block's size before it reads (and checks) the block,
// so a block handle that lies would allocate what the file cannot hold: the
// footer's handles and every handle in the index block must lie inside the
// file before LevelDB opens it.  (The table format: leveldb's
// doc/table_format.md.)
Status CheckTableHandles(std::string_view file, const std::string& path) {
  constexpr size_t kFooter = 48, kTrailer = 5;  // two handles padded + magic; type + crc
  const auto bad = [&](const std::string& what) {
    return DataLossError("cannot read checkpoint index ", path, ": ", what, IndexCorruptHint());
  };
  if (file.size() < kFooter) return bad(StrCat("it has ", file.size(), " bytes, less than a table footer"));
  const uint64_t body = file.size() - kFooter;
  const auto in_file = [&](uint64_t offset, uint64_t size) {
    return offset <= body && size <= body - offset && kTrailer <= body - offset - size;
  };
  std::string_view footer = file.substr(body);
  uint64_t meta_off, meta_size, index_off, index_size;
  if (!GetVarint64(&footer, &meta_off) || !GetVarint64(&footer, &meta_size) || !GetVarint64(&footer, &index_off) ||
      !GetVarint64(&footer, &index_size) || !in_file(meta_off, meta_size) || !in_file(index_off, index_size)) {
    return bad("its footer points outside the file");
  }
  // The index block: entries (shared, non-shared, value lengths; key delta;
  // value = a data block's handle), restart offsets, their count.
  std::string_view block = file.substr(index_off, index_size);
  if (block.size() < 4) return bad("its index block is too short");
  uint32_t restarts = 0;
  std::memcpy(&restarts, block.data() + block.size() - 4, 4);
  if (restarts > (block.size() - 4) / 4) return bad("its index block's restart count is out of range");
  std::string_view entries = block.substr(0, block.size() - 4 - 4 * static_cast<size_t>(restarts));
  while (!entries.empty()) {
    uint64_t shared, non_shared, value_len, off, size;
    if (!GetVarint64(&entries, &shared) || !GetVarint64(&entries, &non_shared) ||
        !GetVarint64(&entries, &value_len) || non_shared > entries.size() ||
        value_len > entries.size() - non_shared) {
      return bad("an index block entry is cut short");
    }
    std::string_view value = entries.substr(non_shared, value_len);
    entries.remove_prefix(non_shared + value_len);
    if (!GetVarint64(&value, &off) || !GetVarint64(&value, &size) || !in_file(off, size)) {
      return bad("a data block handle points outside the file");
    }
  }
  return OkStatus();
}

// The index file, read whole, for LevelDB.
class MemoryRandomAccessFile final : public leveldb::RandomAccessFile {
 public:
  explicit MemoryRandomAccessFile(std::string bytes) : bytes_(std::move(bytes)) {}
  leveldb::Status Read(uint64_t offset, size_t n, leveldb::Slice* result, char*) const override {
    if (offset > bytes_.size()) return leveldb::Status::IOError("read past the end of the index");
    *result = leveldb::Slice(bytes_.data() + offset, std::min<size_t>(n, bytes_.size() - offset));
    return leveldb::Status::OK();
  }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

}  // namespace

std::string BundleIndexFilename(std::string_view prefix) { return StrCat(prefix, ".index"); }

std::string BundleDataFilename(std::string_view prefix, int shard_id, int num_shards) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), ".data-%05d-of-%05d", shard_id, num_shards);
  return StrCat(prefix, buf);
}

// ---------------------------------------------------------------------------
// BundleShardWriter

BundleShardWriter::BundleShardWriter(Env* env, std::string prefix, int shard_id, int num_shards,
                                     BundleWriterOptions options)
    : env_(env),
      prefix_(std::move(prefix)),
      shard_id_(shard_id),
      num_shards_(num_shards),
      options_(options),
      data_path_(BundleDataFilename(prefix_, shard_id, num_shards)) {
  if (num_shards_ <= 0 || shard_id_ < 0 || shard_id_ >= num_shards_) {
    status_ = InvalidArgumentError("bad shard ", shard_id_, " of ", num_shards_, " for checkpoint ",
                                   prefix_);
  }
}

BundleShardWriter::~BundleShardWriter() {
  if (out_ != nullptr) {  // abandoned: leave no temporary file behind
    out_->Close().IgnoreError();
    env_->DeleteFile(tmp_path_).IgnoreError();
  }
}

Status BundleShardWriter::Fail(Status s) {
  if (status_.ok()) status_ = s;
  return status_;
}

Status BundleShardWriter::Open() {
  if (out_ != nullptr) return OkStatus();
  RETURN_IF_ERROR(env_->CreateDirs(std::string(Dirname(prefix_))));
  tmp_path_ = StrCat(data_path_, ".tempstate", RandomHexSuffix());
  ASSIGN_OR_RETURN(out_, env_->NewWritableFile(tmp_path_));
  return OkStatus();
}

Status BundleShardWriter::Add(std::string_view key, const Tensor& tensor) {
  if (!status_.ok()) return status_;
  if (key.empty()) return Fail(InvalidArgumentError("empty tensor key in checkpoint ", prefix_));
  if (entries_.count(std::string(key)) != 0) {
    return Fail(InvalidArgumentError("Adding duplicate key: ", key, " to checkpoint ", prefix_));
  }
  BundleEntryProto e;
  RETURN_IF_ERROR(Fail(AddLocked(key, tensor, &e)));
  entries_.emplace(std::string(key), std::move(e));
  return OkStatus();
}

Status BundleShardWriter::AddSlice(std::string_view full_key, const TensorShape& full_shape,
                                   const TensorSlice& slice, const Tensor& slice_tensor) {
  if (!status_.ok()) return status_;
  if (full_key.empty()) return Fail(InvalidArgumentError("empty tensor key in ", prefix_));
  Status fits = slice.CheckFitsIn(full_shape);
  if (!fits.ok()) return Fail(fits.WithContext("slice of ", full_key));
  if (!(slice.SliceShape(full_shape) == slice_tensor.shape())) {
    return Fail(InvalidArgumentError("slice ", slice.DebugString(), " of ", full_key, " ",
                                     full_shape.DebugString(), " has shape ",
                                     slice.SliceShape(full_shape).DebugString(),
                                     " but the tensor given has shape ",
                                     slice_tensor.shape().DebugString()));
  }
  // A "slice" covering the whole variable is stored as a plain tensor, as
  // TensorFlow does.
  bool covers_all = true;
  for (int d = 0; d < slice.rank(); ++d) {
    covers_all = covers_all && (slice.IsFullAt(d) ||
                                (slice.start(d) == 0 && slice.length(d) == full_shape.dim(d)));
  }
  if (covers_all) return Add(full_key, slice_tensor);
  auto it = entries_.find(std::string(full_key));
  if (it != entries_.end()) {
    BundleEntryProto& meta = it->second;
    if (meta.slices_size() == 0) {
      return Fail(InvalidArgumentError("Adding duplicate key: ", full_key, " to ", prefix_));
    }
    if (static_cast<DType>(meta.dtype()) != slice_tensor.dtype() ||
        !(*ShapeFromProto(meta.shape()) == full_shape)) {
      return Fail(InvalidArgumentError("slices of ", full_key,
                                       " disagree on the variable's dtype or shape"));
    }
  }
  const std::string slice_key = EncodeTensorNameSlice(full_key, slice);
  if (entries_.count(slice_key) != 0) {
    return Fail(InvalidArgumentError("slice ", slice.DebugString(), " of ", full_key,
                                     " added twice to ", prefix_));
  }
  BundleEntryProto data_entry;
  RETURN_IF_ERROR(Fail(AddLocked(slice_key, slice_tensor, &data_entry)));
  entries_.emplace(slice_key, std::move(data_entry));
  BundleEntryProto& meta = entries_[std::string(full_key)];
  meta.set_dtype(static_cast<tensorflow::DataType>(slice_tensor.dtype()));
  *meta.mutable_shape() = ShapeToProto(full_shape);
  *meta.add_slices() = slice.ToProto();
  return OkStatus();
}

Status BundleShardWriter::AddLocked(std::string_view key, const Tensor& t, BundleEntryProto* e) {
  if (finished_) return FailedPreconditionError("checkpoint writer for ", data_path_, " is finished");
  if (!t.device().is_host()) {
    return InvalidArgumentError("tensor ", key, " is on ", t.device().ToString(),
                                "; copy it to the host before saving");
  }
  RETURN_IF_ERROR(Open());
  // Pad so that this tensor starts at a multiple of data_alignment.
  if (options_.data_alignment > 1 && size_ % static_cast<int64_t>(options_.data_alignment) != 0) {
    const size_t pad = options_.data_alignment - static_cast<size_t>(size_) % options_.data_alignment;
    RETURN_IF_ERROR(out_->Append(std::string(pad, '\0')));
    size_ += static_cast<int64_t>(pad);
  }
  e->set_dtype(static_cast<tensorflow::DataType>(t.dtype()));
  *e->mutable_shape() = ShapeToProto(t.shape());
  e->set_shard_id(shard_id_);
  e->set_offset(size_);
  uint32_t crc = 0;
  int64_t written = 0;
  if (t.dtype() == DType::kString) {
    // varint64 lengths, masked crc of the lengths, then the bytes.
    auto strs = t.flat<std::string>();
    std::string head;
    uint32_t len_crc = 0;
    for (const std::string& s : strs) {
      PutVarint64(&head, s.size());
      len_crc = ExtendLengthCrc(len_crc, s.size());
    }
    PutFixed32(&head, crc32c::Mask(len_crc));
    crc = crc32c::Extend(len_crc, head.data() + head.size() - 4, 4);
    RETURN_IF_ERROR(out_->Append(head));
    written += static_cast<int64_t>(head.size());
    for (const std::string& s : strs) {
      crc = crc32c::Extend(crc, s.data(), s.size());
      RETURN_IF_ERROR(out_->Append(s));
      written += static_cast<int64_t>(s.size());
    }
  } else {
    if (!IsSupportedDType(static_cast<int>(t.dtype()))) {
      return InvalidArgumentError("tensor ", key, " has unsupported dtype ", t.dtype());
    }
    const char* p = static_cast<const char*>(t.raw_data());
    const size_t n = t.TotalBytes();
    for (size_t off = 0; off < n; off += kIoChunk) {
      const size_t len = std::min(kIoChunk, n - off);
      crc = crc32c::Extend(crc, p + off, len);
      RETURN_IF_ERROR(out_->Append(std::string_view(p + off, len)));
    }
    written = static_cast<int64_t>(n);
  }
  e->set_size(written);
  e->set_crc32c(crc32c::Mask(crc));
  size_ += written;
  return OkStatus();
}

StatusOr<BundleEntries> BundleShardWriter::Finish() {
  if (!status_.ok()) return status_;
  if (finished_) return Fail(FailedPreconditionError("Finish called twice on ", data_path_));
  Status s = [&]() -> Status {
    RETURN_IF_ERROR(Open());  // a shard with no tensors still gets its (empty) file
    RETURN_IF_ERROR(out_->Sync());
    RETURN_IF_ERROR(out_->Close());
    out_.reset();
    RETURN_IF_ERROR(env_->RenameFile(tmp_path_, data_path_));
    return OkStatus();
  }();
  finished_ = true;
  if (!s.ok()) {
    out_.reset();
    env_->DeleteFile(tmp_path_).IgnoreError();
    return Fail(s.WithContext("writing checkpoint data file ", data_path_));
  }
  return std::move(entries_);
}

// ---------------------------------------------------------------------------
// Index

Status StackRowsAcrossShards(std::vector<BundleEntries>* shards, const std::string& key) {
  struct Part {
    size_t shard;
    int64_t rows;
  };
  std::vector<Part> parts;
  const BundleEntryProto* first = nullptr;
  for (size_t k = 0; k < shards->size(); ++k) {
    auto it = (*shards)[k].find(key);
    if (it == (*shards)[k].end()) continue;
    const BundleEntryProto& e = it->second;
    if (e.slices_size() != 0 || e.shape().dim_size() < 1) {
      return InvalidArgumentError("cannot stack ", key, " of part ", k, ": it is not a plain tensor of rank >= 1");
    }
    if (first == nullptr) {
      first = &e;
    } else {
      bool same = first->dtype() == e.dtype() && first->shape().dim_size() == e.shape().dim_size();
      for (int d = 1; same && d < e.shape().dim_size(); ++d) same = first->shape().dim(d).size() == e.shape().dim(d).size();
      if (!same) return InvalidArgumentError("the parts of ", key, " disagree on their dtype or row shape (part ", k, ")");
    }
    parts.push_back({k, e.shape().dim(0).size()});
  }
  if (parts.size() <= 1) return OkStatus();
  int64_t total = 0;
  size_t nonempty = 0;
  for (const Part& p : parts) {
    total += p.rows;
    nonempty += p.rows > 0 ? 1 : 0;
  }
  // Keep one plain tensor when at most one part has rows.
  if (nonempty <= 1) {
    bool kept = false;
    for (const Part& p : parts) {
      if (!kept && (p.rows > 0 || nonempty == 0)) {
        kept = true;
        continue;
      }
      (*shards)[p.shard].erase(key);
    }
    return OkStatus();
  }
  const auto dtype = first->dtype();
  std::vector<int64_t> full_dims;
  for (const auto& d : first->shape().dim()) full_dims.push_back(d.size());
  full_dims[0] = total;
  const TensorShape full(full_dims);
  int64_t begin = 0;
  for (const Part& p : parts) {
    BundleEntries& entries = (*shards)[p.shard];
    BundleEntryProto data = entries.at(key);
    entries.erase(key);
    if (p.rows == 0) continue;
    std::vector<int64_t> starts(full_dims.size(), 0), lengths(full_dims.size(), TensorSlice::kFullExtent);
    starts[0] = begin;
    lengths[0] = p.rows;
    ASSIGN_OR_RETURN(TensorSlice slice, TensorSlice::FromExtents(starts, lengths));
    entries[EncodeTensorNameSlice(key, slice)] = std::move(data);
    BundleEntryProto meta;
    meta.set_dtype(dtype);
    *meta.mutable_shape() = ShapeToProto(full);
    *meta.add_slices() = slice.ToProto();
    entries[key] = std::move(meta);
    begin += p.rows;
  }
  return OkStatus();
}

Status WriteBundleIndex(Env* env, std::string_view prefix, int num_shards,
                        const std::vector<BundleEntries>& shards) {
  const std::string index_path = BundleIndexFilename(prefix);
  // Merge: a key may appear in two shards only as slice metadata of one
  // partitioned variable, whose slice lists are then concatenated.
  std::map<std::string, BundleEntryProto> merged;
  std::map<std::string, size_t> owner;
  for (size_t k = 0; k < shards.size(); ++k) {
    for (const auto& [key, entry] : shards[k]) {
      if (entry.slices_size() == 0 &&
          (entry.shard_id() < 0 || entry.shard_id() >= num_shards)) {
        return InvalidArgumentError("entry ", CEscape(key), " names data shard ", entry.shard_id(),
                                    " but checkpoint ", prefix, " has ", num_shards, " shards");
      }
      auto [it, inserted] = merged.emplace(key, entry);
      if (inserted) {
        owner[key] = k;
        continue;
      }
      BundleEntryProto& prev = it->second;
      if (prev.slices_size() == 0 || entry.slices_size() == 0) {
        return InvalidArgumentError("Duplicate tensor keyed by ", CEscape(key),
                                    " in checkpoint parts ", owner[key], " and ", k, " of ", prefix);
      }
      if (prev.dtype() != entry.dtype() ||
          prev.shape().SerializeAsString() != entry.shape().SerializeAsString()) {
        return InvalidArgumentError("parts ", owner[key], " and ", k, " of ", prefix,
                                    " disagree on the dtype or shape of partitioned variable ", key);
      }
      for (const auto& s : entry.slices()) *prev.add_slices() = s;
    }
  }

  BundleHeaderProto header;
  header.set_num_shards(num_shards);
  header.set_endianness(BundleHeaderProto::LITTLE);
  header.mutable_version()->set_producer(kTensorBundleVersion);
  header.mutable_version()->set_min_consumer(0);

  const std::string tmp = StrCat(index_path, ".tempstate", RandomHexSuffix());
  Status s = [&]() -> Status {
    ASSIGN_OR_RETURN(auto file, env->NewWritableFile(tmp));
    LevelDbWritableFile adapter(file.get());
    leveldb::Options options;
    options.compression = leveldb::kNoCompression;
    options.filter_policy = nullptr;
    options.block_size = kIndexBlockSize;
    leveldb::TableBuilder builder(options, &adapter);
    builder.Add("", header.SerializeAsString());
    std::string value;
    for (const auto& [key, entry] : merged) {
      entry.SerializeToString(&value);
      builder.Add(key, value);
    }
    leveldb::Status ls = builder.Finish();
    if (!ls.ok()) {
      if (!adapter.last_error().ok()) return adapter.last_error();
      return InternalError("building index table: ", ls.ToString());
    }
    RETURN_IF_ERROR(file->Sync());
    RETURN_IF_ERROR(file->Close());
    RETURN_IF_ERROR(env->RenameFile(tmp, index_path));
    return env->SyncDir(std::string(Dirname(index_path)));
  }();
  if (!s.ok()) {
    if (env->FileExists(tmp)) env->DeleteFile(tmp).IgnoreError();
    return s.WithContext("writing checkpoint index ", index_path);
  }
  return OkStatus();
}

// ---------------------------------------------------------------------------
// BundleWriter

BundleWriter::BundleWriter(Env* env, std::string prefix, BundleWriterOptions options)
    : env_(env), prefix_(std::move(prefix)), shard_(env, prefix_, 0, 1, options) {}

Status BundleWriter::Finish() {
  ASSIGN_OR_RETURN(BundleEntries entries, shard_.Finish());
  return WriteBundleIndex(env_, prefix_, 1, {entries});
}

// ---------------------------------------------------------------------------
// BundleReader

BundleReader::BundleReader(Env* env, std::string prefix) : env_(env), prefix_(std::move(prefix)) {}
BundleReader::~BundleReader() = default;

StatusOr<std::unique_ptr<BundleReader>> BundleReader::Open(Env* env, std::string prefix) {
  std::unique_ptr<BundleReader> r(new BundleReader(env, std::move(prefix)));
  RETURN_IF_ERROR(r->Init());
  return r;
}

Status BundleReader::Init() {
  const std::string path = BundleIndexFilename(prefix_);
  auto size = env_->GetFileSize(path);
  if (!size.ok()) {
    return NotFoundError("checkpoint index ", path, " not found (",
                         size.status().message(), "); is ", prefix_, " a checkpoint prefix?");
  }
  ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(env_, path));
  RETURN_IF_ERROR(CheckTableHandles(bytes, path));
  MemoryRandomAccessFile adapter(std::move(bytes));
  leveldb::Options options;
  options.paranoid_checks = true;  // verify the index block's checksum too
  leveldb::Table* raw = nullptr;
  leveldb::Status ls = leveldb::Table::Open(options, &adapter, adapter.bytes().size(), &raw);
  if (!ls.ok()) {
    return DataLossError("cannot read checkpoint index ", path, ": ", ls.ToString(),
                         IndexCorruptHint());
  }
  std::unique_ptr<leveldb::Table> table(raw);
  leveldb::ReadOptions ro;
  ro.verify_checksums = true;
  std::unique_ptr<leveldb::Iterator> it(table->NewIterator(ro));
  it->SeekToFirst();
  if (!it->Valid() || !it->key().empty()) {
    if (!it->status().ok()) {
      return DataLossError("cannot read checkpoint index ", path, ": ", it->status().ToString(),
                           IndexCorruptHint());
    }
    return DataLossError("checkpoint index ", path, " has no header entry", IndexCorruptHint());
  }
  if (!header_.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
    return DataLossError("checkpoint index ", path, ": unable to parse header",
                         IndexCorruptHint());
  }
  const auto& v = header_.version();
  if (v.min_consumer() > kTensorBundleVersion) {
    return FailedPreconditionError(
        "checkpoint ", path, " needs a reader of format version ", v.min_consumer(),
        " or newer (min_consumer), but this psflow reads version ", kTensorBundleVersion,
        "; it was written by a newer TensorFlow or psflow: upgrade psflow to read it");
  }
  if (v.producer() < kTensorBundleMinProducer) {
    return FailedPreconditionError("checkpoint ", path, " producer version ", v.producer(),
                                   " is below the oldest supported version ",
                                   kTensorBundleMinProducer);
  }
  for (int bad : v.bad_consumers()) {
    if (bad == kTensorBundleVersion) {
      return FailedPreconditionError("checkpoint ", path, " disallows readers of version ",
                                     kTensorBundleVersion, " (bad_consumers)");
    }
  }
  if (header_.endianness() != tensorflow::BundleHeaderProto::LITTLE) {
    return UnimplementedError("checkpoint ", path,
                              " was written on a big-endian machine; psflow reads little-endian "
                              "checkpoints only");
  }
  if (header_.num_shards() <= 0) {
    return DataLossError("checkpoint index ", path, " declares ", header_.num_shards(),
                         " data shards", IndexCorruptHint());
  }
  for (it->Next(); it->Valid(); it->Next()) {
    BundleEntryProto e;
    const std::string key = it->key().ToString();
    if (!e.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return DataLossError("checkpoint index ", path, ": entry for key ", CEscape(key),
                           " not parseable", IndexCorruptHint());
    }
    entries_.emplace(key, std::move(e));
  }
  if (!it->status().ok()) {
    return DataLossError("cannot read checkpoint index ", path, ": ", it->status().ToString(),
                         IndexCorruptHint());
  }
  data_files_.resize(static_cast<size_t>(header_.num_shards()));
  return OkStatus();
}

std::vector<std::string> BundleReader::Keys() const {
  std::vector<std::string> keys;
  for (const auto& [k, e] : entries_) {
    if (!k.empty() && k[0] == '\0') continue;  // a slice of a partitioned variable
    keys.push_back(k);
  }
  return keys;
}

bool BundleReader::Contains(std::string_view key) const {
  return entries_.find(key) != entries_.end();
}

Status BundleReader::KeyError(std::string_view key) const {
  return NotFoundError("Key ", key, " not found in checkpoint ", prefix_);
}

StatusOr<tensorflow::BundleEntryProto> BundleReader::GetEntry(std::string_view key) const {
  auto it = entries_.find(key);
  if (it == entries_.end()) return KeyError(key);
  return it->second;
}

StatusOr<BundleTensorInfo> BundleReader::GetInfo(std::string_view key) const {
  auto it = entries_.find(key);
  if (it == entries_.end()) return KeyError(key);
  const BundleEntryProto& e = it->second;
  if (!IsSupportedDType(e.dtype())) {
    return UnimplementedError("tensor ", key, " in checkpoint ", prefix_, " has dtype ",
                              tensorflow::DataType_Name(e.dtype()), " (", e.dtype(),
                              "), which psflow does not support");
  }
  auto shape = ShapeFromProto(e.shape());
  if (!shape.ok()) {
    return DataLossError("Invalid tensor shape for key ", key, " in checkpoint ", prefix_, ": ",
                         shape.status().message());
  }
  return BundleTensorInfo{static_cast<DType>(e.dtype()), *shape, e.slices_size() > 0};
}

Status BundleReader::CheckDataFiles() const {
  // The bytes each shard must hold: the end of its last entry.
  std::vector<uint64_t> need(static_cast<size_t>(num_shards()), 0);
  for (const auto& [key, e] : entries_) {
    if (key.empty() || e.slices_size() > 0) continue;  // the header; a partitioned variable's full entry
    if (e.shard_id() < 0 || e.shard_id() >= num_shards() || e.offset() < 0 || e.size() < 0 ||
        static_cast<uint64_t>(e.offset()) > std::numeric_limits<uint64_t>::max() - static_cast<uint64_t>(e.size())) {
      return DataLossError("checkpoint index ", BundleIndexFilename(prefix_), ": entry ", CEscape(key),
                           " names shard ", e.shard_id(), " at offset ", e.offset(), " size ", e.size(),
                           IndexCorruptHint());
    }
    uint64_t& n = need[static_cast<size_t>(e.shard_id())];
    n = std::max(n, static_cast<uint64_t>(e.offset()) + static_cast<uint64_t>(e.size()));
  }
  for (int k = 0; k < num_shards(); ++k) {
    const std::string path = BundleDataFilename(prefix_, k, num_shards());
    auto size = env_->GetFileSize(path);
    if (IsNotFoundError(size.status())) return NotFoundError(path, " is missing");
    if (!size.ok()) return size.status();
    if (*size < need[static_cast<size_t>(k)]) {
      return DataLossError(path, " has ", *size, " bytes, the index needs ", need[static_cast<size_t>(k)],
                           " (a truncated copy?)");
    }
  }
  return OkStatus();
}

Status CheckBundleFiles(Env* env, const std::string& prefix) {
  // BundleReader::Open calls every unreadable index NotFound; here a
  // permission or I/O error keeps its code.
  auto size = env->GetFileSize(BundleIndexFilename(prefix));
  if (IsNotFoundError(size.status())) return NotFoundError(BundleIndexFilename(prefix), " is missing");
  if (!size.ok()) return size.status();
  ASSIGN_OR_RETURN(auto reader, BundleReader::Open(env, prefix));
  return reader->CheckDataFiles();
}

StatusOr<const RandomAccessFile*> BundleReader::DataFile(int shard_id) const {
  if (shard_id < 0 || shard_id >= num_shards()) {
    return DataLossError("entry names data shard ", shard_id, " but checkpoint ", prefix_,
                         " has ", num_shards(), " shards", IndexCorruptHint());
  }
  std::lock_guard<std::mutex> l(mu_);
  auto& f = data_files_[static_cast<size_t>(shard_id)];
  if (f == nullptr) {
    const std::string path = BundleDataFilename(prefix_, shard_id, num_shards());
    auto opened = env_->NewRandomAccessFile(path);
    if (!opened.ok()) {
      return Status(opened.status().code(),
                    StrCat("checkpoint data file missing or unreadable: ",
                           opened.status().message(),
                           "; a checkpoint needs its .index and every .data-*-of-* file"));
    }
    f = std::move(opened).value();
  }
  return f.get();
}

StatusOr<Tensor> BundleReader::ReadEntry(std::string_view key, const BundleEntryProto& e) const {
  ASSIGN_OR_RETURN(BundleTensorInfo info, GetInfo(key));
  Tensor t(info.dtype, info.shape);
  RETURN_IF_ERROR(ReadEntryInto(key, e, &t));
  return t;
}

Status BundleReader::LookupInto(std::string_view key, Tensor* out) const {
  auto it = entries_.find(key);
  if (it == entries_.end()) return KeyError(key);
  ASSIGN_OR_RETURN(BundleTensorInfo info, GetInfo(key));
  if (info.dtype != out->dtype() || !(info.shape == out->shape())) {
    return InvalidArgumentError("cannot restore ", key, " (", DTypeName(info.dtype), " ",
                                info.shape.DebugString(), " in checkpoint ", prefix_,
                                ") into a tensor of ", DTypeName(out->dtype()), " ",
                                out->shape().DebugString());
  }
  if (!out->device().is_host()) {
    return InvalidArgumentError("cannot restore ", key, " into a tensor on ",
                                out->device().ToString(), "; restore on the host and copy");
  }
  if (it->second.slices_size() > 0) {
    ASSIGN_OR_RETURN(Tensor t, Lookup(key));
    CopySliceIntersection(t, TensorSlice::Full(info.shape.rank()), out,
                          TensorSlice::Full(info.shape.rank()), info.shape);
    return OkStatus();
  }
  return ReadEntryInto(key, it->second, out);
}

Status BundleReader::ReadEntryInto(std::string_view key, const BundleEntryProto& e,
                                   Tensor* out) const {
  ASSIGN_OR_RETURN(BundleTensorInfo info, GetInfo(key));
  Tensor& t = *out;
  ASSIGN_OR_RETURN(const RandomAccessFile* file, DataFile(e.shard_id()));
  const std::string& fname = file->name();
  if (e.offset() < 0 || e.size() < 0) {
    return DataLossError("bad offset/size for key ", CEscape(key), " in ", fname);
  }
  const uint64_t offset = static_cast<uint64_t>(e.offset());
  uint32_t crc = 0;
  auto short_read = [&](uint64_t at, size_t want, size_t got) {
    return DataLossError("checkpoint data file ", fname, " is truncated: key ", CEscape(key),
                         " needs ", want, " bytes at offset ", at, " but only ", got,
                         " could be read");
  };
  if (info.dtype == DType::kString) {
    // Header: one varint64 per element plus the 4-byte masked length crc.
    const int64_t n = info.shape.num_elements();
    const size_t max_head = static_cast<size_t>(n) * 10 + 4;
    const size_t head_len = std::min<size_t>(max_head, static_cast<size_t>(e.size()));
    std::string head(head_len, '\0');
    size_t got = 0;
    RETURN_IF_ERROR(file->Read(offset, head_len, head.data(), &got));
    if (got < head_len) return short_read(offset, head_len, got);
    std::string_view in(head);
    std::vector<uint64_t> lens(static_cast<size_t>(n));
    uint32_t len_crc = 0;
    uint64_t total = 0;
    for (auto& l : lens) {
      if (!GetVarint64(&in, &l)) {
        return DataLossError("string tensor ", CEscape(key), " in ", fname,
                             " has a corrupt length header");
      }
      len_crc = ExtendLengthCrc(len_crc, l);
      total += l;
    }
    if (in.size() < 4) return DataLossError("string tensor ", key, " in ", fname, " is truncated");
    uint32_t stored_len_crc;
    std::memcpy(&stored_len_crc, in.data(), 4);
    if (crc32c::Unmask(stored_len_crc) != len_crc) {
      return DataLossError("The length checksum does not match for string tensor ", CEscape(key),
                           " in ", fname, ": the checkpoint is corrupt");
    }
    crc = crc32c::Extend(len_crc, in.data(), 4);
    const size_t used = head.size() - in.size() + 4;
    if (used + total != static_cast<uint64_t>(e.size())) {
      return DataLossError("Invalid size in bundle entry: key ", CEscape(key), "; stored size ",
                           e.size(), "; expected size ", used + total, " (file ", fname, ")");
    }
    uint64_t pos = offset + used;
    auto strs = t.flat<std::string>();
    for (size_t i = 0; i < lens.size(); ++i) {
      strs[i].resize(lens[i]);
      RETURN_IF_ERROR(file->Read(pos, lens[i], strs[i].data(), &got));
      if (got < lens[i]) return short_read(pos, lens[i], got);
      crc = crc32c::Extend(crc, strs[i].data(), lens[i]);
      pos += lens[i];
    }
  } else {
    const size_t n = t.TotalBytes();
    if (static_cast<uint64_t>(e.size()) != n) {
      return DataLossError("Invalid size in bundle entry: key ", CEscape(key), "; stored size ",
                           e.size(), "; expected size ", n, " (file ", fname, ")");
    }
    char* p = static_cast<char*>(t.raw_data());
    for (size_t off = 0; off < n; off += kIoChunk) {
      const size_t len = std::min(kIoChunk, n - off);
      size_t got = 0;
      RETURN_IF_ERROR(file->Read(offset + off, len, p + off, &got));
      if (got < len) return short_read(offset + off, len, got);
      crc = crc32c::Extend(crc, p + off, len);
    }
  }
  if (crc32c::Unmask(e.crc32c()) != crc) {
    char buf[96];
    std::snprintf(buf, sizeof(buf), "stored %08x vs. calculated on the restored bytes %08x",
                  crc32c::Unmask(e.crc32c()), crc);
    return DataLossError("Checksum does not match for key ", CEscape(key), " in ", fname, ": ",
                         buf, "; checkpoint ", prefix_, " is corrupt. To go on from an older one, move its files (",
                         Basename(prefix_), ".*) out of the directory: a job resumes from the newest complete "
                         "checkpoint its `checkpoint` file lists");
  }
  return OkStatus();
}

StatusOr<Tensor> BundleReader::Lookup(std::string_view key) const {
  auto it = entries_.find(key);
  if (it == entries_.end()) return KeyError(key);
  const BundleEntryProto& e = it->second;
  if (e.slices_size() == 0) return ReadEntry(key, e);
  ASSIGN_OR_RETURN(BundleTensorInfo info, GetInfo(key));
  return LookupSlice(key, TensorSlice::Full(info.shape.rank()));
}

StatusOr<Tensor> BundleReader::LookupSlice(std::string_view key, const TensorSlice& want) const {
  auto it = entries_.find(key);
  if (it == entries_.end()) return KeyError(key);
  const BundleEntryProto& e = it->second;
  ASSIGN_OR_RETURN(BundleTensorInfo info, GetInfo(key));
  RETURN_IF_ERROR(want.CheckFitsIn(info.shape).WithContext("slice of ", key));
  Tensor out(info.dtype, want.SliceShape(info.shape));
  if (e.slices_size() == 0) {
    ASSIGN_OR_RETURN(Tensor full, ReadEntry(key, e));
    if (want.IsFull()) return full;
    CopySliceIntersection(full, TensorSlice::Full(info.shape.rank()), &out, want, info.shape);
    return out;
  }
  int64_t covered = 0;
  for (const auto& sp : e.slices()) {
    auto stored = TensorSlice::FromProto(sp);
    if (!stored.ok() || !stored->CheckFitsIn(info.shape).ok()) {
      return DataLossError("partitioned variable ", key, " in checkpoint ", prefix_,
                           " has an invalid slice", IndexCorruptHint());
    }
    std::optional<TensorSlice> overlap = stored->Intersect(want, info.shape);
    if (!overlap) continue;
    const std::string slice_key = EncodeTensorNameSlice(key, *stored);
    auto sit = entries_.find(slice_key);
    if (sit == entries_.end()) {
      return DataLossError("slice ", stored->DebugString(), " of ", key,
                           " is listed but its data is missing from checkpoint ", prefix_);
    }
    ASSIGN_OR_RETURN(Tensor part, ReadEntry(slice_key, sit->second));
    if (!(part.shape() == stored->SliceShape(info.shape))) {
      return DataLossError("slice ", stored->DebugString(), " of ", key, " has shape ",
                           part.shape().DebugString(), " in checkpoint ", prefix_);
    }
    CopySliceIntersection(part, *stored, &out, want, info.shape);
    covered += overlap->SliceShape(info.shape).num_elements();
  }
  if (covered != out.num_elements()) {
    return DataLossError("the slices of ", key, " stored in checkpoint ", prefix_, " cover ",
                         covered, " of the ", out.num_elements(), " elements of slice ",
                         want.DebugString());
  }
  return out;
}

}  // namespace psflow
