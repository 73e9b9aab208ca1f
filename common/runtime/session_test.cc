#include "common/runtime/session.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <random>

#include "common/core/logging.h"
#include "common/ops/gradients.h"
#include "common/ops/ops.h"

namespace psflow {
namespace {

using ::testing::HasSubstr;

Tensor Floats(std::vector<float> v, TensorShape s) { return Tensor::FromVector<float>(v, s); }

Tensor RandomTensor(TensorShape s, std::mt19937* rng, float lo = -1.f, float hi = 1.f) {
  Tensor t(DType::kDouble, s);
  std::uniform_real_distribution<double> u(lo, hi);
  for (double& v : t.flat<double>()) v = u(*rng);
  return t;
}

class SessionTest : public ::testing::Test {
 protected:
  Graph g_;
  Scope s_{&g_};
};

TEST_F(SessionTest, RunsOnlyWhatFetchesNeedWithFeeds) {
  Output x = ops::Placeholder(s_, DType::kFloat, PartialShape({-1, 2}), "x");
  Output w = ops::Const(s_, Floats({1, 2, 3, 4}, TensorShape({2, 2})));
  Output y = ops::MatMul(s_, x, w);
  Output never = ops::Placeholder(s_, DType::kFloat, PartialShape({}), "unfed");
  Output unused = ops::Add(s_, never, never);
  ASSERT_TRUE(s_.ok()) << s_.status();
  EXPECT_EQ(y.name(), "MatMul:0");
  EXPECT_EQ(y.shape().DebugString(), "[?,2]");
  Session sess(&g_);
  std::vector<Tensor> out;
  ASSERT_TRUE(sess.Run({{x, Floats({1, 1, 0, 1}, TensorShape({2, 2}))}}, {y}, &out).ok());
  EXPECT_EQ(out[0].DebugString(), "float [2,2] {4, 6, 3, 4}");
  // Feeding an intermediate tensor cuts the graph above it.
  ASSERT_TRUE(sess.Run({{y, Floats({7, 8}, TensorShape({1, 2}))}}, {y}, &out).ok());
  EXPECT_EQ(out[0].flat<float>()[0], 7.f);
  // The unfed placeholder is only an error when something needs it.
  Status st = sess.Run({}, {unused}, &out);
  EXPECT_THAT(st.message(), HasSubstr("You must feed a value for placeholder tensor 'unfed'"));
}

TEST_F(SessionTest, FeedErrorsNameTheTensorAndBothShapes) {
  Output x = ops::Placeholder(s_, DType::kFloat, PartialShape({-1, 784}), "x");
  Output y = ops::Relu(s_, x);
  Session sess(&g_);
  std::vector<Tensor> out;
  Status st = sess.Run({{x, Floats({1, 2, 3, 4, 5, 6}, TensorShape({2, 3}))}}, {y}, &out);
  EXPECT_TRUE(IsInvalidArgumentError(st));
  EXPECT_THAT(st.message(), HasSubstr("Cannot feed value of shape [2,3] for Tensor 'x:0', which has shape [?,784]"));
  st = sess.Run({{x, Tensor::Scalar<int32_t>(1)}}, {y}, &out);
  EXPECT_THAT(st.message(), HasSubstr("dtype int32 for Tensor 'x:0', which has dtype float"));
}

TEST_F(SessionTest, UninitializedVariableIsNamed) {
  Output v = ops::VariableV2(s_, "dense/kernel", DType::kFloat, PartialShape({2}));
  Output read = ops::Identity(s_, v, "dense/kernel/read");
  Output init = ops::Assign(s_, v, ops::Const(s_, Floats({1, 2}, TensorShape({2}))));
  Output inc = ops::AssignAdd(s_, v, ops::Const(s_, Floats({10, 10}, TensorShape({2}))));
  ASSERT_TRUE(s_.ok()) << s_.status();
  Session sess(&g_);
  std::vector<Tensor> out;
  Status st = sess.Run({}, {read}, &out);
  EXPECT_TRUE(IsFailedPreconditionError(st));
  EXPECT_THAT(st.message(), HasSubstr("Attempting to use uninitialized value dense/kernel"));
  ASSERT_TRUE(sess.Run({}, {}, {init.node}, &out).ok());
  ASSERT_TRUE(sess.Run({}, {inc}, &out).ok());
  ASSERT_TRUE(sess.Run({}, {read}, &out).ok());
  EXPECT_EQ(out[0].DebugString(), "float [2] {11, 12}");
}

TEST_F(SessionTest, ShapeErrorsAtBuildTimeNameTheNode) {
  Output a = ops::Const(s_, Floats({1, 2, 3}, TensorShape({1, 3})));
  Output b = ops::Const(s_, Floats({1, 2}, TensorShape({1, 2})));
  Output c = ops::MatMul(s_.NameScope("layer"), a, b);
  EXPECT_FALSE(c.valid());
  EXPECT_THAT(s_.status().message(), HasSubstr("node layer/MatMul (MatMul): Matrix size-incompatible"));
}

// ---- Numerical gradient checks: every differentiable op. ----

// Builds y = sum(f(inputs) * random weights) in double precision and
// compares d y / d inputs from AddGradients with central differences.
void CheckGradient(const std::string& what, const std::vector<TensorShape>& shapes,
                   const std::function<Output(const Scope&, const std::vector<Output>&)>& f,
                   float lo = -1.f, float hi = 1.f, uint32_t seed = 1) {
  Graph g;
  Scope s(&g);
  std::mt19937 rng(seed);
  std::vector<Output> xs;
  std::vector<Tensor> values;
  for (size_t i = 0; i < shapes.size(); ++i) {
    xs.push_back(ops::Placeholder(s, DType::kDouble, shapes[i], StrCat("x", i)));
    values.push_back(RandomTensor(shapes[i], &rng, lo, hi));
  }
  Output fx = f(s, xs);
  ASSERT_TRUE(s.ok()) << what << ": " << s.status();
  Output weights = ops::Placeholder(s, DType::kDouble, fx.shape(), "weights");
  Output y = ops::Sum(s, ops::Mul(s, fx, weights), {});
  std::vector<Output> grads;
  ASSERT_TRUE(AddGradients(s, {y}, xs, &grads).ok()) << what << ": " << s.status();
  Session sess(&g);
  // Weights of f's runtime shape.
  FeedList feeds;
  for (size_t i = 0; i < xs.size(); ++i) feeds.push_back({xs[i], values[i]});
  std::vector<Tensor> out;
  ASSERT_TRUE(sess.Run(feeds, {fx}, &out).ok()) << what;
  Tensor w = RandomTensor(out[0].shape(), &rng);
  feeds.push_back({weights, w});
  ASSERT_TRUE(sess.Run(feeds, grads, &out).ok()) << what;
  const double eps = 1e-6;
  for (size_t i = 0; i < xs.size(); ++i) {
    ASSERT_TRUE(grads[i].valid()) << what << ": no gradient for input " << i;
    for (int64_t k = 0; k < values[i].num_elements(); ++k) {
      Tensor plus = values[i].DeepCopy(), minus = values[i].DeepCopy();
      plus.flat<double>()[static_cast<size_t>(k)] += eps;
      minus.flat<double>()[static_cast<size_t>(k)] -= eps;
      FeedList fp = feeds, fm = feeds;
      fp[i].second = plus;
      fm[i].second = minus;
      std::vector<Tensor> yp, ym;
      ASSERT_TRUE(sess.Run(fp, {y}, &yp).ok());
      ASSERT_TRUE(sess.Run(fm, {y}, &ym).ok());
      const double numeric = (yp[0].flat<double>()[0] - ym[0].flat<double>()[0]) / (2 * eps);
      const double analytic = out[i].flat<double>()[static_cast<size_t>(k)];
      EXPECT_NEAR(analytic, numeric, 1e-5 * std::max(1.0, std::abs(numeric)))
          << what << ": input " << i << " element " << k;
    }
  }
}

using Inputs = std::vector<Output>;

TEST(GradientTest, ElementwiseWithBroadcasting) {
  CheckGradient("add", {TensorShape({3, 4}), TensorShape({4})},
                [](const Scope& s, const Inputs& x) { return ops::Add(s, x[0], x[1]); });
  CheckGradient("sub", {TensorShape({3, 1}), TensorShape({1, 4})},
                [](const Scope& s, const Inputs& x) { return ops::Sub(s, x[0], x[1]); });
  CheckGradient("mul", {TensorShape({2, 3}), TensorShape({})},
                [](const Scope& s, const Inputs& x) { return ops::Mul(s, x[0], x[1]); });
  CheckGradient("div", {TensorShape({2, 3}), TensorShape({3})},
                [](const Scope& s, const Inputs& x) { return ops::Div(s, x[0], x[1]); }, 0.5f, 2.f);
  CheckGradient("addn", {TensorShape({2, 2}), TensorShape({2, 2}), TensorShape({2, 2})},
                [](const Scope& s, const Inputs& x) { return ops::AddN(s, x); });
}

TEST(GradientTest, UnaryMathAndActivations) {
  using U = Output (*)(const Scope&, Output, const std::string&);
  const std::vector<std::tuple<std::string, U, float, float>> cases = {
      {"neg", ops::Neg, -1, 1},       {"square", ops::Square, -1, 1},  {"sqrt", ops::Sqrt, 0.5, 2},
      {"rsqrt", ops::Rsqrt, 0.5, 2},  {"exp", ops::Exp, -1, 1},        {"log", ops::Log, 0.5, 2},
      {"relu", ops::Relu, -1, 1},     {"sigmoid", ops::Sigmoid, -2, 2}, {"tanh", ops::Tanh, -2, 2},
      {"softmax", ops::Softmax, -2, 2}, {"log_softmax", ops::LogSoftmax, -2, 2},
      {"identity", ops::Identity, -1, 1},
  };
  for (const auto& [name, fn, lo, hi] : cases) {
    CheckGradient(name, {TensorShape({3, 5})},
                  [fn = fn](const Scope& s, const Inputs& x) { return fn(s, x[0], "op"); }, lo, hi);
  }
}

TEST(GradientTest, MoreMathAndLosses) {
  CheckGradient("maximum", {TensorShape({3, 4}), TensorShape({4})},
                [](const Scope& s, const Inputs& x) { return ops::Maximum(s, x[0], x[1]); });
  CheckGradient("minimum", {TensorShape({3, 4}), TensorShape({3, 4})},
                [](const Scope& s, const Inputs& x) { return ops::Minimum(s, x[0], x[1]); });
  CheckGradient("pow", {TensorShape({2, 3}), TensorShape({3})},
                [](const Scope& s, const Inputs& x) { return ops::Pow(s, x[0], x[1]); }, 0.5f, 2.f);
  CheckGradient("max axis 1", {TensorShape({3, 5})},
                [](const Scope& s, const Inputs& x) { return ops::Max(s, x[0], {1}); });
  CheckGradient("max all keep", {TensorShape({2, 3})},
                [](const Scope& s, const Inputs& x) { return ops::Max(s, x[0], {}, true); });
  CheckGradient("relu6", {TensorShape({4, 5})},
                [](const Scope& s, const Inputs& x) { return ops::Relu6(s, x[0]); }, -3.f, 9.f);
  CheckGradient("elu", {TensorShape({4, 5})},
                [](const Scope& s, const Inputs& x) { return ops::Elu(s, x[0]); }, -2.f, 2.f);
  CheckGradient("l2loss", {TensorShape({3, 2})},
                [](const Scope& s, const Inputs& x) { return ops::L2Loss(s, x[0]); });
  CheckGradient("sigmoid xent", {TensorShape({3, 4}), TensorShape({3, 4})},
                [](const Scope& s, const Inputs& x) { return ops::SigmoidCrossEntropyWithLogits(s, x[0], x[1]); });
  CheckGradient("softmax xent", {TensorShape({3, 4}), TensorShape({3, 4})},
                [](const Scope& s, const Inputs& x) {
                  return ops::SoftmaxCrossEntropyWithLogits(s, x[0], ops::Softmax(s, x[1]));
                }, -2.f, 2.f);
}

TEST(GradientTest, ShapeOps) {
  CheckGradient("transpose", {TensorShape({2, 3, 4})},
                [](const Scope& s, const Inputs& x) { return ops::Transpose(s, x[0], {2, 0, 1}); });
  CheckGradient("expand_dims", {TensorShape({2, 3})},
                [](const Scope& s, const Inputs& x) { return ops::ExpandDims(s, x[0], -1); });
  CheckGradient("squeeze", {TensorShape({2, 1, 3})},
                [](const Scope& s, const Inputs& x) { return ops::Squeeze(s, x[0], {1}); });
  CheckGradient("concat", {TensorShape({2, 3}), TensorShape({2, 1}), TensorShape({2, 2})},
                [](const Scope& s, const Inputs& x) { return ops::Concat(s, x, 1); });
  CheckGradient("slice", {TensorShape({4, 5})},
                [](const Scope& s, const Inputs& x) { return ops::Slice(s, x[0], {1, 2}, {2, -1}); });
}

TEST(GradientTest, ConvolutionAndPooling) {
  for (const char* padding : {"SAME", "VALID"}) {
    for (int64_t stride : {1, 2}) {
      CheckGradient(StrCat("conv2d ", padding, " stride ", stride), {TensorShape({2, 5, 5, 2}), TensorShape({3, 3, 2, 3})},
                    [&](const Scope& s, const Inputs& x) {
                      return ops::Conv2D(s, x[0], x[1], {1, stride, stride, 1}, padding);
                    });
      CheckGradient(StrCat("maxpool ", padding, " stride ", stride), {TensorShape({2, 5, 5, 2})},
                    [&](const Scope& s, const Inputs& x) {
                      return ops::MaxPool(s, x[0], {1, 2, 2, 1}, {1, stride, stride, 1}, padding);
                    });
      CheckGradient(StrCat("avgpool ", padding, " stride ", stride), {TensorShape({2, 5, 5, 2})},
                    [&](const Scope& s, const Inputs& x) {
                      return ops::AvgPool(s, x[0], {1, 3, 3, 1}, {1, stride, stride, 1}, padding);
                    });
    }
  }
}

TEST(ConvTest, ValuesMatchADirectConvolution) {
  Graph g;
  Scope s(&g);
  // 1x3x3x1 input 1..9, 2x2x1x1 filter of ones, VALID: sums of 2x2 windows.
  Output x = ops::Const(s, Tensor::FromVector<float>({1, 2, 3, 4, 5, 6, 7, 8, 9}, TensorShape({1, 3, 3, 1})));
  Output f = ops::Const(s, Tensor::FromVector<float>({1, 1, 1, 1}, TensorShape({2, 2, 1, 1})));
  Output valid = ops::Conv2D(s, x, f, {1, 1, 1, 1}, "VALID");
  Output same = ops::Conv2D(s, x, f, {1, 2, 2, 1}, "SAME");
  Output mp = ops::MaxPool(s, x, {1, 2, 2, 1}, {1, 1, 1, 1}, "VALID");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(valid.shape().DebugString(), "[1,2,2,1]");
  EXPECT_EQ(same.shape().DebugString(), "[1,2,2,1]");
  Session sess(&g);
  std::vector<Tensor> out;
  ASSERT_TRUE(sess.Run({}, {valid, same, mp}, &out).ok());
  EXPECT_EQ(out[0].DebugString(), "float [1,2,2,1] {12, 16, 24, 28}");
  // SAME with stride 2 on 3x3: pad 1 at the end; windows at (0,0),(0,2),(2,0),(2,2).
  EXPECT_EQ(out[1].DebugString(), "float [1,2,2,1] {12, 9, 15, 9}");
  EXPECT_EQ(out[2].DebugString(), "float [1,2,2,1] {5, 6, 8, 9}");
}

TEST(GradientTest, GatherDenseAndSparse) {
  // Through the dense path (the sparse rows scattered into a dense gradient).
  CheckGradient("gather", {TensorShape({5, 3})}, [](const Scope& s, const Inputs& x) {
    Output idx = ops::Const(s, Tensor::FromVector<int32_t>({4, 0, 4, 2}, TensorShape({2, 2})));
    return ops::Gather(s, x[0], idx);
  });
  // Sparse: rows and values, repeated rows kept apart; summed with a second lookup.
  Graph g;
  Scope s(&g);
  Output emb = ops::Placeholder(s, DType::kFloat, PartialShape({4, 2}), "emb");
  Output a = ops::Gather(s, emb, ops::Const(s, Tensor::FromVector<int64_t>({3, 1, 3}, TensorShape({3}))));
  Output b = ops::Gather(s, emb, ops::Const(s, Tensor::FromVector<int64_t>({0}, TensorShape({1}))));
  Output y = ops::Add(s, ops::Sum(s, a, {}), ops::Sum(s, ops::Mul(s, b, b), {}));
  std::vector<Gradient> grads;
  ASSERT_TRUE(AddSparseGradients(s, {y}, {emb}, &grads).ok()) << s.status();
  ASSERT_TRUE(grads[0].is_sparse());
  Session sess(&g);
  std::vector<Tensor> out;
  Tensor e = Tensor::FromVector<float>({1, 2, 3, 4, 5, 6, 7, 8}, TensorShape({4, 2}));
  ASSERT_TRUE(sess.Run({{emb, e}}, {grads[0].indices, grads[0].values}, &out).ok());
  EXPECT_EQ(out[0].DebugString(), "int64 [4] {0, 3, 1, 3}");
  EXPECT_EQ(out[1].DebugString(), "float [4,2] {2, 4, 1, 1, 1, 1, 1, 1}");
  // A dense consumer of emb as well: the sum becomes dense.
  Output y2 = ops::Add(s, y, ops::Sum(s, emb, {}));
  ASSERT_TRUE(AddSparseGradients(s, {y2}, {emb}, &grads).ok());
  EXPECT_FALSE(grads[0].is_sparse());
  ASSERT_TRUE(sess.Run({{emb, e}}, {grads[0].dense}, &out).ok());
  EXPECT_EQ(out[0].DebugString(), "float [4,2] {3, 5, 2, 2, 1, 1, 3, 3}");
  Output bad = ops::Gather(s, emb, ops::Const(s, Tensor::FromVector<int64_t>({7}, TensorShape({1}))));
  EXPECT_THAT(sess.Run({{emb, e}}, {bad}, &out).message(), HasSubstr("indices[0] = 7 is not in [0, 4)"));
}

// A dynamic table's lookup: rows by id, zeros for ids it lacks; a new keys
// tensor (a restore) is indexed anew; the gradient reaches the rows found.
TEST(GradientTest, DynamicEmbeddingLookupByIdAndItsGradient) {
  Graph g;
  Scope s(&g);
  Output keys = ops::Placeholder(s, DType::kInt64, PartialShape({-1}), "keys");
  Output values = ops::Placeholder(s, DType::kFloat, PartialShape({-1, 2}), "values");
  Output ids = ops::Const(s, Tensor::FromVector<int64_t>({-9, 5, 1LL << 40, 5}, TensorShape({2, 2})));
  Output rows = ops::DynamicEmbeddingLookup(s, keys, values, ids);
  Output y = ops::Sum(s, rows, {});
  std::vector<Gradient> grads;
  ASSERT_TRUE(AddSparseGradients(s, {y}, {values}, &grads).ok()) << s.status();
  ASSERT_TRUE(grads[0].is_sparse());
  EXPECT_EQ(rows.shape().DebugString(), "[2,2,2]");
  Session sess(&g);
  std::vector<Tensor> out;
  const Tensor k1 = Tensor::FromVector<int64_t>({5, 1LL << 40, 7}, TensorShape({3}));
  const Tensor v1 = Tensor::FromVector<float>({1, 2, 3, 4, 5, 6}, TensorShape({3, 2}));
  ASSERT_TRUE(sess.Run({{keys, k1}, {values, v1}}, {rows, grads[0].indices, grads[0].values}, &out).ok());
  EXPECT_EQ(out[0].DebugString(), "float [2,2,2] {0, 0, 1, 2, 3, 4, 1, 2}");
  EXPECT_EQ(out[1].DebugString(), "int64 [3] {0, 1, 0}");  // -9 is not there: no gradient for it
  EXPECT_EQ(out[2].DebugString(), "float [3,2] {1, 1, 1, 1, 1, 1}");
  // Other keys (a checkpoint restored since): -9 now has a row, 5 none.
  const Tensor k2 = Tensor::FromVector<int64_t>({-9}, TensorShape({1}));
  const Tensor v2 = Tensor::FromVector<float>({8, 9}, TensorShape({1, 2}));
  ASSERT_TRUE(sess.Run({{keys, k2}, {values, v2}}, {rows}, &out).ok());
  EXPECT_EQ(out[0].DebugString(), "float [2,2,2] {8, 9, 0, 0, 0, 0, 0, 0}");
  EXPECT_THAT(sess.Run({{keys, k2}, {values, v1}}, {rows}, &out).message(), HasSubstr("do not match its 1 keys"));
}

TEST(ShapeOpsTest, ValuesAndErrors) {
  Graph g;
  Scope s(&g);
  Output x = ops::Const(s, Tensor::FromVector<float>({1, 2, 3, 4, 5, 6}, TensorShape({2, 3})));
  Output t = ops::Transpose(s, x, {1, 0});
  Output c = ops::Concat(s, {x, x}, 0);
  Output sl = ops::Slice(s, x, {0, 1}, {-1, 2});
  Output oh = ops::OneHot(s, ops::Const(s, Tensor::FromVector<int32_t>({2, 0, 5}, TensorShape({3}))), 3);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(c.shape().DebugString(), "[4,3]");
  Session sess(&g);
  std::vector<Tensor> out;
  ASSERT_TRUE(sess.Run({}, {t, sl, oh}, &out).ok());
  EXPECT_EQ(out[0].DebugString(), "float [3,2] {1, 4, 2, 5, 3, 6}");
  EXPECT_EQ(out[1].DebugString(), "float [2,2] {2, 3, 5, 6}");
  EXPECT_EQ(out[2].DebugString(10), "float [3,3] {0, 0, 1, 1, 0, 0, 0, 0, 0}");
  ops::Transpose(s, x, {0, 0});
  EXPECT_THAT(s.status().message(), HasSubstr("is not a permutation"));
}

TEST(GradientTest, MatMulWithEveryTranspose) {
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      CheckGradient(StrCat("matmul ", ta, tb),
                    {ta ? TensorShape({4, 3}) : TensorShape({3, 4}), tb ? TensorShape({2, 4}) : TensorShape({4, 2})},
                    [ta = ta, tb = tb](const Scope& s, const Inputs& x) {
                      return ops::MatMul(s, x[0], x[1], ta, tb);
                    });
    }
  }
}

TEST(GradientTest, BiasAddReductionsAndReshapes) {
  CheckGradient("bias_add", {TensorShape({3, 4}), TensorShape({4})},
                [](const Scope& s, const Inputs& x) { return ops::BiasAdd(s, x[0], x[1]); });
  CheckGradient("sum axis 1", {TensorShape({2, 3, 4})},
                [](const Scope& s, const Inputs& x) { return ops::Sum(s, x[0], {1}); });
  CheckGradient("sum keep_dims", {TensorShape({2, 3, 4})},
                [](const Scope& s, const Inputs& x) { return ops::Sum(s, x[0], {0, -1}, true); });
  CheckGradient("mean all", {TensorShape({2, 3})},
                [](const Scope& s, const Inputs& x) { return ops::Mean(s, x[0], {}); });
  CheckGradient("mean axis 0", {TensorShape({4, 3})},
                [](const Scope& s, const Inputs& x) { return ops::Mean(s, x[0], {0}); });
  CheckGradient("reshape", {TensorShape({2, 6})},
                [](const Scope& s, const Inputs& x) { return ops::Reshape(s, x[0], {3, -1}); });
}

TEST(GradientTest, SparseSoftmaxCrossEntropy) {
  CheckGradient("xent", {TensorShape({4, 5})}, [](const Scope& s, const Inputs& x) {
    Output labels = ops::Const(s, Tensor::FromVector<int32_t>({0, 3, 4, 1}, TensorShape({4})));
    return ops::SparseSoftmaxCrossEntropyWithLogits(s, x[0], labels);
  }, -2, 2);
}

TEST(GradientTest, SeveralPathsAreSummedAndStopGradientBlocks) {
  // y = x*x + x  ->  dy/dx = 2x + 1 (x used on three paths)
  CheckGradient("paths", {TensorShape({3})}, [](const Scope& s, const Inputs& x) {
    return ops::Add(s, ops::Mul(s, x[0], x[0]), x[0]);
  });
  Graph g;
  Scope s(&g);
  Output x = ops::Placeholder(s, DType::kDouble, PartialShape({}), "x");
  Output y = ops::Add(s, ops::Mul(s, x, ops::StopGradient(s, x)), x);  // d/dx = x + 1
  std::vector<Output> grads;
  ASSERT_TRUE(AddGradients(s, {y}, {x}, &grads).ok());
  Session sess(&g);
  std::vector<Tensor> out;
  ASSERT_TRUE(sess.Run({{x, Tensor::Scalar<double>(3.0)}}, grads, &out).ok());
  EXPECT_EQ(out[0].flat<double>()[0], 4.0);
  EXPECT_EQ(grads[0].node->name().rfind("gradients/", 0), 0u);
  // An input that does not affect y gets no gradient.
  Output z = ops::Placeholder(s, DType::kDouble, PartialShape({}), "z");
  ASSERT_TRUE(AddGradients(s, {y}, {z}, &grads).ok());
  EXPECT_FALSE(grads[0].valid());
}

// log_device_placement names each node's device once per plan, as
// TensorFlow's ConfigProto option does (fused nodes say what they fuse).
TEST(SessionPlacementTest, LogDevicePlacementNamesEachNode) {
  Graph g;
  Scope root(&g);
  Output x = ops::Placeholder(root, DType::kFloat, PartialShape({-1, 2}), "x");
  Output w = ops::Const(root, Tensor::FromVector<float>({1, 2, 3, 4}, TensorShape({2, 2})), "w");
  Output y = ops::Relu(root, ops::BiasAdd(root, ops::MatMul(root, x, w, false, false, "mm"),
                                          ops::Const(root, Tensor::FromVector<float>({1, 1}, TensorShape({2})), "b"),
                                          "bias"),
                       "relu");
  Output z = ops::Neg(root, y, "neg");
  ASSERT_TRUE(root.status().ok());
  SetMinLogSeverity(LogSeverity::kInfo);
  std::vector<Tensor> out;
  const FeedList feeds = {{x, Tensor::FromVector<float>({1, 0}, TensorShape({1, 2}))}};
  Session quiet(&g);
  ::testing::internal::CaptureStderr();
  ASSERT_TRUE(quiet.Run(feeds, {z}, &out).ok());
  EXPECT_THAT(::testing::internal::GetCapturedStderr(), ::testing::Not(::testing::HasSubstr("neg (Neg)")));
  Session logged(&g, {.log_device_placement = true});
  ::testing::internal::CaptureStderr();
  ASSERT_TRUE(logged.Run(feeds, {z}, &out).ok());
  ASSERT_TRUE(logged.Run(feeds, {z}, &out).ok());  // the same plan: logged once
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(err, ::testing::HasSubstr("neg (Neg): cpu"));
  EXPECT_THAT(err, ::testing::HasSubstr("w (Const): cpu"));
  EXPECT_EQ(err.find("neg (Neg)"), err.rfind("neg (Neg)"));
  const char* level = std::getenv("PSFLOW_MIN_LOG_LEVEL");  // back to the run's setting
  SetMinLogSeverity(static_cast<LogSeverity>(level == nullptr ? 0 : std::clamp(std::atoi(level), 0, 3)));
}

// tf.strided_slice's spec: Python's slice rules per dimension, the masks as
// TensorFlow's (x[1:, ::-2], x[:, 1], x[..., tf.newaxis, 0]).
TEST(ShapeOpsTest, StridedSliceFollowsPythonIndexing) {
  Graph g;
  Scope s(&g);
  std::vector<float> v(24);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  Output x = ops::Const(s, Tensor::FromVector<float>(v, TensorShape({2, 3, 4})), "x");
  // x[1:, ::-2]: begin 1 (dim 0), dim 1 from the end by -2.
  Output a = ops::StridedSlice(s, x, {1, 0}, {0, 0}, {1, -2}, {.begin = 2, .end = 3});
  // x[:, 1]: dim 1 shrunk.
  Output b = ops::StridedSlice(s, x, {0, 1}, {0, 2}, {1, 1}, {.begin = 1, .end = 1, .shrink_axis = 2});
  // x[..., tf.newaxis, -1]: the ellipsis covers dims 0 and 1.
  Output c = ops::StridedSlice(s, x, {0, 0, -1}, {0, 0, 0}, {1, 1, 1}, {.ellipsis = 1, .new_axis = 2, .shrink_axis = 4});
  // x[0, 5:100, -100:2]: bounds clamp to the dimension.
  Output d = ops::StridedSlice(s, x, {0, 5, -100}, {1, 100, 2}, {1, 1, 1}, {.shrink_axis = 1});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(a.shape().DebugString(), "[1,2,4]");
  EXPECT_EQ(b.shape().DebugString(), "[2,4]");
  EXPECT_EQ(c.shape().DebugString(), "[2,3,1]");
  EXPECT_EQ(d.shape().DebugString(), "[0,2]");
  Session sess(&g);
  std::vector<Tensor> out;
  ASSERT_TRUE(sess.Run({}, {a, b, c, d}, &out).ok());
  EXPECT_EQ(out[0].DebugString(), "float [1,2,4] {20, 21, 22, 23, 12, 13, 14, 15}");
  EXPECT_EQ(out[1].DebugString(), "float [2,4] {4, 5, 6, 7, 16, 17, 18, 19}");
  EXPECT_EQ(out[2].DebugString(), "float [2,3,1] {3, 7, 11, 15, 19, 23}");
  EXPECT_EQ(out[3].num_elements(), 0);
  ops::StridedSlice(s, x, {0, 3}, {0, 0}, {1, 1}, {.shrink_axis = 2});
  EXPECT_THAT(s.status().message(), HasSubstr("index 3 is out of range for dimension 1 of size 3"));
  Scope s2(&g);
  ops::StridedSlice(s2, x, {0}, {1}, {0});
  EXPECT_THAT(s2.status().message(), HasSubstr("stride 0 is 0"));
}

TEST(GradientTest, StridedSlice) {
  CheckGradient("strided slice", {TensorShape({4, 5})}, [](const Scope& s, const Inputs& x) {
    return ops::StridedSlice(s, x[0], {3, 1}, {0, 5}, {-2, 2}, {.end = 1});
  });
  CheckGradient("strided slice shrink", {TensorShape({3, 4})}, [](const Scope& s, const Inputs& x) {
    return ops::StridedSlice(s, x[0], {0, -1}, {0, 0}, {1, 1}, {.begin = 1, .end = 1, .shrink_axis = 2});
  });
}

// The SparseSegment reductions without num_segments (what
// tf.nn.embedding_lookup_sparse writes) give the last segment id + 1 rows.
TEST(SparseSegmentTest, WithoutNumSegmentsTheLastIdSetsTheRows) {
  Graph g;
  Scope s(&g);
  Output data = ops::Const(s, Tensor::FromVector<float>({1, 2, 3, 4, 5, 6}, TensorShape({3, 2})), "data");
  Output idx = ops::Const(s, Tensor::FromVector<int64_t>({0, 2, 1, 1}, TensorShape({4})), "idx");
  Output seg = ops::Const(s, Tensor::FromVector<int64_t>({0, 0, 2, 2}, TensorShape({4})), "seg");
  Output mean = ops::MakeOp(s, "SparseSegmentMean", "mean", {data, idx, seg});
  Output sum = ops::MakeOp(s, "SparseSegmentSum", "sum", {data, idx, seg});
  Output unsorted = ops::MakeOp(
      s, "SparseSegmentSum", "unsorted",
      {data, idx, ops::Const(s, Tensor::FromVector<int64_t>({0, 2, 1, 1}, TensorShape({4})), "bad_seg")});
  ASSERT_TRUE(s.ok()) << s.status();
  Session sess(&g);
  std::vector<Tensor> out;
  ASSERT_TRUE(sess.Run({}, {mean, sum}, &out).ok());
  EXPECT_EQ(out[0].DebugString(), "float [3,2] {3, 4, 0, 0, 3, 4}");
  EXPECT_EQ(out[1].DebugString(), "float [3,2] {6, 8, 0, 0, 6, 8}");
  Status st = sess.Run({}, {unsorted}, &out);
  EXPECT_THAT(st.message(), HasSubstr("segment_ids must be sorted"));
  CheckGradient("sparse segment mean", {TensorShape({3, 2})}, [](const Scope& s, const Inputs& x) {
    return ops::MakeOp(s, "SparseSegmentMean", "m",
                       {x[0], ops::Const(s, Tensor::FromVector<int32_t>({2, 0, 2}, TensorShape({3}))),
                        ops::Const(s, Tensor::FromVector<int32_t>({0, 1, 1}, TensorShape({3})))});
  });
}

// Python's operators and tf.add's name: `x + y` is "add", ops::Add "Add",
// both in the default scope's name scope; numbers take the tensor's dtype.
TEST(OperatorsTest, PythonNamesInTheDefaultScope) {
  Graph g;
  Scope root(&g);
  Output x = ops::Placeholder(root, DType::kFloat, PartialShape({2}), "x");
  Output y = ops::Placeholder(root, DType::kFloat, PartialShape({2}), "y");
  Output sum, scaled, neg, quotient, op_add, diff;
  {
    ops::DefaultScope as_default(root.NameScope("layer"));
    sum = x + y;
    scaled = 2.0 * sum - 1;
    neg = -scaled;
    quotient = neg / y;
    diff = 10 - x;
    op_add = ops::Add(*ops::DefaultScope::Current(), x, y);
  }
  EXPECT_EQ(ops::DefaultScope::Current(), nullptr);
  Output outside = x * y;  // no default scope: the operands' graph, at its root
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(sum.node->name(), "layer/add");
  EXPECT_EQ(sum.node->type(), "Add");
  EXPECT_EQ(scaled.node->name(), "layer/sub");
  EXPECT_EQ(neg.node->name(), "layer/Neg");
  EXPECT_EQ(quotient.node->name(), "layer/truediv");
  EXPECT_EQ(quotient.node->type(), "RealDiv");
  EXPECT_EQ(op_add.node->name(), "layer/Add_1");  // names are unique ignoring case, as in TensorFlow
  EXPECT_EQ(outside.node->name(), "mul");
  EXPECT_EQ(ops::Add(root, x, y).node->name(), "Add");
  EXPECT_EQ((x + y).node->name(), "add_1");
  Session sess(&g);
  std::vector<Tensor> out;
  ASSERT_TRUE(sess.Run({{x, Tensor::FromVector<float>({1, 2}, TensorShape({2}))},
                        {y, Tensor::FromVector<float>({3, 4}, TensorShape({2}))}},
                       {sum, scaled, quotient, diff, outside}, &out)
                  .ok());
  EXPECT_EQ(out[0].DebugString(), "float [2] {4, 6}");
  EXPECT_EQ(out[1].DebugString(), "float [2] {7, 11}");
  EXPECT_FLOAT_EQ(out[2].flat<float>()[0], -7.f / 3.f);
  EXPECT_FLOAT_EQ(out[2].flat<float>()[1], -2.75f);
  EXPECT_EQ(out[3].DebugString(), "float [2] {9, 8}");
  EXPECT_EQ(out[4].DebugString(), "float [2] {3, 8}");
  // An error in an operator lands in the default scope's status.
  Output m = ops::Placeholder(root, DType::kFloat, PartialShape({3}), "m");
  {
    ops::DefaultScope as_default(root);
    Output bad = x + m;
    EXPECT_FALSE(bad.valid());
  }
  EXPECT_FALSE(root.ok());
  // Integer tensors take integer numbers.
  Graph g2;
  Scope s2(&g2);
  Output i = ops::Const(s2, Tensor::FromVector<int64_t>({5, 7}, TensorShape({2})), "i");
  ops::DefaultScope as_default(s2);
  Output j = i * 3.0;
  ASSERT_TRUE(s2.ok()) << s2.status();
  Session sess2(&g2);
  ASSERT_TRUE(sess2.Run({}, {j}, &out).ok());
  EXPECT_EQ(out[0].DebugString(), "int64 [2] {15, 21}");
}

}  // namespace
}  // namespace psflow
