#include "common/data/example_batches.h"

#include <cstring>
#include <random>
#include <string_view>
#include <unordered_map>

#include "common/core/strcat.h"
#include "common/data/tfrecord.h"

namespace psflow {
namespace {

// The protobuf wire format, as much of it as tf.train.Example uses.
enum WireType { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

struct Reader {
  const uint8_t* p;
  const uint8_t* end;
  bool done() const { return p >= end; }
  bool Varint(uint64_t* v) {
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p >= end) return false;
      const uint8_t b = *p++;
      r |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        *v = r;
        return true;
      }
    }
    return false;
  }
  // A field's tag; false at a malformed one.
  bool Tag(uint32_t* field, WireType* type) {
    uint64_t t;
    if (!Varint(&t) || (t >> 3) == 0 || (t >> 3) > 0x1fffffff) return false;
    *field = static_cast<uint32_t>(t >> 3);
    *type = static_cast<WireType>(t & 7);
    return true;
  }
  bool Len(Reader* sub) {
    uint64_t n;
    if (!Varint(&n) || n > static_cast<uint64_t>(end - p)) return false;
    *sub = {p, p + n};
    p += n;
    return true;
  }
  bool Skip(WireType type) {
    uint64_t v;
    Reader sub;
    switch (type) {
      case kVarint: return Varint(&v);
      case kFixed64: return Advance(8);
      case kLen: return Len(&sub);
      case kFixed32: return Advance(4);
    }
    return false;
  }
  bool Advance(size_t n) {
    if (static_cast<size_t>(end - p) < n) return false;
    p += n;
    return true;
  }
};

// Calls one(reader) for each value of field 1 of a FloatList / Int64List,
// written one by one (wire type `single`) or packed; `one` reads a value
// off the reader and returns false when it cannot.  False for a malformed list.
template <typename One>
bool ForEachListValue(Reader r, WireType single, One&& one) {
  while (!r.done()) {
    uint32_t field;
    WireType type;
    if (!r.Tag(&field, &type)) return false;
    if (field != 1) {
      if (!r.Skip(type)) return false;
    } else if (type == single) {
      if (!one(r)) return false;
    } else if (type == kLen) {
      Reader packed;
      if (!r.Len(&packed)) return false;
      while (!packed.done()) {
        if (!one(packed)) return false;
      }
    } else {
      return false;
    }
  }
  return true;
}

template <typename F>
bool ForEachFloat(Reader r, F&& fn) {
  return ForEachListValue(r, kFixed32, [&](Reader& q) {
    float f;
    if (static_cast<size_t>(q.end - q.p) < 4) return false;
    std::memcpy(&f, q.p, 4);
    q.p += 4;
    fn(f);
    return true;
  });
}

template <typename F>
bool ForEachInt64(Reader r, F&& fn) {
  return ForEachListValue(r, kVarint, [&](Reader& q) {
    uint64_t v;
    if (!q.Varint(&v)) return false;
    fn(static_cast<int64_t>(v));
    return true;
  });
}

template <typename F>
bool ForEachBytes(Reader r, F&& fn) {
  while (!r.done()) {
    uint32_t field;
    WireType type;
    if (!r.Tag(&field, &type)) return false;
    if (field != 1 || type != kLen) {
      if (field == 1 || !r.Skip(type)) return false;
      continue;
    }
    Reader s;
    if (!r.Len(&s)) return false;
    fn(std::string_view(reinterpret_cast<const char*>(s.p), static_cast<size_t>(s.end - s.p)));
  }
  return true;
}

// A Feature message, given as the pieces protobuf would merge (the values
// of one map entry): which list it holds (1 bytes, 2 float, 3 int64; 0
// none) and that list's pieces.  As protobuf merges a oneof: pieces of the
// same list add up, another list replaces them.
bool ReadFeature(const std::vector<Reader>& feature, uint32_t* kind, std::vector<Reader>* lists) {
  *kind = 0;
  lists->clear();
  for (Reader r : feature) {
    while (!r.done()) {
      uint32_t field;
      WireType type;
      if (!r.Tag(&field, &type)) return false;
      if (field >= 1 && field <= 3) {
        Reader list;
        if (type != kLen || !r.Len(&list)) return false;
        if (field != *kind) lists->clear();
        *kind = field;
        lists->push_back(list);
      } else if (!r.Skip(type)) {
        return false;
      }
    }
  }
  return true;
}

const char* KindName(DType dtype) {
  return dtype == DType::kFloat ? "float_list" : dtype == DType::kInt64 ? "int64_list" : "bytes_list";
}
uint32_t KindOf(DType dtype) { return dtype == DType::kString ? 1 : dtype == DType::kFloat ? 2 : 3; }

class ExampleBatches final : public Dataset {
 public:
  ExampleBatches(std::vector<std::string> paths, std::map<std::string, FixedLenFeature> spec, ExampleBatchOptions o)
      : paths_(std::move(paths)), options_(std::move(o)), rng_(options_.seed) {
    for (auto& [name, f] : spec) {
      Out out;
      out.name = name;
      out.key = name == options_.rename_from && !options_.rename_to.empty() ? options_.rename_to : name;
      out.spec = f;
      out.per = f.var_len ? 0 : f.shape.num_elements();
      outs_.push_back(std::move(out));
    }
    for (size_t i = 0; i < outs_.size(); ++i) index_[outs_[i].name] = i;
  }

  Status Reset() override {
    file_ = 0;
    reader_.reset();
    counter_ = 0;
    read_in_pass_ = 0;
    source_done_ = false;
    buffer_.clear();
    return OkStatus();
  }

  StatusOr<bool> Next(Example* out) override {
    const size_t b = static_cast<size_t>(std::max<int64_t>(1, options_.batch_size));
    if (batch_.size() < b) batch_.resize(b);
    size_t m = 0;
    while (m < b) {
      ASSIGN_OR_RETURN(bool got, NextRecord(&batch_[m]));
      if (!got) break;
      ++m;
    }
    if (m == 0) return false;
    RETURN_IF_ERROR(Parse(m, out));
    return true;
  }

 private:
  struct Rec {
    std::string bytes;
    size_t file = 0;
    int64_t record = 0;
  };
  struct Out {
    std::string name, key;
    FixedLenFeature spec;
    int64_t per = 0;
    Tensor fixed;
    // VarLen: the batch's values and their (example, position) pairs.
    std::vector<int64_t> indices;
    std::vector<float> floats;
    std::vector<int64_t> ints;
    std::vector<std::string> strings;
    int64_t longest = 0;
  };

  // The next record of this shard from the files, into *r (its string's
  // buffer reused); false after the last file.
  StatusOr<bool> ReadRecord(Rec* r) {
    while (true) {
      if (reader_ == nullptr) {
        if (file_ >= paths_.size()) return false;
        ASSIGN_OR_RETURN(reader_, TFRecordReader::Open(Env::Default(), paths_[file_]));
      }
      ASSIGN_OR_RETURN(bool ok, reader_->Next(&r->bytes));
      if (!ok) {
        reader_.reset();
        ++file_;
        continue;
      }
      const int64_t k = counter_++;
      if (options_.num_shards > 1 && k % options_.num_shards != options_.shard_index) continue;
      r->file = file_;
      r->record = reader_->records_read() - 1;
      return true;
    }
  }

  // The next record after sharding, shuffling and repeating; false at the end.
  StatusOr<bool> NextRecord(Rec* into) {
    const size_t want = static_cast<size_t>(std::max<int64_t>(1, options_.shuffle_buffer));
    for (int pass_tries = 0; pass_tries < 2; ++pass_tries) {
      while (!source_done_ && buffer_.size() < want) {
        buffer_.emplace_back();
        StatusOr<bool> read = ReadRecord(&buffer_.back());
        if (!read.ok()) {
          buffer_.pop_back();  // nothing half-read stays buffered
          return read.status();
        }
        const bool got = *read;
        if (!got) {
          buffer_.pop_back();
          source_done_ = true;
        } else {
          ++read_in_pass_;
        }
      }
      if (!buffer_.empty()) {
        // A uniformly chosen buffered record goes out; its slot takes the
        // next record, or the last slot's when the pass has no more.
        const size_t i = want <= 1 ? 0 : static_cast<size_t>(rng_() % buffer_.size());
        std::swap(*into, buffer_[i]);
        Rec& slot = buffer_[i];
        bool refilled = false;
        if (!source_done_) {
          StatusOr<bool> read = ReadRecord(&slot);
          if (!read.ok()) {
            std::swap(slot, buffer_.back());  // the slot holds what went out: drop it
            buffer_.pop_back();
            return read.status();
          }
          refilled = *read;
          if (refilled) {
            ++read_in_pass_;
          } else {
            source_done_ = true;
          }
        }
        if (!refilled) {
          std::swap(slot, buffer_.back());
          buffer_.pop_back();
        }
        return true;
      }
      // The pass is over and drained: another one, if asked and not empty.
      if (!options_.repeat || read_in_pass_ == 0) return false;
      file_ = 0;
      reader_.reset();
      counter_ = 0;
      read_in_pass_ = 0;
      source_done_ = false;
    }
    return false;
  }

  std::string Where(const Rec& r) const { return StrCat(paths_[r.file], " record ", r.record); }

  Status Parse(size_t m, Example* out) {
    const int64_t n = static_cast<int64_t>(m);
    for (Out& o : outs_) {
      if (o.spec.var_len) {
        o.indices.clear();
        o.floats.clear();
        o.ints.clear();
        o.strings.clear();
        o.longest = 0;
      } else {
        std::vector<int64_t> dims = {n};
        for (int64_t d : o.spec.shape.dims()) dims.push_back(d);
        o.fixed = Tensor(o.spec.dtype, TensorShape(dims));
      }
    }
    found_.resize(outs_.size());
    std::vector<bool> present(outs_.size());
    for (size_t b = 0; b < m; ++b) {
      const Rec& rec = batch_[b];
      std::fill(present.begin(), present.end(), false);
      // Example { Features features = 1 }, Features { map<string, Feature> feature = 1 }.
      Reader ex{reinterpret_cast<const uint8_t*>(rec.bytes.data()),
                reinterpret_cast<const uint8_t*>(rec.bytes.data()) + rec.bytes.size()};
      bool ok = true;
      while (ok && !ex.done()) {
        uint32_t field;
        WireType type;
        ok = ex.Tag(&field, &type);
        if (!ok) break;
        if (field != 1 || type != kLen) {
          ok = field != 1 && ex.Skip(type);
          continue;
        }
        Reader features;
        ok = ex.Len(&features);
        while (ok && !features.done()) {
          ok = features.Tag(&field, &type);
          if (!ok) break;
          if (field != 1 || type != kLen) {
            ok = field != 1 && features.Skip(type);
            continue;
          }
          // A map entry: its key (the last one) and its value's pieces
          // (protobuf merges repeated message fields).
          Reader entry, key{nullptr, nullptr}, value;
          values_.clear();
          ok = features.Len(&entry);
          while (ok && !entry.done()) {
            ok = entry.Tag(&field, &type);
            if (!ok) break;
            if (field == 1 && type == kLen) {
              ok = entry.Len(&key);
            } else if (field == 2 && type == kLen) {
              ok = entry.Len(&value);
              values_.push_back(value);
            } else {
              ok = field != 1 && field != 2 && entry.Skip(type);
            }
          }
          if (!ok) break;
          const std::string_view name(reinterpret_cast<const char*>(key.p), static_cast<size_t>(key.end - key.p));
          auto it = index_.find(name);
          if (it == index_.end()) continue;
          found_[it->second] = values_;  // a map's last entry wins
          present[it->second] = true;
        }
      }
      if (!ok) return DataLossError(Where(rec), " is not a tf.train.Example");
      for (size_t f = 0; f < outs_.size(); ++f) RETURN_IF_ERROR(Fill(outs_[f], b, present[f], found_[f], rec));
    }
    out->clear();
    for (Out& o : outs_) {
      if (!o.spec.var_len) {
        (*out)[o.key] = std::move(o.fixed);
        continue;
      }
      const int64_t total = static_cast<int64_t>(o.indices.size() / 2);
      (*out)[SparseIndicesKey(o.key)] = Tensor::FromVector<int64_t>(o.indices, TensorShape({total, 2}));
      Tensor values(o.spec.dtype, TensorShape({total}));
      if (o.spec.dtype == DType::kFloat) {
        std::copy(o.floats.begin(), o.floats.end(), values.flat<float>().begin());
      } else if (o.spec.dtype == DType::kInt64) {
        std::copy(o.ints.begin(), o.ints.end(), values.flat<int64_t>().begin());
      } else {
        std::move(o.strings.begin(), o.strings.end(), values.flat<std::string>().begin());
      }
      (*out)[SparseValuesKey(o.key)] = std::move(values);
      (*out)[SparseDenseShapeKey(o.key)] = Tensor::FromVector<int64_t>({n, o.longest}, TensorShape({2}));
    }
    return OkStatus();
  }

  // Example b's values of feature `o` (`feature`: its Feature message's pieces).
  Status Fill(Out& o, size_t b, bool present, const std::vector<Reader>& feature, const Rec& rec) {
    uint32_t kind = 0;
    lists_.clear();
    if (present && !ReadFeature(feature, &kind, &lists_)) {
      return DataLossError(Where(rec), " is not a tf.train.Example (feature '", o.name, "')");
    }
    if (!o.spec.var_len && !present) return InvalidArgumentError(Where(rec), ": feature '", o.name, "' is missing");
    if (kind != 0 && kind != KindOf(o.spec.dtype)) {
      return InvalidArgumentError(Where(rec), ": feature '", o.name, "' is not a", o.spec.dtype == DType::kInt64 ? "n " : " ",
                                  KindName(o.spec.dtype));
    }
    int64_t count = 0;
    bool ok = true;
    const int64_t row = static_cast<int64_t>(b);
    if (o.spec.var_len) {
      auto add = [&] {
        o.indices.push_back(row);
        o.indices.push_back(count++);
      };
      for (const Reader& list : lists_) {
        if (kind == 2) {
          ok = ok && ForEachFloat(list, [&](float v) { o.floats.push_back(v), add(); });
        } else if (kind == 3) {
          ok = ok && ForEachInt64(list, [&](int64_t v) { o.ints.push_back(v), add(); });
        } else if (kind == 1) {
          ok = ok && ForEachBytes(list, [&](std::string_view v) { o.strings.emplace_back(v), add(); });
        }
      }
      o.longest = std::max(o.longest, count);
    } else {
      const int64_t base = row * o.per;
      for (const Reader& list : lists_) {
        if (kind == 2) {
          float* dst = o.fixed.flat<float>().data();
          ok = ok && ForEachFloat(list, [&](float v) {
            if (count < o.per) dst[base + count] = v;
            ++count;
          });
        } else if (kind == 3) {
          int64_t* dst = o.fixed.flat<int64_t>().data();
          ok = ok && ForEachInt64(list, [&](int64_t v) {
            if (count < o.per) dst[base + count] = v;
            ++count;
          });
        } else if (kind == 1) {
          std::string* dst = o.fixed.flat<std::string>().data();
          ok = ok && ForEachBytes(list, [&](std::string_view v) {
            if (count < o.per) dst[base + count].assign(v);
            ++count;
          });
        }
      }
      if (ok && count != o.per) {
        return InvalidArgumentError(Where(rec), ": feature '", o.name, "' has ", count, " values, expected ", o.per,
                                    " for shape ", o.spec.shape.DebugString());
      }
    }
    if (!ok) return DataLossError(Where(rec), " is not a tf.train.Example (feature '", o.name, "')");
    return OkStatus();
  }

  const std::vector<std::string> paths_;
  const ExampleBatchOptions options_;
  std::vector<Out> outs_;
  std::unordered_map<std::string_view, size_t> index_;  // views of outs_[i].name
  std::mt19937_64 rng_;
  size_t file_ = 0;
  std::unique_ptr<TFRecordReader> reader_;
  int64_t counter_ = 0;       // records read in this pass, before sharding
  int64_t read_in_pass_ = 0;  // records of this shard read in this pass
  bool source_done_ = false;
  std::vector<Rec> buffer_;  // the shuffle buffer
  std::vector<Rec> batch_;   // the records of the batch being made (buffers reused)
  // Parsing scratch, kept for their capacity: each feature's pieces in the
  // record at hand, a map entry's value pieces, a feature's lists.
  std::vector<std::vector<Reader>> found_;
  std::vector<Reader> values_, lists_;
};

}  // namespace

StatusOr<std::unique_ptr<Dataset>> TFRecordExampleBatches(std::vector<std::string> paths,
                                                          std::map<std::string, FixedLenFeature> spec,
                                                          ExampleBatchOptions options) {
  if (paths.empty()) return InvalidArgumentError("TFRecord dataset needs at least one file");
  for (const auto& p : paths) {
    if (!Env::Default()->FileExists(p)) return NotFoundError("TFRecord file ", p, " does not exist");
  }
  if (options.num_shards < 1 || options.shard_index < 0 || options.shard_index >= options.num_shards) {
    return InvalidArgumentError("shard ", options.shard_index, " of ", options.num_shards, " does not exist");
  }
  if (spec.empty()) return InvalidArgumentError("a tf.train.Example input needs at least one feature");
  for (const auto& [name, f] : spec) {
    if (f.dtype != DType::kFloat && f.dtype != DType::kInt64 && f.dtype != DType::kString) {
      return InvalidArgumentError("feature '", name, "' is ", DTypeName(f.dtype),
                                  "; a tf.train.Example holds float, int64 or string (bytes) lists");
    }
  }
  return std::unique_ptr<Dataset>(new ExampleBatches(std::move(paths), std::move(spec), std::move(options)));
}

}  // namespace psflow
