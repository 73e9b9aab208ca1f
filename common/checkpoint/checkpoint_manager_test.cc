#include "common/checkpoint/checkpoint_manager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/checkpoint/checkpoint_state.h"
#include "common/checkpoint/tensor_bundle.h"
#include "common/core/testing.h"

namespace psflow {
namespace {

using ::testing::ElementsAre;
using testing::FaultInjectionEnv;

constexpr uint64_t kHour = 3600ull * 1000000ull;

class CheckpointManagerTest : public ::testing::Test {
 protected:
  CheckpointManagerTest() : env_(Env::Default()) { env_.SetNowMicros(1700000000ull * 1000000ull); }

  // Writes a 2-shard checkpoint for `step` with a .meta file and commits it.
  void Save(CheckpointManager* m, int64_t step) {
    const std::string prefix = m->PrefixForStep(step);
    std::vector<BundleEntries> parts;
    for (int k = 0; k < 2; ++k) {
      BundleShardWriter w(&env_, prefix, k, 2);
      ASSERT_TRUE(w.Add(StrCat("v", k), Tensor::Scalar<int64_t>(step)).ok());
      parts.push_back(*w.Finish());
    }
    ASSERT_TRUE(WriteBundleIndex(&env_, prefix, 2, parts).ok());
    ASSERT_TRUE(WriteStringToFileAtomic(&env_, prefix + ".meta", "meta").ok());
    ASSERT_TRUE(m->Commit(prefix).ok());
  }
  bool Exists(const std::string& dir, int64_t step) {
    const std::string p = JoinPath(dir, StrCat("model.ckpt-", step));
    const bool index = env_.FileExists(p + ".index");
    EXPECT_EQ(index, env_.FileExists(p + ".data-00001-of-00002")) << p;
    EXPECT_EQ(index, env_.FileExists(p + ".meta")) << p;
    return index;
  }
  void Advance(uint64_t micros) { env_.SetNowMicros(env_.NowMicros() + micros); }

  FaultInjectionEnv env_;
};

TEST_F(CheckpointManagerTest, KeepsTheNewestMaxToKeep) {
  const std::string dir = testing::FreshTempDir("keep");
  auto m = CheckpointManager::Create(&env_, dir, {.max_to_keep = 3});
  ASSERT_TRUE(m.ok());
  for (int step : {0, 100, 200, 300, 400}) {
    Save(m->get(), step);
    Advance(60 * 1000000ull);
  }
  EXPECT_THAT((*m)->checkpoints(), ElementsAre(JoinPath(dir, "model.ckpt-200"),
                                               JoinPath(dir, "model.ckpt-300"),
                                               JoinPath(dir, "model.ckpt-400")));
  EXPECT_FALSE(Exists(dir, 0));
  EXPECT_FALSE(Exists(dir, 100));
  EXPECT_TRUE(Exists(dir, 200));
  EXPECT_TRUE(Exists(dir, 400));
  EXPECT_EQ(**LatestCheckpoint(&env_, dir), JoinPath(dir, "model.ckpt-400"));
  auto state = *GetCheckpointState(&env_, dir);
  EXPECT_EQ(state->all_model_checkpoint_paths_size(), 3);
  EXPECT_EQ(state->all_model_checkpoint_timestamps_size(), 3);
}

TEST_F(CheckpointManagerTest, MaxToKeepZeroKeepsAll) {
  const std::string dir = testing::FreshTempDir("all");
  auto m = CheckpointManager::Create(&env_, dir, {.max_to_keep = 0});
  for (int step = 0; step < 8; ++step) Save(m->get(), step);
  for (int step = 0; step < 8; ++step) EXPECT_TRUE(Exists(dir, step)) << step;
  EXPECT_EQ((*m)->checkpoints().size(), 8u);
}

TEST_F(CheckpointManagerTest, KeepsOneEveryNHoursForGood) {
  const std::string dir = testing::FreshTempDir("hours");
  auto m = CheckpointManager::Create(&env_, dir, {.max_to_keep = 2, .keep_checkpoint_every_n_hours = 1});
  // One checkpoint every 20 minutes for 3 hours.
  for (int i = 0; i <= 9; ++i) {
    Save(m->get(), i);
    Advance(kHour / 3);
  }
  // Retention dropped 0..7; of those, the first one >= 1h after the start (3)
  // and then one every hour after it (6) are kept on disk.
  std::vector<int> on_disk;
  for (int i = 0; i <= 9; ++i) {
    if (Exists(dir, i)) on_disk.push_back(i);
  }
  EXPECT_THAT(on_disk, ElementsAre(3, 6, 8, 9));
  EXPECT_THAT((*m)->checkpoints(),
              ElementsAre(JoinPath(dir, "model.ckpt-8"), JoinPath(dir, "model.ckpt-9")));
}

TEST_F(CheckpointManagerTest, RecoversItsListAfterRestart) {
  const std::string dir = testing::FreshTempDir("recover");
  {
    auto m = CheckpointManager::Create(&env_, dir, {.max_to_keep = 3});
    for (int step : {10, 20, 30}) {
      Save(m->get(), step);
      Advance(1000000);
    }
  }
  auto m = CheckpointManager::Create(&env_, dir, {.max_to_keep = 3});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ((*m)->checkpoints().size(), 3u);
  EXPECT_EQ(*(*m)->latest(), JoinPath(dir, "model.ckpt-30"));
  Save(m->get(), 40);  // the restarted manager deletes the oldest one it recovered
  EXPECT_FALSE(Exists(dir, 10));
  EXPECT_TRUE(Exists(dir, 20));
  EXPECT_TRUE(Exists(dir, 40));
}

TEST_F(CheckpointManagerTest, RecoversFromStateWithoutTimestamps) {
  const std::string dir = testing::FreshTempDir("tf1");
  {
    auto m = CheckpointManager::Create(&env_, dir, {.max_to_keep = 0});
    for (int step : {1, 2}) Save(m->get(), step);
  }
  // A TF1 Saver writes no timestamps.
  ASSERT_TRUE(WriteStringToFileAtomic(&env_, JoinPath(dir, "checkpoint"),
                                      "model_checkpoint_path: \"model.ckpt-2\"\n"
                                      "all_model_checkpoint_paths: \"model.ckpt-1\"\n"
                                      "all_model_checkpoint_paths: \"model.ckpt-2\"\n")
                  .ok());
  auto m = CheckpointManager::Create(&env_, dir, {.max_to_keep = 2});
  EXPECT_EQ((*m)->checkpoints().size(), 2u);
  Save(m->get(), 3);
  EXPECT_FALSE(Exists(dir, 1));
}

TEST_F(CheckpointManagerTest, AdoptsCheckpointsLeftWithoutAStateFile) {
  const std::string dir = testing::FreshTempDir("nostate");
  {
    auto m = CheckpointManager::Create(&env_, dir, {.max_to_keep = 0});
    for (int step : {5, 10}) {
      Save(m->get(), step);
      Advance(1000000);
    }
  }
  ASSERT_TRUE(env_.DeleteFile(JoinPath(dir, "checkpoint")).ok());
  auto m = CheckpointManager::Create(&env_, dir, {.max_to_keep = 2});
  ASSERT_TRUE(m.ok());
  EXPECT_THAT((*m)->checkpoints(), ElementsAre(JoinPath(dir, "model.ckpt-5"), JoinPath(dir, "model.ckpt-10")));
  Save(m->get(), 15);  // retention knows them: the oldest goes
  EXPECT_FALSE(Exists(dir, 5));
  EXPECT_TRUE(Exists(dir, 10));
}

TEST_F(CheckpointManagerTest, CommitRequiresTheIndex) {
  const std::string dir = testing::FreshTempDir("noindex");
  auto m = CheckpointManager::Create(&env_, dir, {});
  Status s = (*m)->Commit((*m)->PrefixForStep(5));
  EXPECT_TRUE(IsFailedPreconditionError(s));
  EXPECT_FALSE(env_.FileExists(JoinPath(dir, "checkpoint")));
}

TEST_F(CheckpointManagerTest, RejectsBadOptions) {
  EXPECT_FALSE(CheckpointManager::Create(&env_, testing::FreshTempDir("bad"), {.max_to_keep = -1}).ok());
  EXPECT_FALSE(CheckpointManager::Create(&env_, testing::FreshTempDir("bad2"),
                                         {.keep_checkpoint_every_n_hours = 0})
                   .ok());
}

}  // namespace
}  // namespace psflow
