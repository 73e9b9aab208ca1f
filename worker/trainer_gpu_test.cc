// The trainer on GPUs: one step on one GPU, or replicated over two or
// three GPUs with unequal shares of the batch, moves the PS variables
// exactly as the CPU step does (plain SGD makes the update the gradient);
// a chief on two GPUs trains a model to accuracy.  Built against emulated
// devices (always runs) and CUDA devices (skips without enough GPUs).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "common/core/testing.h"
#include "chief/chief.h"
#include "ps/ps_service.h"
#include "worker/trainer_testing.h"
#include "worker/trainer.h"
#include "common/gpu/gpu_test_util.h"
#include "common/train/train_testing.h"

namespace psflow {
namespace {

using testing::Blobs;
using testing::Input;
using testing::Job;

// The trainable variables after a chief's `steps` steps on `gpus`.
StatusOr<std::map<std::string, Tensor>> AfterSteps(const std::vector<GpuDevice*>& gpus, int64_t steps, int64_t batch,
                                                   float lr) {
  Job job({.num_ps = 1, .optimizer = "sgd", .lr = lr});
  TrainerOptions o{.run = {.model_dir = testing::FreshTempDir("gpu_job"), .log_step_count_steps = 1000, .tf_random_seed = 3},
                   .task = "chief:0", .train_steps = steps, .gpus = gpus};
  Chief chief;
  ASSIGN_OR_RETURN(TrainerResult r,
                   Trainer(o, DnnClassifierFn(), job.params, job.Client("chief:0")).Run(Input(5, batch), &chief));
  if (r.global_step != steps) return InternalError("trained to step ", r.global_step);
  auto client = job.Client("chief:0");
  return client->Pull({"dnn/hiddenlayer_0/kernel", "dnn/hiddenlayer_0/bias", "dnn/logits/kernel", "dnn/logits/bias"});
}

void ExpectSameVariables(const std::map<std::string, Tensor>& got, const std::map<std::string, Tensor>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [name, t] : want) {
    EXPECT_TRUE(gpu_test::Near(got.at(name), t, 1e-4, 1e-5)) << name;
  }
}

TEST(TrainerGpuTest, DevicesFromTheJobFile) {
  auto get = [](int i) -> StatusOr<GpuDevice*> {
    if (i > 0) return NotFoundError("no gpu:", i);  // a machine with one GPU
    return gpu_test::TestDevice(i);
  };
  PSFLOW_GPU_OR_SKIP(g0, 0);
  auto cpu = TrainerGpus({.kind = DeviceSpec::kCpu}, 0, 4, get);
  ASSERT_TRUE(cpu.ok());
  EXPECT_TRUE(cpu->empty());
  // auto: nothing without GPUs; with them, one per trainer, round robin by shard.
  EXPECT_TRUE(TrainerGpus({.kind = DeviceSpec::kAuto}, 3, 0, get)->empty());
  auto chief = TrainerGpus({.kind = DeviceSpec::kAuto}, 0, 1, get);
  ASSERT_TRUE(chief.ok());
  EXPECT_EQ(*chief, std::vector<GpuDevice*>{g0});
  EXPECT_EQ(*TrainerGpus({.kind = DeviceSpec::kAuto}, 2, 1, get), std::vector<GpuDevice*>{g0});
  auto listed = TrainerGpus({.kind = DeviceSpec::kGpus, .gpus = {0}}, 5, 1, get);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(*listed, std::vector<GpuDevice*>{g0});
  auto missing = TrainerGpus({.kind = DeviceSpec::kGpus, .gpus = {0, 9}}, 0, 1, get);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), ::testing::HasSubstr("placing this task on gpu:9"));
}

TEST(TrainerGpuTest, OneStepOnOneGpuMatchesTheCpu) {
  PSFLOW_GPU_OR_SKIP(g0, 0);
  auto cpu = AfterSteps({}, 1, 32, 0.5f);
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  auto gpu = AfterSteps({g0}, 1, 32, 0.5f);
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  ExpectSameVariables(*gpu, *cpu);
}

TEST(TrainerGpuTest, ReplicatedStepGivesTheWholeBatchGradient) {
  PSFLOW_GPU_OR_SKIP(g0, 0);
  PSFLOW_GPU_OR_SKIP(g1, 1);
  PSFLOW_GPU_OR_SKIP(g2, 2);
  auto cpu = AfterSteps({}, 2, 32, 0.5f);
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  // 16 + 16 rows, then 10 + 11 + 11: the weights make both the mean over 32.
  auto two = AfterSteps({g0, g1}, 2, 32, 0.5f);
  ASSERT_TRUE(two.ok()) << two.status();
  ExpectSameVariables(*two, *cpu);
  auto three = AfterSteps({g0, g1, g2}, 2, 32, 0.5f);
  ASSERT_TRUE(three.ok()) << three.status();
  ExpectSameVariables(*three, *cpu);
}

TEST(TrainerGpuTest, ABatchSmallerThanTheGpuCountStillTrains) {
  PSFLOW_GPU_OR_SKIP(g0, 0);
  PSFLOW_GPU_OR_SKIP(g1, 1);
  PSFLOW_GPU_OR_SKIP(g2, 2);
  auto cpu = AfterSteps({}, 1, 2, 0.5f);
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  auto three = AfterSteps({g0, g1, g2}, 1, 2, 0.5f);  // one GPU gets no rows
  ASSERT_TRUE(three.ok()) << three.status();
  ExpectSameVariables(*three, *cpu);
}

TEST(TrainerGpuTest, ChiefOnTwoGpusTrainsToAccuracy) {
  PSFLOW_GPU_OR_SKIP(g0, 0);
  PSFLOW_GPU_OR_SKIP(g1, 1);
  const std::string dir = testing::FreshTempDir("gpu_train");
  Job job({.num_ps = 1, .optimizer = "sgd", .lr = 0.2f});
  TrainerOptions o{.run = {.model_dir = dir, .log_step_count_steps = 1000, .tf_random_seed = 1},
                   .task = "chief:0", .train_steps = 150, .gpus = {g0, g1}};
  Chief chief;
  auto r = Trainer(o, DnnClassifierFn(), job.params, job.Client("chief:0")).Run(Input(7, 32), &chief);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->global_step, 150);
  EXPECT_LT(r->last_loss, r->first_loss);
  InputFn eval = []() -> StatusOr<std::unique_ptr<Dataset>> {
    ASSIGN_OR_RETURN(auto ds, FromTensorSlices(Blobs(300, 99)));
    return Batch(std::move(ds), 100);
  };
  Estimator est(DnnClassifierFn(), job.params, {.model_dir = dir});
  auto at_end = est.Evaluate(eval, std::nullopt, chief.last_checkpoint());
  ASSERT_TRUE(at_end.ok()) << at_end.status();
  EXPECT_GT(at_end->metrics["accuracy"], 0.9f);
}

}  // namespace
}  // namespace psflow
