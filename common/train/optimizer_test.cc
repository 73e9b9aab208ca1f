#include "common/train/optimizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/ops/ops.h"
#include "common/runtime/session.h"

namespace psflow {
namespace {

using ::testing::HasSubstr;

struct Case {
  std::string type;
  apply::Hyper hyper;
  std::vector<std::string> slot_vars;  // expected slot variable names for "w"
  float w0, w1;                        // after two steps (worked out by hand; see comment)
};

// w = [1, 2], loss = sum(w * [0.1, 0.2]) so the gradient is [0.1, 0.2]; two
// steps with lr 0.1.  Expected values follow each optimizer's update rule
// step by step, e.g. Momentum: a1 = 0.1, w = 0.99; a2 = 0.19, w = 0.971.
const Case kCases[] = {
    {"sgd", {.lr = 0.1f}, {}, 0.98f, 1.96f},
    {"momentum", {.lr = 0.1f, .momentum = 0.9f}, {"w/Momentum"}, 0.971f, 1.942f},
    {"momentum", {.lr = 0.1f, .momentum = 0.9f, .nesterov = true}, {"w/Momentum"}, 0.9539f, 1.9078f},
    {"adagrad", {.lr = 0.1f}, {"w/Adagrad"}, 0.940981352f, 1.8994073f},
    {"adam", {.lr = 0.1f}, {"w/Adam", "w/Adam_1", "beta1_power", "beta2_power"}, 0.80000054f, 1.80000027f},
    {"rmsprop", {.lr = 0.1f, .momentum = 0.9f, .epsilon = 1e-10f, .rho = 0.9f}, {"w/RMSProp", "w/RMSProp_1"},
     0.968885256f, 1.9379145f},
    {"ftrl", {.lr = 0.1f}, {"w/Ftrl", "w/Ftrl_1"}, -0.0124812372f, 0.20909879f},
};

TEST(OptimizerTest, EveryOptimizerMatchesHandComputedUpdates) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.type + (c.hyper.nesterov ? " nesterov" : ""));
    Graph g;
    Scope root(&g);
    auto w = NewVariable(root, ops::Const(root, Tensor::FromVector<float>({1, 2}, TensorShape({2}))), "w");
    ASSERT_TRUE(w.ok()) << w.status();
    Output loss = ops::Sum(root, ops::Mul(root, (*w)->value,
                                          ops::Const(root, Tensor::FromVector<float>({0.1f, 0.2f}, TensorShape({2})))),
                           {});
    auto step = GetOrCreateGlobalStep(root);
    ASSERT_TRUE(step.ok()) << step.status();
    auto opt = Optimizer::Create(c.type, c.hyper);
    ASSERT_TRUE(opt.ok()) << opt.status();
    auto train = (*opt)->Minimize(root, loss, *step);
    ASSERT_TRUE(train.ok()) << train.status();
    for (const std::string& name : c.slot_vars) EXPECT_NE(g.FindVariable(name), nullptr) << name;
    Node* init = GlobalVariablesInitializer(root);
    ASSERT_TRUE(root.ok()) << root.status();
    Session sess(&g);
    std::vector<Tensor> out;
    ASSERT_TRUE(sess.Run({}, {}, {init}, &out).ok());
    for (int i = 0; i < 2; ++i) {
      Status s = sess.Run({}, {}, {*train}, &out);
      ASSERT_TRUE(s.ok()) << s;
    }
    ASSERT_TRUE(sess.Run({}, {(*w)->value, (*step)->value}, &out).ok());
    EXPECT_NEAR(out[0].flat<float>()[0], c.w0, 2e-6);
    EXPECT_NEAR(out[0].flat<float>()[1], c.w1, 2e-6);
    EXPECT_EQ(out[1].flat<int64_t>()[0], 2);
  }
}

TEST(OptimizerTest, SparseAppliesTouchOnlyTheirRows) {
  Tensor var = Tensor::FromVector<float>({1, 1, 2, 2, 3, 3}, TensorShape({3, 2}));
  Tensor accum = Tensor::FromVector<float>({0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f}, TensorShape({3, 2}));
  Tensor rows = Tensor::FromVector<int64_t>({2, 0}, TensorShape({2}));
  Tensor grad = Tensor::FromVector<float>({0.3f, 0.3f, 0.4f, 0.4f}, TensorShape({2, 2}));
  ASSERT_TRUE(apply::SparseGradientDescent(&var, {.lr = 1.f}, rows, grad).ok());
  EXPECT_EQ(var.DebugString(), "float [3,2] {0.6, 0.6, 2, 2, 2.7, 2.7}");
  ASSERT_TRUE(apply::SparseAdagrad(&var, &accum, {.lr = 1.f}, rows, grad).ok());
  EXPECT_EQ(accum.flat<float>()[2], 0.1f);  // row 1 untouched
  EXPECT_NEAR(accum.flat<float>()[0], 0.1f + 0.16f, 1e-7);
  Tensor bad_rows = Tensor::FromVector<int64_t>({3, 0}, TensorShape({2}));
  Status s = apply::SparseGradientDescent(&var, {.lr = 1.f}, bad_rows, grad);
  EXPECT_THAT(s.message(), HasSubstr("index 3 is out of range for a variable with 3 rows"));
}

TEST(OptimizerTest, BadConfigurationIsRejectedClearly) {
  auto opt = Optimizer::Create("adamw", {.lr = 0.1f});
  EXPECT_THAT(opt.status().message(), HasSubstr("choose one of sgd, momentum, adagrad, adam, lazy_adam, rmsprop, ftrl"));
  EXPECT_FALSE(Optimizer::Create("adam", {.lr = 0.f}).ok());
  Tensor a(DType::kFloat, TensorShape({2})), g(DType::kFloat, TensorShape({3}));
  EXPECT_THAT(apply::GradientDescent(&a, {}, g).message(), HasSubstr("gradient shape [3] differs"));
}

TEST(OptimizerTest, LearningRateSchedules) {
  Graph g;
  Scope root(&g);
  auto step = GetOrCreateGlobalStep(root);
  Output exp = ExponentialDecay(root, 0.1f, *step, 100, 0.5f, /*staircase=*/false);
  Output stair = ExponentialDecay(root, 0.1f, *step, 100, 0.5f, /*staircase=*/true);
  Output piece = PiecewiseConstant(root, *step, {10, 20}, {1.f, 0.5f, 0.1f});
  ASSERT_TRUE(root.ok()) << root.status();
  Session sess(&g);
  std::vector<Tensor> out;
  for (auto [s, e, st, p] : std::vector<std::tuple<int64_t, float, float, float>>{
           {0, 0.1f, 0.1f, 1.f}, {150, 0.1f * std::pow(0.5f, 1.5f), 0.05f, 0.1f}, {10, 0.1f * std::pow(0.5f, 0.1f), 0.1f, 1.f},
           {11, 0.1f * std::pow(0.5f, 0.11f), 0.1f, 0.5f}}) {
    ASSERT_TRUE(sess.Run({{(*step)->value, Tensor::Scalar<int64_t>(s)}}, {exp, stair, piece}, &out).ok());
    EXPECT_NEAR(out[0].flat<float>()[0], e, 1e-6) << s;
    EXPECT_NEAR(out[1].flat<float>()[0], st, 1e-6) << s;
    EXPECT_NEAR(out[2].flat<float>()[0], p, 1e-6) << s;
  }
}

}  // namespace
}  // namespace psflow

namespace psflow {
namespace {

TEST(OptimizerTest, EmbeddingLookupsGetSparseUpdates) {
  Graph g;
  Scope root(&g);
  auto emb = GetVariable(root, "embedding", TensorShape({4, 2}), DType::kFloat, ConstantInitializer(1.f));
  ASSERT_TRUE(emb.ok());
  Output rows = ops::Gather(root, (*emb)->value, ops::Const(root, Tensor::FromVector<int64_t>({2, 2, 0}, TensorShape({3}))));
  Output loss = ops::Sum(root, rows, {});
  auto opt = Optimizer::Create("adagrad", {.lr = 0.5f});
  auto train = (*opt)->Minimize(root, loss);
  ASSERT_TRUE(train.ok()) << train.status();
  bool sparse_apply = false;
  for (const auto& n : g.nodes()) sparse_apply = sparse_apply || n->type() == "SparseApplyAdagrad";
  EXPECT_TRUE(sparse_apply);
  Session sess(&g);
  std::vector<Tensor> out;
  ASSERT_TRUE(sess.Run({}, {}, {GlobalVariablesInitializer(root)}, &out).ok());
  ASSERT_TRUE(sess.Run({}, {}, {*train}, &out).ok());
  ASSERT_TRUE(sess.Run({}, {(*emb)->value, (*opt)->GetSlot(*emb, "Adagrad")->value}, &out).ok());
  // Row 2 got gradient 1 twice (applied one after another), row 0 once, rows 1 and 3 nothing.
  const float a1 = 0.1f + 1.f, a2 = a1 + 1.f;
  const float row2 = 1.f - 0.5f / std::sqrt(a1) - 0.5f / std::sqrt(a2);
  const float row0 = 1.f - 0.5f / std::sqrt(a1);
  EXPECT_NEAR(out[0].flat<float>()[4], row2, 1e-6);
  EXPECT_NEAR(out[0].flat<float>()[0], row0, 1e-6);
  EXPECT_EQ(out[0].flat<float>()[2], 1.f);
  EXPECT_EQ(out[1].flat<float>()[2], 0.1f);  // untouched accumulator row
}

}  // namespace
}  // namespace psflow
