// The chief's own duties, with real PS tasks in process: partitioned
// variables checkpointed whole and a warm start from them, and model_dir
// written through the Env the chief is given.
#include "chief/chief.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/checkpoint/checkpoint_state.h"
#include "common/core/testing.h"
#include "worker/trainer_testing.h"

namespace psflow {
namespace {

using ::testing::HasSubstr;
using testing::Input;
using testing::Job;

// Kernels split in row parts over both PS tasks train and checkpoint as
// whole variables; a new job warm-starts its hidden layer from them.
TEST(ChiefTest, PartitionedVariablesTrainAndAnotherJobWarmStartsFromThem) {
  const std::string first_dir = testing::FreshTempDir("partitioned");
  Job job;
  TrainerOptions co{.run = {.model_dir = first_dir, .save_checkpoints_steps = 1000, .log_step_count_steps = 100,
                            .tf_random_seed = 1},
                    .task = "chief:0", .train_steps = 300};
  Chief role;
  auto first = Trainer(co, DnnClassifierFn(), job.params, job.Client("chief:0", {.partitions = 2})).Run(Input(1), &role);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_LT(first->last_loss, first->first_loss);
  EXPECT_EQ(job.ps[0]->Stats().count("dnn/hiddenlayer_0/kernel/part_0") + job.ps[1]->Stats().count("dnn/hiddenlayer_0/kernel/part_0"), 1u);
  auto reader = BundleReader::Open(Env::Default(), role.last_checkpoint());
  ASSERT_TRUE(reader.ok());
  auto info = (*reader)->GetInfo("dnn/hiddenlayer_0/kernel/Adam");
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->partitioned);
  EXPECT_EQ(info->shape, TensorShape({8, 16}));
  const Tensor trained = *(*reader)->Lookup("dnn/hiddenlayer_0/kernel");

  // A new job (unpartitioned) warm-starts the hidden layer only.
  Job second;
  TrainerOptions wo = co;
  wo.run.model_dir = testing::FreshTempDir("warm");
  wo.train_steps = 1;
  Chief warm_role({.warm_start = WarmStartSpec{.from = first_dir, .vars = "dnn/hiddenlayer_.*"}});
  auto warm = Trainer(wo, DnnClassifierFn(), second.params, second.Client("chief:0")).Run(Input(2), &warm_role);
  ASSERT_TRUE(warm.ok()) << warm.status();
  auto at_start = BundleReader::Open(Env::Default(), wo.run.model_dir + "/model.ckpt-0");
  ASSERT_TRUE(at_start.ok());
  EXPECT_TRUE((*at_start)->Lookup("dnn/hiddenlayer_0/kernel")->Equals(trained));
  EXPECT_FALSE((*at_start)->Lookup("dnn/logits/kernel")->Equals(*(*reader)->Lookup("dnn/logits/kernel")));
  EXPECT_EQ((*at_start)->Lookup("global_step")->flat<int64_t>()[0], 0);  // a fresh start, not a resume

  // Names that do not match are an error naming them.
  Job third;
  wo.run.model_dir = testing::FreshTempDir("warm_bad");
  Chief bad_role({.warm_start = WarmStartSpec{.from = first_dir, .vars = ".*", .prev_names = {{"dnn/logits/bias", "old/bias"}}}});
  auto bad = Trainer(wo, DnnClassifierFn(), third.params, third.Client("chief:0")).Run(Input(2), &bad_role);
  EXPECT_TRUE(IsFailedPreconditionError(bad.status())) << bad.status();
  EXPECT_TRUE(bad_role.failed_on_checkpoint());
  EXPECT_THAT(bad.status().message(), HasSubstr("dnn/logits/bias (as old/bias) is not in the checkpoint"));
}

// The chief writes model_dir through the Env it is given (fault injection
// reaches the distributed layer): a failing second index write ends the run
// with that error, and `checkpoint` still names the start checkpoint.
TEST(ChiefTest, TheChiefWritesThroughTheCallersEnv) {
  struct FailSecondIndex : EnvWrapper {
    using EnvWrapper::EnvWrapper;
    StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& f) override {
      if (f.find(".index") != std::string::npos && ++indexes > 1) return DataLossError("injected: disk full writing ", f);
      return EnvWrapper::NewWritableFile(f);
    }
    int indexes = 0;
  };
  FailSecondIndex env(Env::Default());
  const std::string dir = testing::FreshTempDir("env");
  Job job;
  TrainerOptions co{.run = {.model_dir = dir, .save_checkpoints_steps = 50, .log_step_count_steps = 1000, .tf_random_seed = 1},
                    .task = "chief:0", .train_steps = 200, .env = &env};
  Chief role;
  auto r = Trainer(co, DnnClassifierFn(), job.params, job.Client(co.task)).Run(Input(1), &role);
  EXPECT_TRUE(IsDataLossError(r.status())) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("injected: disk full"));
  EXPECT_FALSE(role.failed_on_checkpoint());  // a write failed, not model_dir's checkpoint
  EXPECT_EQ(env.indexes, 2);
  EXPECT_EQ(role.last_checkpoint(), dir + "/model.ckpt-0");
  EXPECT_EQ(**LatestCheckpoint(Env::Default(), dir), dir + "/model.ckpt-0");
}

}  // namespace
}  // namespace psflow
