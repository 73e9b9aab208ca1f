#include "common/train/feature_column.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/checkpoint/tensor_bundle.h"
#include "common/core/testing.h"
#include "common/ops/fingerprint.h"
#include "common/runtime/session.h"
#include "common/train/estimator.h"

namespace psflow {
namespace {

using ::testing::HasSubstr;

Tensor I64(std::vector<int64_t> v, TensorShape s) { return Tensor::FromVector<int64_t>(v, s); }

std::vector<int64_t> Values(const Tensor& t) { return {t.flat<int64_t>().begin(), t.flat<int64_t>().end()}; }

// The cross of two multi-valued features enumerates every pair, the last
// feature fastest, each FingerprintCat64-chained from the hash key; an
// example missing a feature has no crosses.  Dense ids lose their -1s.
TEST(FeatureOpsTest, CrossOrderAndDenseToSparse) {
  Graph g;
  Scope root(&g);
  Output dense = ops::Placeholder(root, DType::kInt64, PartialShape({-1, 2}), "dense");
  ops::SparseIds a = ops::DenseToSparse(root, dense);
  ops::SparseIds b{ops::Const(root, I64({0, 0, 0, 1, 1, 0}, TensorShape({3, 2}))), ops::Const(root, I64({7, 8, 9}, TensorShape({3}))),
                   ops::Const(root, I64({3, 2}, TensorShape({2})))};
  ops::SparseIds x = ops::SparseCrossHashed(root, {a, b}, 1000, 0xDECAFCAFFEull);
  ASSERT_TRUE(root.status().ok()) << root.status();
  Session sess(&g);
  std::vector<Tensor> out;
  // Example 0: a = {1, 2}, b = {7, 8}; example 1: a = {}, b = {9}; example 2: a = {5}, b = {}.
  ASSERT_TRUE(sess.Run({{dense, I64({1, 2, -1, -1, 5, -1}, TensorShape({3, 2}))}},
                       {a.indices, a.values, x.indices, x.values, x.dense_shape}, &out).ok());
  EXPECT_EQ(Values(out[0]), (std::vector<int64_t>{0, 0, 0, 1, 2, 0}));
  EXPECT_EQ(Values(out[1]), (std::vector<int64_t>{1, 2, 5}));
  auto h = [](uint64_t p, uint64_t q) {
    return static_cast<int64_t>(FingerprintCat64(FingerprintCat64(0xDECAFCAFFEull, p), q) % 1000);
  };
  EXPECT_EQ(Values(out[2]), (std::vector<int64_t>{0, 0, 0, 1, 0, 2, 0, 3}));
  EXPECT_EQ(Values(out[3]), (std::vector<int64_t>{h(1, 7), h(1, 8), h(2, 7), h(2, 8)}));
  EXPECT_EQ(Values(out[4]), (std::vector<int64_t>{3, 4}));
}

// A wide & deep model trained in one process: one gradient computation, the
// linear/ variables updated by FTRL and the dnn/ ones by Adagrad (their
// slots show it), global_step incremented once a step.
TEST(FeatureColumnTest, WideAndDeepTrainsLocallyWithTwoOptimizers) {
  auto cols = ResolveFeatureColumns({{.type = "categorical_column_with_identity", .key = "c", .num_buckets = 50},
                                     {.type = "embedding_column", .source = "c", .dimension = 4}});
  ASSERT_TRUE(cols.ok()) << cols.status();
  ModelParams p;
  p.n_classes = 2;
  p.hidden_units = {8};
  p.feature_columns = *cols;
  p.linear_feature_columns = {"c"};
  p.dnn_feature_columns = {"c_embedding"};
  p.scoped_optimizers = {{"linear/", {.type = "ftrl", .hyper = {.lr = 0.3f}}}, {"dnn/", {.type = "adagrad", .hyper = {.lr = 0.3f}}}};
  const int n = 400;
  Tensor c(DType::kInt64, TensorShape({n, 1})), y(DType::kInt64, TensorShape({n}));
  for (int i = 0; i < n; ++i) {
    c.flat<int64_t>()[static_cast<size_t>(i)] = (i * 7) % 50;
    y.flat<int64_t>()[static_cast<size_t>(i)] = ((i * 7) % 50) % 3 == 0;
  }
  auto input = [&](bool repeat) {
    return [=]() -> StatusOr<std::unique_ptr<Dataset>> {
      ASSIGN_OR_RETURN(auto ds, FromTensorSlices({{"c", c}, {"label", y}}));
      if (repeat) ds = Repeat(std::move(ds));
      return Batch(std::move(ds), 40);
    };
  };
  const std::string dir = testing::FreshTempDir("wd_local");
  Estimator est(DnnLinearCombinedClassifierFn(), p, {.model_dir = dir, .tf_random_seed = 2});
  ASSERT_TRUE(est.Train(input(true), 150).ok());
  auto r = est.Evaluate(input(false));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->global_step, 150);
  EXPECT_GT(r->metrics["auc"], 0.99f);
  auto reader = BundleReader::Open(Env::Default(), r->checkpoint);
  ASSERT_TRUE(reader.ok());
  EXPECT_TRUE((*reader)->Contains("linear/linear_model/c/weights/Ftrl_1"));
  EXPECT_TRUE((*reader)->Contains("dnn/input_from_feature_columns/input_layer/c_embedding/embedding_weights/Adagrad"));
  EXPECT_FALSE((*reader)->Contains("dnn/hiddenlayer_0/kernel/Ftrl"));
  // The DNN cannot take a categorical column as it is.
  p.dnn_feature_columns = {"c"};
  Estimator bad(DnnLinearCombinedClassifierFn(), p, {.model_dir = testing::FreshTempDir("wd_bad")});
  EXPECT_THAT(std::string(bad.Train(input(true), 1).message()), HasSubstr("wrap it in an embedding_column or indicator_column"));
}

}  // namespace
}  // namespace psflow
