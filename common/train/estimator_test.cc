#include "common/train/estimator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "common/checkpoint/checkpoint_state.h"
#include "common/core/testing.h"
#include "common/train/train_testing.h"

namespace psflow {
namespace {

using ::testing::HasSubstr;

// Two Gaussian blobs in 4-D: class = sign of the first coordinate, shifted.
Example Blobs(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0, 0.5f);
  Tensor x(DType::kFloat, TensorShape({n, 4}));
  Tensor y(DType::kInt32, TensorShape({n}));
  for (int i = 0; i < n; ++i) {
    const int c = i % 2;
    y.flat<int32_t>()[static_cast<size_t>(i)] = c;
    for (int k = 0; k < 4; ++k) x.flat<float>()[static_cast<size_t>(i * 4 + k)] = (c ? 1.f : -1.f) + noise(rng);
  }
  return {{"x", x}, {"label", y}};
}

InputFn Input(int n, uint32_t seed, int64_t batch, bool repeat) {
  return [=]() -> StatusOr<std::unique_ptr<Dataset>> {
    ASSIGN_OR_RETURN(auto ds, FromTensorSlices(Blobs(n, seed)));
    if (repeat) ds = Repeat(Shuffle(std::move(ds), n, seed));
    return Batch(std::move(ds), batch);
  };
}

ModelParams SmallDnn() {
  ModelParams p;
  p.hidden_units = {8};
  p.n_classes = 2;
  p.optimizer.hyper.lr = 0.05f;
  return p;
}

TEST(EstimatorTest, TrainSavesOnScheduleResumesAndEvaluates) {
  const std::string dir = testing::FreshTempDir("est");
  RunConfig config{.model_dir = dir, .save_checkpoints_steps = 40, .tf_random_seed = 7};
  Estimator est(DnnClassifierFn(), SmallDnn(), config);
  auto before = est.Evaluate(Input(200, 2, 50, false));
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->checkpoint, "");  // evaluated the initial values
  ASSERT_TRUE(est.Train(Input(400, 1, 20, true), 100).ok());
  // Saved at the start (0), every 40 steps, and at the end (100).
  for (int step : {0, 40, 80, 100}) {
    EXPECT_TRUE(Env::Default()->FileExists(StrCat(dir, "/model.ckpt-", step, ".index"))) << step;
  }
  EXPECT_TRUE(Env::Default()->FileExists(dir + "/model.ckpt-100.meta"));
  auto r = est.Evaluate(Input(200, 2, 50, false));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->global_step, 100);
  EXPECT_GT(r->metrics["accuracy"], 0.95f);
  EXPECT_GT(r->metrics["auc"], 0.95f);
  EXPECT_LT(r->metrics["loss"], before->metrics["loss"]);
  // Train again: resumes at 100 and stops at 150; a finished job is a no-op.
  ASSERT_TRUE(est.Train(Input(400, 1, 20, true), 150).ok());
  EXPECT_EQ(**LatestCheckpoint(Env::Default(), dir), dir + "/model.ckpt-150");
  ASSERT_TRUE(est.Train(Input(400, 1, 20, true), 150).ok());
  EXPECT_EQ(est.Evaluate(Input(100, 3, 50, false))->global_step, 150);
  ASSERT_TRUE(est.TrainSteps(Input(400, 1, 20, true), 10).ok());  // relative: 10 more
  EXPECT_EQ(est.Evaluate(Input(100, 3, 50, false))->global_step, 160);
  // Predictions for every batch.
  auto preds = est.Predict(Input(100, 3, 50, false));
  ASSERT_TRUE(preds.ok()) << preds.status();
  ASSERT_EQ(preds->size(), 2u);
  EXPECT_EQ((*preds)[0].at("probabilities").shape().DebugString(), "[50,2]");
  EXPECT_EQ((*preds)[0].at("class_ids").dtype(), DType::kInt64);
}

// The hooks the RunConfig asks for: TensorBoard scalars every
// save_summary_steps, SessionLogs at the start and at each checkpoint, a
// timeline every profile_steps.
TEST(EstimatorTest, WritesSummariesAndProfilesAsTheRunConfigSays) {
  const std::string dir = testing::FreshTempDir("est_hooks");
  Estimator est(DnnClassifierFn(), SmallDnn(),
                {.model_dir = dir, .save_checkpoints_steps = 1000, .save_summary_steps = 10, .profile_steps = 25,
                 .tf_random_seed = 7});
  ASSERT_TRUE(est.Train(Input(400, 1, 20, true), 50).ok());
  std::vector<int64_t> loss_steps;
  int starts = 0, checkpoints = 0;
  for (const auto& e : testing::ReadEvents(dir)) {
    if (e.has_session_log()) {
      starts += e.session_log().status() == tensorflow::SessionLog::START;
      checkpoints += e.session_log().status() == tensorflow::SessionLog::CHECKPOINT;
    }
    for (const auto& v : e.summary().value()) {
      if (v.tag() == "loss") loss_steps.push_back(e.step());
    }
  }
  EXPECT_EQ(loss_steps, (std::vector<int64_t>{10, 20, 30, 40, 50}));
  EXPECT_EQ(starts, 1);
  EXPECT_EQ(checkpoints, 2);  // at 0 and at 50
  auto profiles = Env::Default()->GetChildren(dir + "/profile");
  ASSERT_TRUE(profiles.ok()) << profiles.status();
  std::sort(profiles->begin(), profiles->end());
  EXPECT_EQ(*profiles, (std::vector<std::string>{"estimator-step-25.trace.json", "estimator-step-50.trace.json"}));
}

TEST(EstimatorTest, AChangedModelIsRefusedWithEveryDifference) {
  const std::string dir = testing::FreshTempDir("changed");
  RunConfig config{.model_dir = dir, .save_checkpoints_steps = 1000};
  ASSERT_TRUE(Estimator(DnnClassifierFn(), SmallDnn(), config).Train(Input(40, 1, 20, true), 5).ok());
  ModelParams bigger = SmallDnn();
  bigger.hidden_units = {16};
  Status s = Estimator(DnnClassifierFn(), bigger, config).Train(Input(40, 1, 20, true), 10);
  EXPECT_TRUE(IsFailedPreconditionError(s));
  EXPECT_THAT(s.message(), HasSubstr("tensor_name = dnn/hiddenlayer_0/kernel; shape in model [4,16] does not match the shape stored in checkpoint: [4,8]"));
  EXPECT_THAT(s.message(), HasSubstr("dnn/logits/kernel"));
}

TEST(EstimatorTest, LinearAndBadConfigs) {
  const std::string dir = testing::FreshTempDir("linear");
  Estimator lin(LinearClassifierFn(), SmallDnn(), {.model_dir = dir, .save_checkpoints_secs = 600});
  ASSERT_TRUE(lin.Train(Input(200, 1, 20, true), 60).ok());
  EXPECT_GT(lin.Evaluate(Input(200, 2, 50, false))->metrics["accuracy"], 0.95f);
  Estimator both(LinearClassifierFn(), SmallDnn(),
                 {.model_dir = dir, .save_checkpoints_steps = 5, .save_checkpoints_secs = 5});
  EXPECT_THAT(both.Train(Input(20, 1, 10, true), 5).message(), HasSubstr("not both"));
  EXPECT_THAT(CannedModelFn("resnet").status().message(), HasSubstr("unknown model type 'resnet'"));
  auto no_label = [] { return FromTensorSlices({{"x", Tensor(DType::kFloat, TensorShape({4, 4}))}}); };
  EXPECT_THAT(lin.Train([&]() -> StatusOr<std::unique_ptr<Dataset>> {
                ASSIGN_OR_RETURN(auto d, no_label());
                return Batch(std::move(d), 2);
              }, 70).message(),
              HasSubstr("no \"label\""));
}

}  // namespace
}  // namespace psflow
