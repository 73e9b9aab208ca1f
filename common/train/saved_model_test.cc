#include "common/train/saved_model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "common/core/testing.h"
#include "common/ops/ops.h"
#include "common/train/layers.h"
#include "common/train/saver.h"

namespace psflow {
namespace {

using ::testing::HasSubstr;

Tensor Inputs() {
  Tensor x(DType::kFloat, TensorShape({2, 3}));
  for (int i = 0; i < 6; ++i) x.flat<float>()[static_cast<size_t>(i)] = 0.3f * static_cast<float>(i) - 0.7f;
  return x;
}

TEST(SavedModelTest, WritesLoadsAndRunsItsSignature) {
  const std::string base = testing::FreshTempDir("saved_model");
  Graph g;
  Scope root(&g);
  Output x = ops::Placeholder(root, DType::kFloat, PartialShape({-1, 3}), "x");
  Output logits = *layers::Dense(root, x, 4);
  Output probs = ops::Softmax(root, logits, "probabilities");
  Node* init = GlobalVariablesInitializer(root);
  ASSERT_TRUE(root.status().ok());
  Session sess(&g);
  std::vector<Tensor> want;
  ASSERT_TRUE(sess.Run({}, {}, {init}, &want).ok());
  ASSERT_TRUE(sess.Run({{x, Inputs()}}, {logits, probs}, &want).ok());
  const std::string dir = base + "/1700000000";
  const SignatureSpec sig{.inputs = {{"x", x}}, .outputs = {{"logits", logits}, {"probabilities", probs}}};
  ASSERT_TRUE(WriteSavedModel(Env::Default(), g, sess.variables(), sig, dir).ok());
  EXPECT_TRUE(Env::Default()->FileExists(dir + "/saved_model.pb"));
  EXPECT_TRUE(Env::Default()->FileExists(dir + "/variables/variables.index"));
  EXPECT_TRUE(Env::Default()->FileExists(dir + "/variables/variables.data-00000-of-00001"));

  auto m = LoadSavedModel(Env::Default(), dir);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->method_name, kPredictMethod);
  std::vector<Tensor> got;
  ASSERT_TRUE(m->session->Run({{m->inputs.at("x"), Inputs()}}, {m->outputs.at("logits"), m->outputs.at("probabilities")},
                              &got).ok());
  EXPECT_TRUE(got[0].Equals(want[0]));
  EXPECT_TRUE(got[1].Equals(want[1]));

  // A directory that exists is never written into; unknown signatures and
  // files that are not SavedModels are named.
  Status again = WriteSavedModel(Env::Default(), g, sess.variables(), sig, dir);
  EXPECT_TRUE(IsAlreadyExistsError(again)) << again;
  auto wrong = LoadSavedModel(Env::Default(), dir, "predict");
  ASSERT_FALSE(wrong.ok());
  EXPECT_THAT(wrong.status().message(), HasSubstr("no signature \"predict\" (it has: serving_default)"));
  auto missing = LoadSavedModel(Env::Default(), base + "/nothing");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr(base + "/nothing/saved_model.pb"));
}

TEST(SavedModelTest, PruneKeepsTheNewestExportsOnly) {
  const std::string base = testing::FreshTempDir("prune_exports");
  for (int64_t stamp : {100, 99, 7, 1000, 101, 98, 5}) {
    std::filesystem::create_directories(base + "/" + std::to_string(stamp) + "/variables");
  }
  std::filesystem::create_directories(base + "/not_an_export");
  ASSERT_TRUE(PruneExports(base, 5).ok());
  std::vector<std::string> left;
  for (const auto& e : std::filesystem::directory_iterator(base)) left.push_back(e.path().filename().string());
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"100", "1000", "101", "98", "99", "not_an_export"}));
}

}  // namespace
}  // namespace psflow
