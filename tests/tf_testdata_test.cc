// Reads checkpoints and tf.train.Examples written by TensorFlow 2.21 (tests/testdata/tf, made by
// `tests/interop/tf_interop.py --make-testdata`) on every run, without
// TensorFlow.  These files are kept forever: psflow must always read them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "common/checkpoint/checkpoint_state.h"
#include "common/checkpoint/restore.h"
#include "common/checkpoint/tensor_bundle.h"
#include "common/core/testing.h"
#include "common/data/dataset.h"
#include "common/ops/fingerprint.h"
#include "common/ops/gradients.h"
#include "common/ops/graph_io.h"
#include "common/ops/ops.h"
#include "common/runtime/session.h"
#include "common/cluster/job_config.h"
#include "common/train/feature_column.h"
#include "common/train/layers.h"
#include "common/train/optimizer.h"
#include "common/train/saved_model.h"
#include "common/train/saver.h"
#include "ps/parameter_server.h"
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

// The JSON files hold bytes as latin-1 characters: back to bytes.
std::string Latin1ToBytes(const std::string& utf8) {
  std::string bytes;
  for (size_t c = 0; c < utf8.size(); ++c) {
    const unsigned char u = static_cast<unsigned char>(utf8[c]);
    bytes.push_back(u < 0x80 ? static_cast<char>(u)
                             : static_cast<char>(((u & 0x1f) << 6) | (static_cast<unsigned char>(utf8[++c]) & 0x3f)));
  }
  return bytes;
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
          EXPECT_EQ(t.flat<std::string>()[i], Latin1ToBytes(values[i].as<std::string>())) << key << "[" << i << "]";
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

// The parameter servers' row-sparse pushes, with repeated rows, leave the
// variable and its slots as TensorFlow's compat.v1 optimizers do
// (sparse_apply/applies.json: apply_gradients of IndexedSlices).
std::vector<float> Floats(const YAML::Node& n) {
  std::vector<float> v;
  for (const auto& x : n) v.push_back(x.as<float>());
  return v;
}

// The state of a one-task PS after its pushes: its checkpoint's tensors.
std::map<std::string, Tensor> SavedState(ParameterServer& ps, const std::string& prefix) {
  auto entries = ps.SaveShard(prefix, 0, 1);
  EXPECT_TRUE(entries.ok()) << entries.status();
  EXPECT_TRUE(WriteBundleIndex(Env::Default(), prefix, 1, {*entries}).ok());
  auto r = BundleReader::Open(Env::Default(), prefix);
  EXPECT_TRUE(r.ok()) << r.status();
  std::map<std::string, Tensor> out;
  for (const std::string& k : (*r)->Keys()) out[k] = *(*r)->Lookup(k);
  return out;
}

std::unique_ptr<ParameterServer> SparsePs(const std::string& optimizer, const YAML::Node& hyper) {
  ParameterServerOptions o{.optimizer = optimizer};
  auto get = [&](const char* k, float d) { return hyper[k] ? hyper[k].as<float>() : d; };
  o.hyper = {.lr = get("lr", 0.01f), .momentum = get("momentum", 0.9f), .beta1 = get("beta1", 0.9f),
             .beta2 = get("beta2", 0.999f), .epsilon = get("epsilon", 1e-8f), .rho = get("rho", 0.9f),
             .l1 = get("l1", 0.f), .l2 = get("l2", 0.f), .lr_power = get("lr_power", -0.5f)};
  o.initial_accumulator_value = get("initial_accumulator_value", 0.1f);
  auto ps = ParameterServer::Create(o);
  EXPECT_TRUE(ps.ok()) << ps.status();
  return std::move(ps).value();
}

PushItem StepPush(const YAML::Node& step) {
  std::vector<int64_t> idx;
  for (const auto& i : step["indices"]) idx.push_back(i.as<int64_t>());
  const int64_t n = static_cast<int64_t>(idx.size());
  return {.name = "emb", .grad = Tensor::FromVector<float>(Floats(step["values"]), TensorShape({n, 3})),
          .rows = Tensor::FromVector<int64_t>(idx, TensorShape({n}))};
}

TEST(TfTestdataTest, RowSparsePushesApplyAsTensorFlowsOptimizers) {
  const YAML::Node all = YAML::LoadFile(JoinPath(PSFLOW_TESTDATA_DIR, "tf/sparse_apply/applies.json"));
  ASSERT_EQ(all.size(), 6u);
  const std::string dir = testing::FreshTempDir("sparse_apply");
  for (const auto& kv : all) {
    const std::string opt = kv.first.as<std::string>();
    SCOPED_TRACE(opt);
    const YAML::Node& o = kv.second;
    auto ps = SparsePs(opt, o["hyper"]);
    ASSERT_TRUE(ps->Initialize({{"emb", Tensor::FromVector<float>(Floats(o["init"]), TensorShape({6, 3}))}}).ok());
    for (size_t k = 0; k < o["steps"].size(); ++k) {
      auto pushed = ps->Push({StepPush(o["steps"][k])}, static_cast<int64_t>(k));
      ASSERT_TRUE(pushed.ok()) << pushed.status();
      const auto state = SavedState(*ps, JoinPath(dir, StrCat(opt, "-", k)));
      for (const auto& want : o["after"][k]) {
        const std::string key = want.first.as<std::string>();
        ASSERT_TRUE(state.count(key)) << key;
        const std::vector<float> w = Floats(want.second);
        const auto got = state.at(key).flat<float>();
        ASSERT_EQ(got.size(), w.size()) << key;
        for (size_t i = 0; i < w.size(); ++i) {
          EXPECT_NEAR(got[i], w[i], 2e-6 + 2e-5 * std::abs(w[i])) << key << "[" << i << "] after push " << k;
        }
      }
    }
  }
}

// lazy_adam (tf.contrib.opt.LazyAdamOptimizer) equals TensorFlow's Adam
// while every row it has touched is touched again, and leaves the rows a
// push does not name as they are, where Adam moves them.
TEST(TfTestdataTest, LazyAdamUpdatesOnlyThePushedRows) {
  const YAML::Node adam = YAML::LoadFile(JoinPath(PSFLOW_TESTDATA_DIR, "tf/sparse_apply/applies.json"))["adam"];
  const std::string dir = testing::FreshTempDir("lazy_adam");
  auto ps = SparsePs("lazy_adam", adam["hyper"]);
  ASSERT_TRUE(ps->Initialize({{"emb", Tensor::FromVector<float>(Floats(adam["init"]), TensorShape({6, 3}))}}).ok());
  ASSERT_TRUE(ps->Push({StepPush(adam["steps"][0])}, 0).ok());
  const auto first = SavedState(*ps, JoinPath(dir, "0"));
  const std::vector<float> tf_first = Floats(adam["after"][0]["emb"]);
  for (size_t i = 0; i < tf_first.size(); ++i) EXPECT_NEAR(first.at("emb").flat<float>()[i], tf_first[i], 1e-6) << i;
  ASSERT_TRUE(ps->Push({StepPush(adam["steps"][1])}, 1).ok());  // rows 2 and 3
  const auto second = SavedState(*ps, JoinPath(dir, "1"));
  const std::vector<float> tf_second = Floats(adam["after"][1]["emb"]);
  for (int row : {0, 1, 4, 5}) {
    for (int c = 0; c < 3; ++c) {
      const size_t i = static_cast<size_t>(row * 3 + c);
      EXPECT_EQ(second.at("emb").flat<float>()[i], first.at("emb").flat<float>()[i]) << "row " << row;
      EXPECT_EQ(second.at("emb/Adam").flat<float>()[i], first.at("emb/Adam").flat<float>()[i]) << "row " << row;
    }
  }
  EXPECT_GT(std::abs(tf_second[0] - tf_first[0]), 1e-4);  // TensorFlow's Adam moved untouched row 0
  EXPECT_NEAR(second.at("emb").flat<float>()[9], tf_second[9], 1e-6);  // row 3: first touched now, as in Adam
}

// Hashed categorical ids equal TensorFlow's (feature_hash/hashes.json):
// StringToHashBucketFast over strings of every FarmHash length class,
// int64 ids through AsString as categorical_column_with_hash_bucket does
// (-1, TensorFlow's missing id, is dropped there), and crossed_column's
// FingerprintCat64 chain from the hash key 0xDECAFCAFFE.
TEST(TfTestdataTest, HashBucketsAndCrossesEqualTensorFlows) {
  const YAML::Node want = YAML::LoadFile(JoinPath(PSFLOW_TESTDATA_DIR, "tf/feature_hash/hashes.json"));
  std::vector<std::string> strings;
  for (const auto& s : want["strings"]) strings.push_back(Latin1ToBytes(s.as<std::string>()));
  ASSERT_GE(strings.size(), 21u);
  const int64_t n = static_cast<int64_t>(strings.size());
  Graph g;
  Scope root(&g);
  Output in = ops::Placeholder(root, DType::kString, PartialShape({-1}), "strings");
  std::vector<std::pair<int64_t, Output>> hashed;
  for (const auto& kv : want["buckets"]) {
    const int64_t nb = kv.first.as<int64_t>();
    hashed.emplace_back(nb, ops::StringToHashBucketFast(root, in, nb, StrCat("hash_", hashed.size())));
  }
  Output ids = ops::Placeholder(root, DType::kInt64, PartialShape({-1}), "ids");
  Output id_strings = ops::AsString(root, ids);
  ASSERT_TRUE(root.status().ok()) << root.status();
  Tensor st(DType::kString, TensorShape({n}));
  for (int64_t i = 0; i < n; ++i) st.flat<std::string>()[static_cast<size_t>(i)] = strings[static_cast<size_t>(i)];
  std::vector<int64_t> kept;  // the ids TensorFlow hashes: all but -1
  for (const auto& i : want["int_ids"]) {
    if (i.as<int64_t>() != -1) kept.push_back(i.as<int64_t>());
  }
  Session sess(&g);
  std::vector<Output> fetches = {id_strings};
  for (const auto& [nb, o] : hashed) fetches.push_back(o);
  std::vector<Tensor> out;
  ASSERT_TRUE(sess.Run({{in, st}, {ids, Tensor::FromVector<int64_t>(kept, TensorShape({static_cast<int64_t>(kept.size())}))}},
                       fetches, &out).ok());
  for (size_t b = 0; b < hashed.size(); ++b) {
    const YAML::Node& w = want["buckets"][StrCat(hashed[b].first)];
    for (int64_t i = 0; i < n; ++i) {
      EXPECT_EQ(out[b + 1].flat<int64_t>()[static_cast<size_t>(i)], w[static_cast<size_t>(i)].as<int64_t>())
          << "string of " << strings[static_cast<size_t>(i)].size() << " bytes, " << hashed[b].first << " buckets";
    }
  }
  for (const auto& kv : want["int_hash"]) {
    const uint64_t nb = kv.first.as<uint64_t>();
    ASSERT_EQ(kv.second.size(), kept.size());
    for (size_t i = 0; i < kept.size(); ++i) {
      EXPECT_EQ(Fingerprint64(out[0].flat<std::string>()[i]) % nb, kv.second[i].as<uint64_t>()) << "id " << kept[i];
    }
  }
  const YAML::Node& cross = want["cross"];
  for (const auto& kv : cross["buckets"]) {
    const uint64_t nb = kv.first.as<uint64_t>();
    ASSERT_EQ(kv.second.size(), cross["a"].size());
    for (size_t i = 0; i < kv.second.size(); ++i) {
      // A string feature contributes its Fingerprint64, an int64 one its value.
      uint64_t h = FingerprintCat64(0xDECAFCAFFEull, Fingerprint64(Latin1ToBytes(cross["a"][i].as<std::string>())));
      h = FingerprintCat64(h, static_cast<uint64_t>(cross["id"][i].as<int64_t>()));
      EXPECT_EQ(h % nb, kv.second[i].as<uint64_t>()) << "cross " << i << ", " << nb << " buckets";
    }
  }
}

// Bucketize gives bucketized_column's buckets (feature_hash/hashes.json),
// values on the boundaries included.
TEST(TfTestdataTest, BucketizeEqualsBucketizedColumn) {
  const YAML::Node want = YAML::LoadFile(JoinPath(PSFLOW_TESTDATA_DIR, "tf/feature_hash/hashes.json"))["bucketize"];
  const std::vector<float> bounds = Floats(want["boundaries"]), xs = Floats(want["x"]);
  Graph g;
  Scope root(&g);
  Output x = ops::Placeholder(root, DType::kFloat, PartialShape({-1}), "x");
  Output b = ops::Bucketize(root, x, bounds);
  ASSERT_TRUE(root.status().ok()) << root.status();
  Session sess(&g);
  std::vector<Tensor> out;
  ASSERT_TRUE(sess.Run({{x, Tensor::FromVector<float>(xs, TensorShape({static_cast<int64_t>(xs.size())}))}}, {b}, &out).ok());
  ASSERT_EQ(out[0].num_elements(), static_cast<int64_t>(want["buckets"].size()));
  for (size_t i = 0; i < xs.size(); ++i) EXPECT_EQ(out[0].flat<int32_t>()[i], want["buckets"][i].as<int32_t>()) << "x = " << xs[i];
}

// embedding_column's lookup (Unique, Gather, SparseSegment reduction) gives
// TensorFlow's outputs and table gradients for each combiner
// (embedding_column/combiners.json, from tf.nn.safe_embedding_lookup_sparse).
TEST(TfTestdataTest, EmbeddingColumnCombinersEqualTensorFlows) {
  const YAML::Node want = YAML::LoadFile(JoinPath(PSFLOW_TESTDATA_DIR, "tf/embedding_column/combiners.json"));
  std::vector<int64_t> flat_indices, values, dense_shape;
  for (const auto& p : want["indices"]) {
    for (const auto& x : p) flat_indices.push_back(x.as<int64_t>());
  }
  for (const auto& v : want["values"]) values.push_back(v.as<int64_t>());
  for (const auto& d : want["dense_shape"]) dense_shape.push_back(d.as<int64_t>());
  const int64_t n = static_cast<int64_t>(values.size());
  for (const auto& kv : want["combiners"]) {
    const std::string comb = kv.first.as<std::string>();
    SCOPED_TRACE(comb);
    Graph g;
    Scope root(&g);
    std::map<std::string, Output> f = {{"ids/indices", ops::Placeholder(root, DType::kInt64, PartialShape({-1, 2}), "i")},
                                       {"ids/values", ops::Placeholder(root, DType::kInt64, PartialShape({-1}), "v")},
                                       {"ids/dense_shape", ops::Placeholder(root, DType::kInt64, PartialShape({2}), "s")}};
    auto y = layers::EmbeddingColumn(root, f, "ids", 10, 3, comb);
    ASSERT_TRUE(y.ok()) << y.status();
    const Variable* table = g.FindVariable("ids_embedding/embedding_weights");
    ASSERT_NE(table, nullptr);
    Output loss = ops::Sum(root, ops::Mul(root, *y, ops::Const(root, Tensor::FromVector<float>(Floats(want["w"]), TensorShape({4, 3})))), {});
    std::vector<Output> grads;
    ASSERT_TRUE(AddGradients(root, {loss}, {table->value}, &grads).ok());
    ASSERT_TRUE(root.status().ok()) << root.status();
    Session sess(&g);
    ASSERT_TRUE(sess.AssignVariables({{table->name, Tensor::FromVector<float>(Floats(want["table"]), TensorShape({10, 3}))}}).ok());
    std::vector<Tensor> out;
    Status st = sess.Run({{f["ids/indices"], Tensor::FromVector<int64_t>(flat_indices, TensorShape({n, 2}))},
                          {f["ids/values"], Tensor::FromVector<int64_t>(values, TensorShape({n}))},
                          {f["ids/dense_shape"], Tensor::FromVector<int64_t>(dense_shape, TensorShape({2}))}},
                         {*y, grads[0]}, &out);
    ASSERT_TRUE(st.ok()) << st;
    EXPECT_EQ(out[0].shape(), TensorShape({4, 3}));
    const std::vector<float> wy = Floats(kv.second["output"]), wg = Floats(kv.second["grad"]);
    for (size_t i = 0; i < wy.size(); ++i) EXPECT_NEAR(out[0].flat<float>()[i], wy[i], 1e-6) << "output " << i;
    for (size_t i = 0; i < wg.size(); ++i) EXPECT_NEAR(out[1].flat<float>()[i], wg[i], 1e-6) << "grad " << i;
  }
}

namespace feature_columns_golden {

Tensor FromJson(const YAML::Node& d, const std::vector<int64_t>& shape) {
  const std::string dt = d["dtype"].as<std::string>();
  const YAML::Node& v = d["values"];
  if (dt == "float") return Tensor::FromVector<float>(Floats(v), TensorShape(shape));
  if (dt == "int64") {
    std::vector<int64_t> x;
    for (const auto& e : v) x.push_back(e.as<int64_t>());
    return Tensor::FromVector<int64_t>(x, TensorShape(shape));
  }
  Tensor t(DType::kString, TensorShape(shape));
  for (size_t i = 0; i < v.size(); ++i) t.flat<std::string>()[i] = v[i].as<std::string>();
  return t;
}

Tensor Indices(const YAML::Node& n) {
  std::vector<int64_t> x;
  for (const auto& row : n) {
    for (const auto& e : row) x.push_back(e.as<int64_t>());
  }
  return Tensor::FromVector<int64_t>(x, TensorShape({static_cast<int64_t>(n.size()), 2}));
}

}  // namespace feature_columns_golden

// The job file's feature columns build what TensorFlow's compat.v1
// input_layer and linear_model build (feature_columns/model.json): the same
// variables (names, shapes) under the canned models' scopes, the same ids
// for every categorical column (hash buckets, vocabularies with OOV buckets
// and unknown values, bucketized, crosses of ids and raw strings), and the
// same outputs with the same variable values.
TEST(TfTestdataTest, FeatureColumnsEqualTensorFlows) {
  using namespace feature_columns_golden;
  const YAML::Node want = YAML::LoadFile(JoinPath(PSFLOW_TESTDATA_DIR, "tf/feature_columns/model.json"));
  // The columns exactly as TensorFlow's script declared them, as a job file.
  YAML::Emitter e;
  e << YAML::Flow << want["columns"];
  std::vector<std::string> linear, dnn;
  for (const auto& n : want["linear"]) linear.push_back(n.as<std::string>());
  for (const auto& n : want["dnn"]) dnn.push_back(n.as<std::string>());
  YAML::Emitter le, de;
  le << YAML::Flow << want["linear"];
  de << YAML::Flow << want["dnn"];
  auto parsed = ParseJobConfig(StrCat("model: {type: dnn_linear_combined_classifier, n_classes: 2, feature_columns: ",
                                      e.c_str(), ", linear_feature_columns: ", le.c_str(), ", dnn_feature_columns: ",
                                      de.c_str(), "}\nrun: {model_dir: /tmp/unused, train_steps: 1}\n"),
                               "model.json");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const std::vector<FeatureColumnSpec>& cols = parsed->model.feature_columns;

  Graph g;
  Scope root(&g);
  std::map<std::string, Output> features;
  FeedList feeds;
  for (const auto& kv : want["dense"]) {
    const std::string key = kv.first.as<std::string>();
    std::vector<int64_t> shape;
    for (const auto& d : kv.second["shape"]) shape.push_back(d.as<int64_t>());
    Tensor t = FromJson(kv.second, shape);
    features[key] = ops::Placeholder(root, t.dtype(), PartialShape({-1, shape[1]}), key);
    feeds.emplace_back(features[key], t);
  }
  for (const auto& kv : want["sparse"]) {
    const std::string key = kv.first.as<std::string>();
    Tensor ind = Indices(kv.second["indices"]);
    Tensor val = FromJson(kv.second, {ind.shape().dim(0)});
    std::vector<int64_t> ds;
    for (const auto& d : kv.second["dense_shape"]) ds.push_back(d.as<int64_t>());
    Tensor shape = Tensor::FromVector<int64_t>(ds, TensorShape({2}));
    for (auto [part, t] : std::vector<std::pair<std::string, Tensor>>{{"indices", ind}, {"values", val}, {"dense_shape", shape}}) {
      const std::string name = StrCat(key, "/", part);
      std::vector<int64_t> dims = t.shape().dims();
      if (part != "dense_shape") dims[0] = -1;
      features[name] = ops::Placeholder(root, t.dtype(), PartialShape(dims), StrCat(key, "_", part));
      feeds.emplace_back(features[name], t);
    }
  }
  auto x = InputLayer(root.VariableScope("dnn").VariableScope("input_from_feature_columns"), cols, features, dnn);
  ASSERT_TRUE(x.ok()) << x.status();
  auto logits = LinearModel(root.VariableScope("linear"), cols, features, linear, 1);
  ASSERT_TRUE(logits.ok()) << logits.status();
  std::vector<std::string> id_names;
  std::vector<Output> fetches = {*x, *logits};
  for (const auto& kv : want["ids"]) {
    id_names.push_back(kv.first.as<std::string>());
    auto ids = CategoricalIds(root, cols, features, id_names.back());
    ASSERT_TRUE(ids.ok()) << ids.status();
    fetches.push_back(ids->indices);
    fetches.push_back(ids->values);
  }
  ASSERT_TRUE(root.status().ok()) << root.status();

  // Every variable TensorFlow made, by name and shape, and no other.
  std::map<std::string, Tensor> values;
  for (const auto& kv : want["variables"]) {
    std::vector<int64_t> shape;
    for (const auto& d : kv.second["shape"]) shape.push_back(d.as<int64_t>());
    values[kv.first.as<std::string>()] = Tensor::FromVector<float>(Floats(kv.second["values"]), TensorShape(shape));
  }
  std::map<std::string, std::string> ours;
  for (const Variable* v : g.VariablesInCollection(collections::kGlobalVariables)) ours[v->name] = v->shape.DebugString();
  std::map<std::string, std::string> theirs;
  for (const auto& [name, t] : values) theirs[name] = PartialShape(t.shape().dims()).DebugString();
  EXPECT_EQ(ours, theirs);

  Session sess(&g);
  std::vector<Tensor> out;
  ASSERT_TRUE(sess.Run({}, {}, {GlobalVariablesInitializer(root)}, &out).ok());
  ASSERT_TRUE(sess.AssignVariables(values).ok());
  auto run = sess.Run(feeds, fetches, &out);
  ASSERT_TRUE(run.ok()) << run;
  for (const char* which : {"input_layer", "linear_model"}) {
    const Tensor& got = out[std::string(which) == "input_layer" ? 0 : 1];
    std::vector<int64_t> shape;
    for (const auto& d : want[which]["shape"]) shape.push_back(d.as<int64_t>());
    EXPECT_EQ(got.shape().dims(), shape) << which;
    const std::vector<float> w = Floats(want[which]["values"]);
    ASSERT_EQ(static_cast<size_t>(got.num_elements()), w.size()) << which;
    for (size_t i = 0; i < w.size(); ++i) EXPECT_NEAR(got.flat<float>()[i], w[i], 1e-5) << which << "[" << i << "]";
  }
  for (size_t k = 0; k < id_names.size(); ++k) {
    const YAML::Node& w = want["ids"][id_names[k]];
    const Tensor& ind = out[2 + 2 * k];
    const Tensor& val = out[3 + 2 * k];
    std::vector<int64_t> want_ind, want_val, got_ind(ind.flat<int64_t>().begin(), ind.flat<int64_t>().end()),
        got_val(val.flat<int64_t>().begin(), val.flat<int64_t>().end());
    for (const auto& row : w["indices"]) {
      for (const auto& e2 : row) want_ind.push_back(e2.as<int64_t>());
    }
    for (const auto& v : w["values"]) want_val.push_back(v.as<int64_t>());
    EXPECT_EQ(got_ind, want_ind) << id_names[k];
    EXPECT_EQ(got_val, want_val) << id_names[k];
  }
}

// Graphs TensorFlow 2.21 wrote (tests/interop/tf_graph_interop.py
// --make-testdata): a compat.v1 dnn with resource variables and a cnn with ref
// variables, as a .meta with its checkpoint, a frozen graph and (dnn) a
// SavedModel.  psflow runs each with TensorFlow's outputs (graphs/expected.json).
Tensor FromJson(const YAML::Node& n, DType dt) {
  std::vector<int64_t> dims;
  for (const auto& d : n["shape"]) dims.push_back(d.as<int64_t>());
  Tensor t(dt, TensorShape(dims));
  size_t i = 0;
  for (const auto& v : n["values"]) {
    if (dt == DType::kInt64) t.flat<int64_t>()[i++] = v.as<int64_t>();
    else t.flat<float>()[i++] = v.as<float>();
  }
  return t;
}

void ExpectOutputs(const std::vector<Tensor>& got, const YAML::Node& want, const std::string& what) {
  const char* names[] = {"output:0", "probabilities:0", "classes:0"};
  ASSERT_EQ(got.size(), 3u) << what;
  for (size_t k = 0; k < 3; ++k) {
    const bool ids = k == 2;
    Tensor w = FromJson(want["outputs"][names[k]], ids ? DType::kInt64 : DType::kFloat);
    ASSERT_EQ(got[k].shape(), w.shape()) << what << " " << names[k];
    for (int64_t i = 0; i < w.num_elements(); ++i) {
      if (ids) {
        EXPECT_EQ(got[k].flat<int64_t>()[static_cast<size_t>(i)], w.flat<int64_t>()[static_cast<size_t>(i)]) << what;
      } else {
        EXPECT_NEAR(got[k].flat<float>()[static_cast<size_t>(i)], w.flat<float>()[static_cast<size_t>(i)], 1e-5)
            << what << " " << names[k] << " [" << i << "]";
      }
    }
  }
}

TEST(TfTestdataTest, TensorFlowsGraphsRunWithTensorFlowsOutputs) {
  const std::string dir = JoinPath(PSFLOW_TESTDATA_DIR, "tf/graphs");
  const YAML::Node expected = YAML::LoadFile(JoinPath(dir, "expected.json"));
  RegisterTrainOps();
  for (const char* kind : {"dnn", "cnn"}) {
    SCOPED_TRACE(kind);
    const YAML::Node want = expected[kind];
    const Tensor x = FromJson(want["x"], DType::kFloat);
    const std::string base = JoinPath(dir, kind);
    // The .meta and its checkpoint, imported beside a node of the same name as
    // the model's input: under a scope.
    {
      Graph g;
      ops::Placeholder(Scope(&g), DType::kFloat, PartialShape({-1, 64}), "x");
      auto saver = ImportMetaGraphWithSaver(JoinPath(base, "model.ckpt-1.meta"), &g, {.import_scope = "tf"});
      ASSERT_TRUE(saver.ok()) << saver.status();
      Session sess(&g);
      ASSERT_TRUE((*saver)->Restore(&sess, JoinPath(base, "model.ckpt-1")).ok());
      std::vector<Tensor> out;
      ASSERT_TRUE(sess.Run({{*g.GetTensorByName("tf/x:0"), x}},
                           {*g.GetTensorByName("tf/output:0"), *g.GetTensorByName("tf/probabilities:0"),
                            *g.GetTensorByName("tf/classes:0")},
                           &out)
                      .ok());
      ExpectOutputs(out, want, "meta");
    }
    // The frozen graph.
    {
      tensorflow::GraphDef def;
      ASSERT_TRUE(ReadBinaryProto(Env::Default(), JoinPath(base, "frozen.pb"), &def).ok());
      Graph g;
      ASSERT_TRUE(ImportGraphDef(def, &g).ok());
      Session sess(&g);
      std::vector<Tensor> out;
      ASSERT_TRUE(sess.Run({{*g.GetTensorByName("x:0"), x}},
                           {*g.GetTensorByName("output:0"), *g.GetTensorByName("probabilities:0"),
                            *g.GetTensorByName("classes:0")},
                           &out)
                      .ok());
      ExpectOutputs(out, want, "frozen");
    }
  }
  // The dnn's SavedModel, through its serving_default signature.
  auto m = LoadSavedModel(Env::Default(), JoinPath(dir, "dnn/saved_model"));
  ASSERT_TRUE(m.ok()) << m.status();
  std::vector<Tensor> out;
  ASSERT_TRUE(m->session->Run({{m->inputs.at("x"), FromJson(expected["dnn"]["x"], DType::kFloat)}},
                              {m->outputs.at("output"), m->outputs.at("probabilities"), m->outputs.at("classes")},
                              &out)
                  .ok());
  ExpectOutputs(out, expected["dnn"], "saved_model");
}

}  // namespace
}  // namespace psflow
