// Reads checkpoints and tf.train.Examples written by TensorFlow 2.21 (tests/testdata/tf, made by
// `tests/interop/tf_interop.py --make-testdata`) on every run, without
// TensorFlow.  These files are kept forever: psflow must always read them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "common/checkpoint/checkpoint_state.h"
#include "common/checkpoint/restore.h"
#include "common/checkpoint/tensor_bundle.h"
#include "common/data/dataset.h"
#include "tests/interop/interop_values.h"

namespace psflow {
namespace {

using ::testing::ElementsAre;

std::unique_ptr<BundleReader> OpenLatest(const std::string& sub) {
  const std::string dir = JoinPath(PSFLOW_TESTDATA_DIR, JoinPath("tf", sub));
  auto latest = LatestCheckpoint(Env::Default(), dir);
  EXPECT_TRUE(latest.ok() && latest->has_value()) << dir;
  auto r = BundleReader::Open(Env::Default(), **latest);
  EXPECT_TRUE(r.ok()) << r.status();
  return std::move(r).value();
}

void ExpectValues(const BundleReader& r, const std::string& key, DType dt, TensorShape shape,
                  int seed) {
  auto t = r.Lookup(key);
  ASSERT_TRUE(t.ok()) << key << ": " << t.status();
  Tensor want = interop::MakeValues(dt, shape, seed);
  EXPECT_TRUE(t->Equals(want)) << key << ": " << t->DebugString() << " vs " << want.DebugString();
}

TEST(TfTestdataTest, CompatV1SaverEveryDType) {
  auto r = OpenLatest("v1_saver");
  EXPECT_THAT(r->prefix(), ::testing::EndsWith("model.ckpt-42"));
  const DType dtypes[] = {DType::kFloat, DType::kDouble, DType::kHalf, DType::kBFloat16,
                          DType::kInt32, DType::kInt64,  DType::kBool, DType::kString};
  int seed = 0;
  for (DType dt : dtypes) {
    ++seed;
    const std::string name(DTypeName(dt));
    ExpectValues(*r, name + "/scalar", dt, TensorShape({}), seed);
    ExpectValues(*r, name + "/matrix", dt, TensorShape({5, 7}), seed);
  }
  ExpectValues(*r, "float/empty", DType::kFloat, TensorShape({0, 3}), 1);
  EXPECT_EQ(r->Lookup("global_step")->flat<int64_t>()[0], 42);
  EXPECT_EQ(r->Keys().size(), 18u);
}

TEST(TfTestdataTest, CompatV1ShardedSaverWithPartitionedVariable) {
  auto r = OpenLatest("v1_sharded");
  EXPECT_EQ(r->num_shards(), 4);
  EXPECT_THAT(r->Keys(), ElementsAre("dense0/kernel", "dense1/kernel", "dense2/kernel",
                                     "embedding", "global_step"));
  for (int k = 0; k < 3; ++k) {
    ExpectValues(*r, StrCat("dense", k, "/kernel"), DType::kFloat, TensorShape({6, 3}), k);
  }
  EXPECT_TRUE(r->GetInfo("embedding")->partitioned);
  EXPECT_EQ(r->GetEntry("embedding")->slices_size(), 3);
  ExpectValues(*r, "embedding", DType::kFloat, TensorShape({10, 4}), 9);
  // Rows 3..7 span TensorFlow's partitions [0,4) and [4,7) and [7,10).
  Tensor whole = interop::MakeValues(DType::kFloat, TensorShape({10, 4}), 9);
  TensorSlice want = *TensorSlice::Parse("3,5:-");
  Tensor expect(DType::kFloat, want.SliceShape(TensorShape({10, 4})));
  CopySliceIntersection(whole, TensorSlice::Full(2), &expect, want, TensorShape({10, 4}));
  auto got = r->LookupSlice("embedding", want);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->Equals(expect));
  EXPECT_EQ(r->Lookup("global_step")->flat<int64_t>()[0], 7);
}

TEST(TfTestdataTest, Tf2ObjectCheckpointRestoresWithRenames) {
  auto r = OpenLatest("tf2_object");
  ExpectValues(*r, "model/kernel/.ATTRIBUTES/VARIABLE_VALUE", DType::kFloat, TensorShape({6, 3}), 0);
  ExpectValues(*r, "model/bias/.ATTRIBUTES/VARIABLE_VALUE", DType::kFloat, TensorShape({3}), 1);
  EXPECT_EQ(r->Lookup("step/.ATTRIBUTES/VARIABLE_VALUE")->flat<int64_t>()[0], 5);
  // Restoring into psflow variable names takes an explicit rename map.
  std::vector<VariableSpec> model = {{"dense/kernel", DType::kFloat, TensorShape({6, 3})},
                                     {"dense/bias", DType::kFloat, TensorShape({3})}};
  EXPECT_FALSE(CheckCompatibility(*r, model).ok());
  RestoreOptions opts;
  opts.var_list = std::map<std::string, std::string>{
      {"model/kernel/.ATTRIBUTES/VARIABLE_VALUE", "dense/kernel"},
      {"model/bias/.ATTRIBUTES/VARIABLE_VALUE", "dense/bias"}};
  auto v = RestoreVariables(*r, model, opts);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(v->at("dense/bias").Equals(interop::MakeValues(DType::kFloat, TensorShape({3}), 1)));
}

// VarLen features of tf.train.Examples written by TensorFlow, batched by
// psflow's pipeline into the SparseTensors tf.io.parse_example gave
// (varlen/parsed.json, written by TensorFlow beside the records).
TEST(TfTestdataTest, VarLenExamplesBatchAsTensorFlowParsesThem) {
  const std::string dir = JoinPath(PSFLOW_TESTDATA_DIR, "tf/varlen");
  const YAML::Node want = YAML::LoadFile(JoinPath(dir, "parsed.json"));
  ASSERT_TRUE(want.IsSequence());
  auto ds = TFRecordExampleDataset({JoinPath(dir, "examples.tfrecord")},
                                   {{"ids", {.dtype = DType::kInt64, .var_len = true}},
                                    {"tags", {.dtype = DType::kString, .var_len = true}},
                                    {"w", {.dtype = DType::kFloat, .var_len = true}}});
  ASSERT_TRUE(ds.ok()) << ds.status();
  auto batched = Batch(std::move(ds).value(), 2);
  Example e;
  size_t n = 0;
  for (;; ++n) {
    auto more = batched->Next(&e);
    ASSERT_TRUE(more.ok()) << more.status();
    if (!*more) break;
    ASSERT_LT(n, want.size());
    const YAML::Node& b = want[n];
    EXPECT_EQ(e.size(), b.size()) << "batch " << n;
    for (const auto& kv : b) {
      const std::string key = kv.first.as<std::string>();
      ASSERT_TRUE(e.count(key)) << "batch " << n << " has no " << key;
      const Tensor& t = e.at(key);
      std::vector<int64_t> shape;
      for (const auto& d : kv.second["shape"]) shape.push_back(d.as<int64_t>());
      EXPECT_EQ(t.shape(), TensorShape(shape)) << key;
      const YAML::Node& values = kv.second["values"];
      ASSERT_EQ(static_cast<int64_t>(values.size()), t.num_elements()) << key;
      for (size_t i = 0; i < values.size(); ++i) {
        if (t.dtype() == DType::kInt64) {
          EXPECT_EQ(t.flat<int64_t>()[i], values[i].as<int64_t>()) << key << "[" << i << "]";
        } else if (t.dtype() == DType::kFloat) {
          EXPECT_FLOAT_EQ(t.flat<float>()[i], values[i].as<float>()) << key << "[" << i << "]";
        } else {
          // parsed.json holds bytes as latin-1 characters: back to bytes.
          std::string bytes;
          const std::string utf8 = values[i].as<std::string>();
          for (size_t c = 0; c < utf8.size(); ++c) {
            const unsigned char u = static_cast<unsigned char>(utf8[c]);
            if (u < 0x80) {
              bytes.push_back(static_cast<char>(u));
            } else {
              bytes.push_back(static_cast<char>(((u & 0x1f) << 6) | (static_cast<unsigned char>(utf8[++c]) & 0x3f)));
            }
          }
          EXPECT_EQ(t.flat<std::string>()[i], bytes) << key << "[" << i << "]";
        }
      }
    }
  }
  EXPECT_EQ(n, want.size());
  // A VarLen spec of the wrong kind names the file, the record and the feature.
  auto wrong = TFRecordExampleDataset({JoinPath(dir, "examples.tfrecord")}, {{"ids", {.dtype = DType::kFloat, .var_len = true}}});
  ASSERT_TRUE(wrong.ok());
  auto bad = (*wrong)->Next(&e);
  EXPECT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), ::testing::HasSubstr("examples.tfrecord record 0: feature 'ids' is not a float_list"));
}

}  // namespace
}  // namespace psflow
