#include "common/checkpoint/tensor_bundle.h"

#include "common/core/varint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <leveldb/env.h>
#include <leveldb/options.h>
#include <leveldb/table_builder.h>

#include <cmath>
#include <fstream>
#include <random>
#include <thread>

#include "common/core/testing.h"
#include "common/core/crc32c.h"

namespace psflow {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::FreshTempDir;

Env* env() { return Env::Default(); }

// A tensor of `dtype` and `shape` whose values depend on `seed`.
Tensor MakeTensor(DType dtype, TensorShape shape, int seed) {
  Tensor t(dtype, shape);
  const int64_t n = t.num_elements();
  for (int64_t i = 0; i < n; ++i) {
    const size_t k = static_cast<size_t>(i);
    const double v = std::sin(static_cast<double>(i * 7 + seed)) * 1000.0;
    switch (dtype) {
      case DType::kFloat: t.flat<float>()[k] = static_cast<float>(v); break;
      case DType::kDouble: t.flat<double>()[k] = v; break;
      case DType::kInt32: t.flat<int32_t>()[k] = static_cast<int32_t>(v); break;
      case DType::kInt64: t.flat<int64_t>()[k] = static_cast<int64_t>(v) << 20; break;
      case DType::kBool: t.flat<bool>()[k] = v > 0; break;
      case DType::kHalf: t.flat<Half>()[k] = FloatToHalf(static_cast<float>(v)); break;
      case DType::kBFloat16: t.flat<BFloat16>()[k] = FloatToBFloat16(static_cast<float>(v)); break;
      case DType::kString:
        t.flat<std::string>()[k] = std::string(static_cast<size_t>(i % 5), static_cast<char>('a' + (i + seed) % 26)) +
                                   (i % 3 == 0 ? std::string("\0\xff", 2) : "");
        break;
      case DType::kInvalid: break;
    }
  }
  return t;
}

const DType kAllDTypes[] = {DType::kFloat, DType::kDouble, DType::kInt32,    DType::kInt64,
                            DType::kBool,  DType::kHalf,   DType::kBFloat16, DType::kString};

TEST(TensorBundleTest, RoundTripsEveryDTypeAndShape) {
  const std::string prefix = JoinPath(FreshTempDir("rt"), "ckpt");
  const std::vector<TensorShape> shapes = {TensorShape({}), TensorShape({0}), TensorShape({3, 0, 2}),
                                           TensorShape({7}), TensorShape({4, 5, 6})};
  std::map<std::string, Tensor> expected;
  BundleWriter w(env(), prefix);
  int seed = 0;
  for (DType dt : kAllDTypes) {
    for (const TensorShape& s : shapes) {
      const std::string key = StrCat("v/", DTypeName(dt), "/", s.DebugString());
      Tensor t = MakeTensor(dt, s, ++seed);
      ASSERT_TRUE(w.Add(key, t).ok()) << key;
      expected[key] = t;
    }
  }
  ASSERT_TRUE(w.Finish().ok());
  EXPECT_TRUE(env()->FileExists(prefix + ".data-00000-of-00001"));

  auto r = BundleReader::Open(env(), prefix);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->num_shards(), 1);
  EXPECT_EQ((*r)->Keys().size(), expected.size());
  for (const auto& [key, t] : expected) {
    auto got = (*r)->Lookup(key);
    ASSERT_TRUE(got.ok()) << key << ": " << got.status();
    EXPECT_TRUE(got->Equals(t)) << key << ": " << got->DebugString() << " vs " << t.DebugString();
  }
}

TEST(TensorBundleTest, LargeTensorRoundTripsAndIsAligned) {
  const std::string prefix = JoinPath(FreshTempDir("large"), "ckpt");
  BundleWriterOptions opts;
  opts.data_alignment = 64;
  BundleWriter w(env(), prefix, opts);
  Tensor small = MakeTensor(DType::kInt32, TensorShape({3}), 1);
  Tensor big = MakeTensor(DType::kFloat, TensorShape({1000, 1500}), 2);  // 6 MB, several IO chunks
  ASSERT_TRUE(w.Add("a_small", small).ok());
  ASSERT_TRUE(w.Add("b_big", big).ok());
  ASSERT_TRUE(w.Finish().ok());
  auto r = BundleReader::Open(env(), prefix);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->GetEntry("b_big")->offset() % 64, 0);
  EXPECT_TRUE((*r)->Lookup("b_big")->Equals(big));
  EXPECT_TRUE((*r)->Lookup("a_small")->Equals(small));
}

TEST(TensorBundleTest, IndexIsSortedWhateverTheAddOrder) {
  const std::string prefix = JoinPath(FreshTempDir("order"), "ckpt");
  BundleWriter w(env(), prefix);
  for (const char* k : {"zeta", "alpha", "Mid", "alpha/beta"}) {
    ASSERT_TRUE(w.Add(k, Tensor::Scalar<float>(1.f)).ok());
  }
  ASSERT_TRUE(w.Finish().ok());
  auto r = BundleReader::Open(env(), prefix);
  ASSERT_TRUE(r.ok());
  EXPECT_THAT((*r)->Keys(), ElementsAre("Mid", "alpha", "alpha/beta", "zeta"));
}

TEST(TensorBundleTest, DuplicateKeyIsRejectedAndWriterStaysFailed) {
  const std::string prefix = JoinPath(FreshTempDir("dup"), "ckpt");
  BundleWriter w(env(), prefix);
  ASSERT_TRUE(w.Add("w", Tensor::Scalar<float>(1.f)).ok());
  Status s = w.Add("w", Tensor::Scalar<float>(2.f));
  EXPECT_TRUE(IsInvalidArgumentError(s));
  EXPECT_THAT(s.message(), HasSubstr("duplicate key: w"));
  EXPECT_FALSE(w.Add("x", Tensor::Scalar<float>(1.f)).ok());  // keeps the first error
  EXPECT_FALSE(w.Finish().ok());
  EXPECT_FALSE(env()->FileExists(prefix + ".index"));
}

// Three PS tasks write their shards in parallel; one index names them all.
// Each of four shards holds its own rows of "t" (one holds none): stacked,
// they read as one tensor, shard order, whatever sizes they had.
TEST(TensorBundleTest, StacksRowsThatEachShardHolds) {
  const std::string prefix = JoinPath(FreshTempDir("stack"), "model.ckpt-3");
  const int64_t rows[4] = {3, 0, 5, 1};
  std::vector<BundleEntries> parts;
  for (int k = 0; k < 4; ++k) {
    BundleShardWriter w(env(), prefix, k, 4);
    ASSERT_TRUE(w.Add("t", MakeTensor(DType::kFloat, TensorShape({rows[k], 2}), k)).ok());
    ASSERT_TRUE(w.Add("ids", MakeTensor(DType::kInt64, TensorShape({rows[k]}), k)).ok());
    if (k == 2) ASSERT_TRUE(w.Add("only_here", MakeTensor(DType::kInt64, TensorShape({rows[k]}), 7)).ok());
    auto e = w.Finish();
    ASSERT_TRUE(e.ok()) << e.status();
    parts.push_back(*e);
  }
  for (const char* key : {"t", "ids", "only_here"}) ASSERT_TRUE(StackRowsAcrossShards(&parts, key).ok()) << key;
  ASSERT_TRUE(WriteBundleIndex(env(), prefix, 4, parts).ok());
  auto r = BundleReader::Open(env(), prefix);
  ASSERT_TRUE(r.ok()) << r.status();
  auto t = (*r)->Lookup("t");
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->shape(), TensorShape({9, 2}));
  int64_t at = 0;
  for (int k = 0; k < 4; ++k) {
    EXPECT_TRUE(t->SliceRows(at, at + rows[k]).Equals(MakeTensor(DType::kFloat, TensorShape({rows[k], 2}), k))) << k;
    at += rows[k];
  }
  EXPECT_EQ((*r)->Lookup("ids")->shape(), TensorShape({9}));
  EXPECT_TRUE((*r)->GetInfo("t")->partitioned);
  EXPECT_FALSE((*r)->GetInfo("only_here")->partitioned);  // one part stays a plain tensor

  // Parts that disagree on the row shape are refused.
  std::vector<BundleEntries> bad(2);
  for (int k = 0; k < 2; ++k) {
    BundleShardWriter w(env(), prefix + "-bad", k, 2);
    ASSERT_TRUE(w.Add("t", MakeTensor(DType::kFloat, TensorShape({2, k + 1}), k)).ok());
    bad[static_cast<size_t>(k)] = *w.Finish();
  }
  EXPECT_THAT(std::string(StackRowsAcrossShards(&bad, "t").message()), HasSubstr("disagree on their dtype or row shape"));
  // Empty everywhere: one empty tensor.
  std::vector<BundleEntries> empty(2);
  for (int k = 0; k < 2; ++k) {
    BundleShardWriter w(env(), prefix + "-empty", k, 2);
    ASSERT_TRUE(w.Add("t", MakeTensor(DType::kFloat, TensorShape({0, 3}), k)).ok());
    empty[static_cast<size_t>(k)] = *w.Finish();
  }
  ASSERT_TRUE(StackRowsAcrossShards(&empty, "t").ok());
  ASSERT_TRUE(WriteBundleIndex(env(), prefix + "-empty", 2, empty).ok());
  auto re = BundleReader::Open(env(), prefix + "-empty");
  ASSERT_TRUE(re.ok());
  EXPECT_EQ((*re)->Lookup("t")->shape(), TensorShape({0, 3}));
}

TEST(TensorBundleTest, MergesThreeShardsWrittenInParallel) {
  const std::string prefix = JoinPath(FreshTempDir("merge"), "model.ckpt-7");
  std::vector<BundleEntries> parts(3);
  std::vector<Status> status(3);
  std::vector<std::thread> threads;
  for (int k = 0; k < 3; ++k) {
    threads.emplace_back([&, k] {
      BundleShardWriter w(env(), prefix, k, 3);
      for (int v = 0; v < 4; ++v) {
        Status s = w.Add(StrCat("layer", v, "/shard", k), MakeTensor(DType::kFloat, TensorShape({10, k + 1}), v + 10 * k));
        if (!s.ok()) status[k] = s;
      }
      auto e = w.Finish();
      if (e.ok()) parts[k] = *e; else status[k] = e.status();
    });
  }
  for (auto& t : threads) t.join();
  for (const Status& s : status) ASSERT_TRUE(s.ok()) << s;
  ASSERT_TRUE(WriteBundleIndex(env(), prefix, 3, parts).ok());
  for (int k = 0; k < 3; ++k) EXPECT_TRUE(env()->FileExists(BundleDataFilename(prefix, k, 3)));
  EXPECT_EQ(BundleDataFilename(prefix, 2, 3), prefix + ".data-00002-of-00003");

  auto r = BundleReader::Open(env(), prefix);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->num_shards(), 3);
  EXPECT_EQ((*r)->Keys().size(), 12u);
  for (int k = 0; k < 3; ++k) {
    for (int v = 0; v < 4; ++v) {
      const std::string key = StrCat("layer", v, "/shard", k);
      EXPECT_EQ((*r)->GetEntry(key)->shard_id(), k);
      EXPECT_TRUE((*r)->Lookup(key)->Equals(MakeTensor(DType::kFloat, TensorShape({10, k + 1}), v + 10 * k)))
          << key;
    }
  }
}

TEST(TensorBundleTest, DuplicateKeyAcrossShardsIsRejected) {
  const std::string prefix = JoinPath(FreshTempDir("dupshard"), "ckpt");
  std::vector<BundleEntries> parts;
  for (int k = 0; k < 2; ++k) {
    BundleShardWriter w(env(), prefix, k, 2);
    ASSERT_TRUE(w.Add("global_step", Tensor::Scalar<int64_t>(1)).ok());
    parts.push_back(*w.Finish());
  }
  Status s = WriteBundleIndex(env(), prefix, 2, parts);
  EXPECT_THAT(s.message(), HasSubstr("Duplicate tensor keyed by global_step"));
  EXPECT_FALSE(env()->FileExists(prefix + ".index"));
}

// An embedding partitioned 3 ways by rows over 3 shards can be read back
// whole, or as any other row partitioning.
TEST(TensorBundleTest, PartitionedVariableReadsBackWhateverThePartitioning) {
  const std::string prefix = JoinPath(FreshTempDir("part"), "ckpt");
  const TensorShape full({10, 4});
  Tensor whole = MakeTensor(DType::kFloat, full, 3);
  const int64_t bounds[] = {0, 4, 7, 10};
  std::vector<BundleEntries> parts;
  for (int k = 0; k < 3; ++k) {
    TensorSlice slice = *TensorSlice::FromExtents({bounds[k], 0}, {bounds[k + 1] - bounds[k], -1});
    Tensor part(DType::kFloat, slice.SliceShape(full));
    CopySliceIntersection(whole, TensorSlice::Full(2), &part, slice, full);
    BundleShardWriter w(env(), prefix, k, 3);
    ASSERT_TRUE(w.AddSlice("emb", full, slice, part).ok());
    parts.push_back(*w.Finish());
  }
  ASSERT_TRUE(WriteBundleIndex(env(), prefix, 3, parts).ok());
  auto r = BundleReader::Open(env(), prefix);
  ASSERT_TRUE(r.ok());
  EXPECT_THAT((*r)->Keys(), ElementsAre("emb"));  // slice keys hidden
  auto info = (*r)->GetInfo("emb");
  EXPECT_TRUE(info->partitioned);
  EXPECT_EQ(info->shape, full);
  EXPECT_EQ((*r)->GetEntry("emb")->slices_size(), 3);
  auto got = (*r)->Lookup("emb");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->Equals(whole));
  // Re-partition two ways: rows [0,5) and [5,10), and a column slice.
  for (const char* spec : {"0,5:-", "5,5:-", "3,6:1,2", "-:-"}) {
    TensorSlice want = *TensorSlice::Parse(spec);
    Tensor expect(DType::kFloat, want.SliceShape(full));
    CopySliceIntersection(whole, TensorSlice::Full(2), &expect, want, full);
    auto s = (*r)->LookupSlice("emb", want);
    ASSERT_TRUE(s.ok()) << spec << ": " << s.status();
    EXPECT_TRUE(s->Equals(expect)) << spec;
  }
  // A slice of an unpartitioned variable works the same way.
  EXPECT_FALSE((*r)->LookupSlice("emb", *TensorSlice::Parse("8,5:-")).ok());
}

TEST(TensorBundleTest, MissingSliceIsDataLoss) {
  const std::string prefix = JoinPath(FreshTempDir("holes"), "ckpt");
  const TensorShape full({6});
  BundleWriter w(env(), prefix);
  TensorSlice first = *TensorSlice::Parse("0,3");
  ASSERT_TRUE(w.AddSlice("v", full, first, MakeTensor(DType::kInt64, TensorShape({3}), 1)).ok());
  ASSERT_TRUE(w.Finish().ok());
  auto r = BundleReader::Open(env(), prefix);
  ASSERT_TRUE(r.ok());
  auto got = (*r)->Lookup("v");
  EXPECT_TRUE(IsDataLossError(got.status()));
  EXPECT_THAT(got.status().message(), HasSubstr("cover 3 of the 6 elements"));
  EXPECT_TRUE((*r)->LookupSlice("v", first).ok());
}

// ---- Corruption ----

std::string WriteSimpleCheckpoint(const std::string& name) {
  const std::string prefix = JoinPath(FreshTempDir(name), "model.ckpt-1");
  BundleWriter w(env(), prefix);
  CHECK_OK(w.Add("dense/bias", MakeTensor(DType::kFloat, TensorShape({16}), 1)));
  CHECK_OK(w.Add("dense/kernel", MakeTensor(DType::kFloat, TensorShape({8, 16}), 2)));
  CHECK_OK(w.Add("global_step", Tensor::Scalar<int64_t>(1)));
  CHECK_OK(w.Add("vocab", MakeTensor(DType::kString, TensorShape({5}), 3)));
  CHECK_OK(w.Finish());
  return prefix;
}

void FlipByte(const std::string& file, int64_t offset) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f.good()) << file;
  f.seekg(offset < 0 ? offset : offset, offset < 0 ? std::ios::end : std::ios::beg);
  char c;
  f.get(c);
  f.seekp(offset < 0 ? offset : offset, offset < 0 ? std::ios::end : std::ios::beg);
  f.put(static_cast<char>(c ^ 0x20));
}

TEST(TensorBundleCorruptionTest, FlippedDataByteIsDataLossNamingKeyAndFile) {
  const std::string prefix = WriteSimpleCheckpoint("flip");
  auto r0 = BundleReader::Open(env(), prefix);
  const int64_t off = (*r0)->GetEntry("dense/kernel")->offset() + 17;
  r0->reset();
  const std::string data = prefix + ".data-00000-of-00001";
  FlipByte(data, off);
  auto r = BundleReader::Open(env(), prefix);
  ASSERT_TRUE(r.ok());
  auto got = (*r)->Lookup("dense/kernel");
  ASSERT_FALSE(got.ok());
  EXPECT_TRUE(IsDataLossError(got.status())) << got.status();
  EXPECT_THAT(got.status().message(), HasSubstr("dense/kernel"));
  EXPECT_THAT(got.status().message(), HasSubstr(data));
  EXPECT_TRUE((*r)->Lookup("dense/bias").ok());  // other tensors still read
}

TEST(TensorBundleCorruptionTest, FlippedStringLengthIsDataLoss) {
  const std::string prefix = WriteSimpleCheckpoint("flipstr");
  auto r0 = BundleReader::Open(env(), prefix);
  const int64_t off = (*r0)->GetEntry("vocab")->offset();
  r0->reset();
  FlipByte(prefix + ".data-00000-of-00001", off);
  auto got = (*BundleReader::Open(env(), prefix))->Lookup("vocab");
  EXPECT_TRUE(IsDataLossError(got.status())) << got.status();
  EXPECT_THAT(got.status().message(), HasSubstr("vocab"));
}

TEST(TensorBundleCorruptionTest, TruncatedDataFileIsDataLoss) {
  const std::string prefix = WriteSimpleCheckpoint("truncdata");
  const std::string data = prefix + ".data-00000-of-00001";
  ASSERT_EQ(::truncate(data.c_str(), 100), 0);
  auto got = (*BundleReader::Open(env(), prefix))->Lookup("vocab");
  EXPECT_TRUE(IsDataLossError(got.status())) << got.status();
  EXPECT_THAT(got.status().message(), HasSubstr("truncated"));
}

TEST(TensorBundleCorruptionTest, MissingDataFileNamesIt) {
  const std::string prefix = WriteSimpleCheckpoint("nodata");
  ASSERT_TRUE(env()->DeleteFile(prefix + ".data-00000-of-00001").ok());
  auto got = (*BundleReader::Open(env(), prefix))->Lookup("global_step");
  EXPECT_TRUE(IsNotFoundError(got.status())) << got.status();
  EXPECT_THAT(got.status().message(), HasSubstr(".data-00000-of-00001"));
}

TEST(TensorBundleCorruptionTest, TruncatedIndexIsDataLossNamingTheFile) {
  const std::string prefix = WriteSimpleCheckpoint("truncidx");
  const std::string index = prefix + ".index";
  for (off_t len : {off_t{0}, off_t{20}, off_t{60}}) {
    ASSERT_EQ(::truncate(index.c_str(), len), 0);
    auto r = BundleReader::Open(env(), prefix);
    ASSERT_FALSE(r.ok()) << len;
    EXPECT_TRUE(IsDataLossError(r.status())) << r.status();
    EXPECT_THAT(r.status().message(), HasSubstr(index));
  }
}

TEST(TensorBundleCorruptionTest, BadMagicIsDataLoss) {
  const std::string prefix = WriteSimpleCheckpoint("magic");
  FlipByte(prefix + ".index", -1);  // last byte of the footer's magic
  auto r = BundleReader::Open(env(), prefix);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(IsDataLossError(r.status()));
  EXPECT_THAT(r.status().message(), HasSubstr("bad magic number"));
}

TEST(TensorBundleCorruptionTest, FlippedIndexBlockByteIsDataLoss) {
  const std::string prefix = WriteSimpleCheckpoint("idxcrc");
  FlipByte(prefix + ".index", 20);  // inside the first data block
  auto r = BundleReader::Open(env(), prefix);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(IsDataLossError(r.status())) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("checksum"));
}

// A footer whose index handle claims 1 TiB: refused before LevelDB would
// allocate the claimed size (found by fuzz/bundle_fuzz).
TEST(TensorBundleCorruptionTest, BlockHandlePastTheFileIsRefusedBeforeAllocating) {
  const std::string prefix = WriteSimpleCheckpoint("handle");
  std::string bytes;
  {
    std::ifstream in(prefix + ".index", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  ASSERT_GT(bytes.size(), 48u);
  std::string_view footer(bytes.data() + bytes.size() - 48, 40);
  uint64_t meta_off, meta_size, index_off, index_size;
  ASSERT_TRUE(GetVarint64(&footer, &meta_off) && GetVarint64(&footer, &meta_size) &&
              GetVarint64(&footer, &index_off) && GetVarint64(&footer, &index_size));
  std::string lying;
  PutVarint64(&lying, meta_off);
  PutVarint64(&lying, meta_size);
  PutVarint64(&lying, index_off);
  PutVarint64(&lying, uint64_t{1} << 40);
  lying.resize(40, '\0');
  bytes.replace(bytes.size() - 48, 40, lying);
  {
    std::ofstream out(prefix + ".index", std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  auto r = BundleReader::Open(env(), prefix);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(IsDataLossError(r.status())) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("its footer points outside the file"));
  EXPECT_THAT(r.status().message(), HasSubstr(prefix + ".index"));
}

// Writes an index whose header demands a newer reader.
void WriteIndexWithHeader(const std::string& prefix, const tensorflow::BundleHeaderProto& h) {
  leveldb::WritableFile* f = nullptr;
  ASSERT_TRUE(leveldb::Env::Default()->NewWritableFile(prefix + ".index", &f).ok());
  leveldb::Options o;
  o.compression = leveldb::kNoCompression;
  leveldb::TableBuilder b(o, f);
  b.Add("", h.SerializeAsString());
  ASSERT_TRUE(b.Finish().ok());
  ASSERT_TRUE(f->Close().ok());
  delete f;
}

TEST(TensorBundleCorruptionTest, NewerMinConsumerIsRefusedWithUpgradeHint) {
  const std::string prefix = JoinPath(FreshTempDir("newer"), "ckpt");
  tensorflow::BundleHeaderProto h;
  h.set_num_shards(1);
  h.mutable_version()->set_producer(3);
  h.mutable_version()->set_min_consumer(2);
  WriteIndexWithHeader(prefix, h);
  auto r = BundleReader::Open(env(), prefix);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(IsFailedPreconditionError(r.status()));
  EXPECT_THAT(r.status().message(), HasSubstr("min_consumer"));
  EXPECT_THAT(r.status().message(), HasSubstr("upgrade psflow"));
}

TEST(TensorBundleCorruptionTest, BadConsumerAndBigEndianAreRefused) {
  const std::string prefix = JoinPath(FreshTempDir("badcons"), "ckpt");
  tensorflow::BundleHeaderProto h;
  h.set_num_shards(1);
  h.mutable_version()->set_producer(1);
  h.mutable_version()->add_bad_consumers(1);
  WriteIndexWithHeader(prefix, h);
  EXPECT_THAT(BundleReader::Open(env(), prefix).status().message(), HasSubstr("bad_consumers"));
  h.mutable_version()->clear_bad_consumers();
  h.set_endianness(tensorflow::BundleHeaderProto::BIG);
  WriteIndexWithHeader(prefix, h);
  EXPECT_THAT(BundleReader::Open(env(), prefix).status().message(), HasSubstr("big-endian"));
}

TEST(TensorBundleCorruptionTest, MissingIndexIsNotFound) {
  auto r = BundleReader::Open(env(), "/nonexistent/model.ckpt-5");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(IsNotFoundError(r.status()));
  EXPECT_THAT(r.status().message(), HasSubstr("/nonexistent/model.ckpt-5.index"));
}

}  // namespace
}  // namespace psflow
