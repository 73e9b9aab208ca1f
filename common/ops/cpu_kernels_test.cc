// The CPU's heavy ops on both of their paths in one binary: oneDNN's
// (onednn.h) and Eigen's (im2col + Eigen contraction), which share no code,
// on the same random inputs.  Float MatMul in the four transposes, Conv2D
// and its two gradients over paddings, strides and window shapes, the
// cnn_classifier's shapes included.
#include "common/ops/onednn.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "common/core/strcat.h"
#include "common/ops/ops.h"
#include "common/runtime/session.h"

namespace psflow {
namespace {

using ::testing::HasSubstr;

Tensor Random(const TensorShape& shape, uint64_t seed) {
  Tensor t(DType::kFloat, shape);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  for (float& v : t.flat<float>()) v = u(rng);
  return t;
}

// Runs `outs` of `g` with the oneDNN kernels on, then off.
std::pair<std::vector<Tensor>, std::vector<Tensor>> RunBoth(Graph* g, const std::vector<Output>& outs) {
  std::pair<std::vector<Tensor>, std::vector<Tensor>> r;
  for (bool dnnl : {true, false}) {
    onednn::SetEnabled(dnnl);
    Session sess(g, {.intra_op_threads = 2});
    std::vector<Tensor>& got = dnnl ? r.first : r.second;
    Status s = sess.Run({}, outs, &got);
    EXPECT_TRUE(s.ok()) << s;
  }
  onednn::SetEnabled(true);
  return r;
}

// Equal within float rounding of sums of `terms` products of values in [-1, 1].
void ExpectClose(const Tensor& a, const Tensor& b, int64_t terms, const std::string& what) {
  ASSERT_EQ(a.shape().DebugString(), b.shape().DebugString()) << what;
  const auto x = a.flat<float>(), y = b.flat<float>();
  const float tol = 1e-5f * static_cast<float>(std::max<int64_t>(terms, 1)) + 1e-6f;
  int64_t bad = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (!(std::abs(x[i] - y[i]) <= tol)) {
      if (++bad <= 3) ADD_FAILURE() << what << ": element " << i << " is " << x[i] << " with oneDNN, " << y[i] << " with Eigen";
    }
  }
  EXPECT_EQ(bad, 0) << what << ": of " << x.size();
}

class CpuKernelsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!onednn::Built()) GTEST_SKIP() << "built without oneDNN: only the Eigen kernels exist";
  }
};

TEST_F(CpuKernelsTest, DescribesTheLibraryAndInstructionSet) {
  EXPECT_THAT(onednn::Describe(), HasSubstr("oneDNN 2."));
  EXPECT_THAT(onednn::Describe(), ::testing::AnyOf(HasSubstr("avx"), HasSubstr("sse41"), HasSubstr("baseline")));
}

TEST_F(CpuKernelsTest, MatMulMatchesEigenInEveryTranspose) {
  struct Case {
    int64_t m, k, n;
  };
  for (const Case& c : {Case{1, 1, 1}, Case{7, 13, 5}, Case{128, 784, 256}, Case{10, 1024, 128}, Case{3, 0, 4},
                        Case{5, 3, 0}, Case{0, 3, 5}}) {  // empty k, n and m
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        Graph g;
        Scope s(&g);
        Output a = ops::Const(s, Random(ta ? TensorShape({c.k, c.m}) : TensorShape({c.m, c.k}), 1));
        Output b = ops::Const(s, Random(tb ? TensorShape({c.n, c.k}) : TensorShape({c.k, c.n}), 2));
        Output y = ops::MatMul(s, a, b, ta, tb);
        ASSERT_TRUE(s.ok()) << s.status();
        auto [dnnl, eigen] = RunBoth(&g, {y});
        ASSERT_EQ(dnnl.size(), 1u);
        ExpectClose(dnnl[0], eigen[0], c.k, StrCat("MatMul m=", c.m, " k=", c.k, " n=", c.n, " ta=", ta, " tb=", tb));
      }
    }
  }
}

TEST_F(CpuKernelsTest, ConvolutionAndItsGradientsMatchEigen) {
  struct Case {
    TensorShape x, f;
    int64_t sh, sw;
    const char* padding;
  };
  const std::vector<Case> cases = {
      {TensorShape({2, 7, 7, 3}), TensorShape({3, 3, 3, 4}), 1, 1, "SAME"},
      {TensorShape({2, 7, 7, 3}), TensorShape({3, 3, 3, 4}), 2, 2, "SAME"},
      {TensorShape({2, 7, 7, 3}), TensorShape({3, 3, 3, 4}), 2, 2, "VALID"},
      {TensorShape({1, 8, 5, 2}), TensorShape({2, 3, 2, 5}), 2, 1, "VALID"},  // a leftover row, uneven strides
      {TensorShape({3, 6, 6, 4}), TensorShape({1, 1, 4, 8}), 1, 1, "VALID"},  // 1x1
      {TensorShape({2, 5, 4, 1}), TensorShape({4, 4, 1, 2}), 3, 3, "SAME"},   // uneven SAME padding
      {TensorShape({4, 28, 28, 1}), TensorShape({5, 5, 1, 32}), 1, 1, "SAME"},   // cnn_classifier, layer 1
      {TensorShape({4, 14, 14, 32}), TensorShape({5, 5, 32, 64}), 1, 1, "SAME"}, // layer 2
      {TensorShape({0, 7, 7, 3}), TensorShape({3, 3, 3, 4}), 1, 1, "SAME"},     // an empty batch: a zero filter gradient
  };
  uint64_t seed = 10;
  for (const Case& c : cases) {
    Graph g;
    Scope s(&g);
    const std::map<std::string, AttrValue> attrs = {{"strides", std::vector<int64_t>{1, c.sh, c.sw, 1}},
                                                    {"padding", std::string(c.padding)}};
    Output x = ops::Const(s, Random(c.x, ++seed));
    Output f = ops::Const(s, Random(c.f, ++seed));
    Output y = ops::Conv2D(s, x, f, {1, c.sh, c.sw, 1}, c.padding);
    ASSERT_TRUE(s.ok()) << s.status();
    ASSERT_TRUE(y.shape().IsFullyDefined());
    Output dy = ops::Const(s, Random(y.shape().ToShape(), ++seed));
    Output dx = ops::MakeOp(s, "Conv2DBackpropInput", "dx", {x, f, dy}, attrs);
    Output df = ops::MakeOp(s, "Conv2DBackpropFilter", "df", {x, f, dy}, attrs);
    ASSERT_TRUE(s.ok()) << s.status();
    auto [dnnl, eigen] = RunBoth(&g, {y, dx, df});
    ASSERT_EQ(dnnl.size(), 3u);
    const std::string what = StrCat("x ", c.x.DebugString(), " f ", c.f.DebugString(), " strides ", c.sh, "x", c.sw,
                                    " ", c.padding);
    const int64_t window = c.f.dim(0) * c.f.dim(1) * c.f.dim(2);
    ExpectClose(dnnl[0], eigen[0], window, "Conv2D " + what);
    ExpectClose(dnnl[1], eigen[1], c.f.dim(0) * c.f.dim(1) * c.f.dim(3), "Conv2DBackpropInput " + what);
    ExpectClose(dnnl[2], eigen[2], y.shape().dim(0) * y.shape().dim(1) * y.shape().dim(2), "Conv2DBackpropFilter " + what);
  }
}

// The session fuses MatMul/Conv2D -> BiasAdd (-> Relu) into one kernel: the
// values equal the unfused ops' (oneDNN off: no fusion), the timeline names
// the fused steps, and a chain whose middle is fetched is left alone.
TEST_F(CpuKernelsTest, FusedBiasAndReluMatchTheSeparateOps) {
  Graph g;
  Scope s(&g);
  Output x = ops::Const(s, Random(TensorShape({6, 8, 8, 3}), 40));
  Output f = ops::Const(s, Random(TensorShape({3, 3, 3, 5}), 41));
  Output cb = ops::Const(s, Random(TensorShape({5}), 42));
  Output conv = ops::Relu(s, ops::BiasAdd(s, ops::Conv2D(s, x, f, {1, 1, 1, 1}, "SAME"), cb));
  Output flat = ops::Reshape(s, conv, {6, 8 * 8 * 5});
  Output w1 = ops::Const(s, Random(TensorShape({8 * 8 * 5, 7}), 43));
  Output b1 = ops::Const(s, Random(TensorShape({7}), 44));
  Output hidden = ops::Relu(s, ops::BiasAdd(s, ops::MatMul(s, flat, w1), b1));
  Output w2 = ops::Const(s, Random(TensorShape({7, 4}), 45));
  Output b2 = ops::Const(s, Random(TensorShape({4}), 46));
  Output logits = ops::BiasAdd(s, ops::MatMul(s, hidden, w2, false, false), b2);  // no Relu: bias only
  // A second chain whose MatMul is also fetched: not fused.
  Output mm = ops::MatMul(s, hidden, w2);
  Output post = ops::Relu(s, ops::BiasAdd(s, mm, b2));
  ASSERT_TRUE(s.ok()) << s.status();
  auto [fused, plain] = RunBoth(&g, {conv, hidden, logits, mm, post});
  ASSERT_EQ(fused.size(), 5u);
  for (size_t i = 0; i < fused.size(); ++i) ExpectClose(fused[i], plain[i], 200, StrCat("output ", i));

  onednn::SetEnabled(true);
  Session sess(&g, {.intra_op_threads = 2});
  std::vector<TraceEvent> trace;
  sess.TraceNextRun(&trace);
  std::vector<Tensor> out;
  ASSERT_TRUE(sess.Run({}, {logits, mm, post}, &out).ok());
  std::map<std::string, int> kinds;
  for (const TraceEvent& e : trace) ++kinds[e.category];
  EXPECT_EQ(kinds["Conv2D+BiasAdd+Relu"], 1);
  EXPECT_EQ(kinds["MatMul+BiasAdd+Relu"], 1);
  EXPECT_EQ(kinds["MatMul+BiasAdd"], 1);  // logits
  EXPECT_EQ(kinds["MatMul"], 1) << "mm is fetched: its chain stays apart";
  EXPECT_EQ(kinds["BiasAdd"], 1);
  EXPECT_EQ(kinds["Relu"], 1);
}

}  // namespace
}  // namespace psflow
