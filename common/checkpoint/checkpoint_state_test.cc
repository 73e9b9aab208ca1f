#include "common/checkpoint/checkpoint_state.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/checkpoint/tensor_bundle.h"
#include "common/core/testing.h"

namespace psflow {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Env* env() { return Env::Default(); }

void WriteTinyCheckpoint(const std::string& prefix) {
  BundleWriter w(env(), prefix);
  CHECK_OK(w.Add("global_step", Tensor::Scalar<int64_t>(1)));
  CHECK_OK(w.Finish());
}

TEST(CheckpointStateTest, NoStateFileMeansNoCheckpoint) {
  const std::string dir = testing::FreshTempDir("none");
  auto s = GetCheckpointState(env(), dir);
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->has_value());
  auto latest = LatestCheckpoint(env(), dir);
  ASSERT_TRUE(latest.ok());
  EXPECT_FALSE(latest->has_value());
}

TEST(CheckpointStateTest, WritesRelativeNamesInTensorFlowTextFormat) {
  const std::string dir = testing::FreshTempDir("write");
  CheckpointStateUpdate u;
  u.model_checkpoint_path = JoinPath(dir, "model.ckpt-20");
  u.all_model_checkpoint_paths = {JoinPath(dir, "model.ckpt-10")};  // newest appended
  u.all_model_checkpoint_timestamps = {1700000000.5, 1700000100.25};
  u.last_preserved_timestamp = 1699999999.0;
  ASSERT_TRUE(UpdateCheckpointState(env(), dir, u).ok());
  EXPECT_EQ(*ReadFileToString(env(), JoinPath(dir, "checkpoint")),
            "model_checkpoint_path: \"model.ckpt-20\"\n"
            "all_model_checkpoint_paths: \"model.ckpt-10\"\n"
            "all_model_checkpoint_paths: \"model.ckpt-20\"\n"
            "all_model_checkpoint_timestamps: 1700000000.5\n"
            "all_model_checkpoint_timestamps: 1700000100.25\n"
            "last_preserved_timestamp: 1699999999\n");
  EXPECT_THAT(*env()->GetChildren(dir), ElementsAre("checkpoint"));  // no temp file left
  auto s = GetCheckpointState(env(), dir);
  ASSERT_TRUE(s.ok() && s->has_value());
  EXPECT_EQ((*s)->model_checkpoint_path(), JoinPath(dir, "model.ckpt-20"));
  EXPECT_THAT((*s)->all_model_checkpoint_paths(),
              ElementsAre(JoinPath(dir, "model.ckpt-10"), JoinPath(dir, "model.ckpt-20")));
}

TEST(CheckpointStateTest, ReadsAbsoluteAndRelativePaths) {
  const std::string dir = testing::FreshTempDir("abs");
  const std::string other = testing::FreshTempDir("abs_other");
  WriteTinyCheckpoint(JoinPath(other, "model.ckpt-5"));
  ASSERT_TRUE(WriteStringToFileAtomic(
                  env(), JoinPath(dir, "checkpoint"),
                  StrCat("model_checkpoint_path: \"", other, "/model.ckpt-5\"\n"
                         "all_model_checkpoint_paths: \"model.ckpt-1\"\n"
                         "all_model_checkpoint_paths: \"", other, "/model.ckpt-5\"\n"))
                  .ok());
  auto s = GetCheckpointState(env(), dir);
  ASSERT_TRUE(s.ok() && s->has_value());
  EXPECT_THAT((*s)->all_model_checkpoint_paths(),
              ElementsAre(JoinPath(dir, "model.ckpt-1"), JoinPath(other, "model.ckpt-5")));
  EXPECT_EQ(**LatestCheckpoint(env(), dir), JoinPath(other, "model.ckpt-5"));
}

TEST(CheckpointStateTest, LatestCheckpointNeedsTheIndexFile) {
  const std::string dir = testing::FreshTempDir("idx");
  CheckpointStateUpdate u;
  u.model_checkpoint_path = JoinPath(dir, "model.ckpt-3");
  ASSERT_TRUE(UpdateCheckpointState(env(), dir, u).ok());
  // A state file naming only checkpoints that are gone: an error, not "no
  // checkpoint" (a trainer would start from scratch over the state file).
  auto none = LatestCheckpoint(env(), dir);
  ASSERT_FALSE(none.ok());
  EXPECT_TRUE(IsFailedPreconditionError(none.status())) << none.status();
  EXPECT_THAT(none.status().message(), HasSubstr(JoinPath(dir, "model.ckpt-3.index is missing")));
  EXPECT_THAT(none.status().message(), HasSubstr("delete " + JoinPath(dir, "checkpoint")));
  WriteTinyCheckpoint(JoinPath(dir, "model.ckpt-3"));
  EXPECT_EQ(**LatestCheckpoint(env(), dir), JoinPath(dir, "model.ckpt-3"));
}

// model.ckpt-<step> in two data shards, listed in the state file.
void WriteShardedCheckpoints(const std::string& dir, const std::vector<int64_t>& steps) {
  CheckpointStateUpdate u;
  for (int64_t step : steps) {
    const std::string prefix = JoinPath(dir, StrCat("model.ckpt-", step));
    std::vector<BundleEntries> parts;
    for (int k = 0; k < 2; ++k) {
      BundleShardWriter w(env(), prefix, k, 2);
      CHECK_OK(w.Add(StrCat("v", k), Tensor::Scalar<float>(static_cast<float>(step))));
      if (k == 0) CHECK_OK(w.Add("global_step", Tensor::Scalar<int64_t>(step)));
      parts.push_back(*w.Finish());
    }
    CHECK_OK(WriteBundleIndex(env(), prefix, 2, parts));
    u.all_model_checkpoint_paths.push_back(prefix);
  }
  u.model_checkpoint_path = u.all_model_checkpoint_paths.back();
  CHECK_OK(UpdateCheckpointState(env(), dir, u));
}

TEST(CheckpointStateTest, MissingLatestResumesFromTheNewestCompleteListed) {
  const std::string dir = testing::FreshTempDir("fallback");
  WriteShardedCheckpoints(dir, {0, 25, 50});
  const std::string p = JoinPath(dir, "model.ckpt-");
  EXPECT_EQ(**LatestCheckpoint(env(), dir), p + "50");
  // Deleted by hand: every file of model.ckpt-50.
  for (const char* f : {"50.index", "50.data-00000-of-00002", "50.data-00001-of-00002"}) {
    ASSERT_TRUE(env()->DeleteFile(p + f).ok());
  }
  EXPECT_EQ(**LatestCheckpoint(env(), dir), p + "25");
  // A copy that missed a data file, and one that cut a data file short.
  ASSERT_TRUE(env()->DeleteFile(p + "25.data-00001-of-00002").ok());
  const std::string data0 = p + "0.data-00000-of-00002";
  std::string bytes = *ReadFileToString(env(), data0);
  EXPECT_EQ(**LatestCheckpoint(env(), dir), p + "0");
  ASSERT_TRUE(WriteStringToFileAtomic(env(), data0, bytes.substr(0, bytes.size() - 1)).ok());
  auto none = LatestCheckpoint(env(), dir);
  ASSERT_FALSE(none.ok());
  EXPECT_TRUE(IsFailedPreconditionError(none.status())) << none.status();
  const std::string& m = none.status().message();
  EXPECT_THAT(m, HasSubstr("no checkpoint in " + dir + " can be restored: " + JoinPath(dir, "checkpoint") +
                           " lists 3, none complete"));
  EXPECT_THAT(m, HasSubstr(p + "50.index is missing"));
  EXPECT_THAT(m, HasSubstr(p + "25.data-00001-of-00002 is missing"));
  EXPECT_THAT(m, HasSubstr(data0 + " has " + std::to_string(bytes.size() - 1) + " bytes, the index needs"));
  EXPECT_THAT(m, HasSubstr("does not start from scratch over checkpoints"));
}

// A file that cannot be read for another reason than its absence says
// nothing about the checkpoint: an error, not a fall back to an older one
// (which training would later overwrite the newer one with).
class UnreadableEnv : public EnvWrapper {
 public:
  UnreadableEnv(Env* target, std::string file) : EnvWrapper(target), file_(std::move(file)) {}
  StatusOr<uint64_t> GetFileSize(const std::string& f) override {
    if (f == file_) return PermissionDeniedError("stat ", f, ": Permission denied");
    return EnvWrapper::GetFileSize(f);
  }

 private:
  const std::string file_;
};

TEST(CheckpointStateTest, AnUnreadableFileIsAnErrorNotAnIncompleteCheckpoint) {
  const std::string dir = testing::FreshTempDir("unreadable");
  WriteShardedCheckpoints(dir, {10, 20});
  const std::string data = JoinPath(dir, "model.ckpt-20.data-00001-of-00002");
  UnreadableEnv env(Env::Default(), data);
  auto latest = LatestCheckpoint(&env, dir);
  ASSERT_FALSE(latest.ok());
  EXPECT_TRUE(IsPermissionDeniedError(latest.status())) << latest.status();
  EXPECT_THAT(latest.status().message(), HasSubstr("cannot tell whether checkpoint " + JoinPath(dir, "model.ckpt-20")));
  UnreadableEnv index_env(Env::Default(), JoinPath(dir, "model.ckpt-20.index"));
  EXPECT_TRUE(IsPermissionDeniedError(LatestCheckpoint(&index_env, dir).status()));
}

// A model_dir moved or copied elsewhere, whose state file has absolute
// paths (TF1 Savers write them): its checkpoints are found where they are.
TEST(CheckpointStateTest, AMovedModelDirIsFollowed) {
  const std::string old_dir = testing::FreshTempDir("moved_from");
  WriteShardedCheckpoints(old_dir, {5, 9});
  CheckpointStateUpdate u;
  u.model_checkpoint_path = JoinPath(old_dir, "model.ckpt-9");
  u.all_model_checkpoint_paths = {JoinPath(old_dir, "model.ckpt-5"), JoinPath(old_dir, "model.ckpt-9")};
  u.save_relative_paths = false;
  ASSERT_TRUE(UpdateCheckpointState(env(), old_dir, u).ok());
  const std::string dir = old_dir + "_moved";
  ASSERT_TRUE(env()->RenameFile(old_dir, dir).ok());
  EXPECT_EQ(**LatestCheckpoint(env(), dir), JoinPath(dir, "model.ckpt-9"));
  auto c = ListCheckpointCandidates(env(), dir);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->prefixes, ElementsAre(JoinPath(dir, "model.ckpt-9"), JoinPath(dir, "model.ckpt-5")));
  EXPECT_EQ(c->listed, 2u);
}

TEST(CheckpointStateTest, WithoutStateFileResumesFromTheNewestCheckpointInTheDirectory) {
  const std::string dir = testing::FreshTempDir("nostate");
  WriteShardedCheckpoints(dir, {3, 10, 200});
  WriteTinyCheckpoint(JoinPath(dir, "other.ckpt"));        // no step: not a candidate
  WriteTinyCheckpoint(JoinPath(dir, "pretrained-100000"));  // another name: not this job's
  ASSERT_TRUE(env()->DeleteFile(JoinPath(dir, "checkpoint")).ok());
  const std::string p = JoinPath(dir, "model.ckpt-");
  EXPECT_THAT(*FindCheckpointsInDir(env(), dir), ElementsAre(p + "3", p + "10", p + "200"));
  EXPECT_EQ(**LatestCheckpoint(env(), dir), p + "200");
  ASSERT_TRUE(env()->DeleteFile(p + "200.data-00000-of-00002").ok());
  EXPECT_EQ(**LatestCheckpoint(env(), dir), p + "10");
  for (const char* step : {"3", "10"}) ASSERT_TRUE(env()->DeleteFile(p + step + ".data-00001-of-00002").ok());
  auto none = LatestCheckpoint(env(), dir);
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(), HasSubstr("there is no `checkpoint` state file and the directory holds 3, none complete"));
}

TEST(CheckpointStateTest, CorruptStateFileIsAnErrorNamingIt) {
  const std::string dir = testing::FreshTempDir("corrupt");
  ASSERT_TRUE(WriteStringToFileAtomic(env(), JoinPath(dir, "checkpoint"), "model_checkpoint_path: {").ok());
  auto s = GetCheckpointState(env(), dir);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(IsDataLossError(s.status()));
  EXPECT_THAT(s.status().message(), HasSubstr(JoinPath(dir, "checkpoint")));
  ASSERT_TRUE(WriteStringToFileAtomic(env(), JoinPath(dir, "checkpoint"),
                                      "all_model_checkpoint_paths: \"a\"\n").ok());
  EXPECT_THAT(GetCheckpointState(env(), dir).status().message(),
              HasSubstr("Invalid checkpoint state loaded from"));
}

TEST(CheckpointStateTest, TimestampCountMustMatch) {
  CheckpointStateUpdate u;
  u.model_checkpoint_path = "/tmp/x/model.ckpt-1";
  u.all_model_checkpoint_timestamps = {1.0, 2.0};
  Status s = UpdateCheckpointState(env(), testing::FreshTempDir("ts"), u);
  EXPECT_THAT(s.message(), HasSubstr("must match checkpoint paths"));
}

TEST(CheckpointStateTest, NonAsciiPathsRoundTrip) {
  const std::string dir = testing::FreshTempDir("utf8");
  CheckpointStateUpdate u;
  u.model_checkpoint_path = JoinPath(dir, "caf\xc3\xa9.ckpt-1");
  ASSERT_TRUE(UpdateCheckpointState(env(), dir, u).ok());
  EXPECT_THAT(*ReadFileToString(env(), JoinPath(dir, "checkpoint")),
              HasSubstr("\"caf\\303\\251.ckpt-1\""));
  EXPECT_EQ((*GetCheckpointState(env(), dir))->model_checkpoint_path(), u.model_checkpoint_path);
}

}  // namespace
}  // namespace psflow
