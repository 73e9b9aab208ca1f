// Runs the psflow-inspect binary as a user would and checks its output and
// exit codes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>

#include "common/checkpoint/checkpoint_manager.h"
#include "common/checkpoint/tensor_bundle.h"
#include "common/core/testing.h"

namespace psflow {
namespace {

using ::testing::HasSubstr;

struct Result {
  int code;
  std::string out;  // stdout and stderr
};

Result RunInspect(const std::string& args) {
  const std::string cmd = StrCat(PSFLOW_INSPECT, " ", args, " 2>&1");
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string MakeModelDir() {
  const std::string dir = testing::FreshTempDir("model");
  auto m = CheckpointManager::Create(Env::Default(), dir, {});
  for (int64_t step : {5, 10}) {
    const std::string prefix = (*m)->PrefixForStep(step);
    BundleWriter w(Env::Default(), prefix);
    CHECK_OK(w.Add("dense/kernel", Tensor::FromVector<float>({1, 2, 3, 4, 5, 6.5}, TensorShape({2, 3}))));
    CHECK_OK(w.Add("global_step", Tensor::Scalar<int64_t>(step)));
    CHECK_OK(w.Add("vocab", Tensor::FromVector<std::string>({"a", "b"}, TensorShape({2}))));
    CHECK_OK(w.Finish());
    CHECK_OK((*m)->Commit(prefix));
  }
  return dir;
}

TEST(InspectTest, ListsTensorsOfTheLatestCheckpointInADirectory) {
  const std::string dir = MakeModelDir();
  Result r = RunInspect(dir);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "dense/kernel (DT_FLOAT) [2,3]\nglobal_step (DT_INT64) []\nvocab (DT_STRING) [2]\n");
}

TEST(InspectTest, PrintsOneTensorOrAll) {
  const std::string dir = MakeModelDir();
  Result r = RunInspect(dir + "/model.ckpt-5 --tensor_name dense/kernel");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "tensor_name:  dense/kernel\n[[1, 2, 3],\n [4, 5, 6.5]]\n");
  r = RunInspect(dir + " --all_tensors");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("tensor_name:  global_step\n10\n"));
  EXPECT_THAT(r.out, HasSubstr("tensor_name:  vocab\n[b'a', b'b']\n"));
  r = RunInspect(dir + " --json --tensor_name global_step");
  EXPECT_EQ(r.out, StrCat("{\"prefix\": \"", dir,
                          "/model.ckpt-10\", \"tensors\": {\"global_step\": {\"dtype\": \"DT_INT64\", "
                          "\"shape\": [], \"values\": [10]}}}\n"));
}

TEST(InspectTest, ErrorsNameTheFileOrKeyAndExitNonZero) {
  const std::string dir = MakeModelDir();
  Result r = RunInspect(dir + " --tensor_name nope");
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.out, HasSubstr("Key nope not found in checkpoint"));

  r = RunInspect("/nonexistent/model.ckpt-1");
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.out, HasSubstr("/nonexistent/model.ckpt-1.index"));

  const std::string empty = testing::FreshTempDir("empty");
  r = RunInspect(empty);
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.out, HasSubstr("no checkpoint in directory " + empty));

  // A corrupt data file: a DataLoss error naming key and file, no crash.
  const std::string data = dir + "/model.ckpt-10.data-00000-of-00001";
  ASSERT_EQ(::truncate(data.c_str(), 3), 0);
  r = RunInspect(dir + "/model.ckpt-10 --all_tensors");
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.out, HasSubstr("DATA_LOSS"));
  EXPECT_THAT(r.out, HasSubstr("dense/kernel"));
  EXPECT_THAT(r.out, HasSubstr(data));
  // The directory: the latest checkpoint is incomplete, so the newest
  // complete one is listed, after a warning that names both.
  r = RunInspect(dir);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("The latest checkpoint named in " + dir + "/checkpoint cannot be used: " + dir +
                               "/model.ckpt-10: " + data + " has 3 bytes, the index needs"));
  EXPECT_THAT(r.out, HasSubstr("using " + dir + "/model.ckpt-5 instead"));
  EXPECT_THAT(r.out, HasSubstr("global_step (DT_INT64) []"));

  // A corrupt index.
  ASSERT_EQ(::truncate((dir + "/model.ckpt-10.index").c_str(), 10), 0);
  r = RunInspect(dir + "/model.ckpt-10");
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.out, HasSubstr("model.ckpt-10.index"));
  // None complete: that is what it says, not "no checkpoint".
  ASSERT_EQ(::truncate((dir + "/model.ckpt-5.index").c_str(), 10), 0);
  r = RunInspect(dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.out, HasSubstr("FAILED_PRECONDITION: no checkpoint in " + dir + " can be restored: " + dir + "/checkpoint lists 2, none complete"));
  EXPECT_THAT(r.out, HasSubstr("model.ckpt-5.index"));

  r = RunInspect("--bogus");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.out, HasSubstr("The following argument was not expected: --bogus"));
}

}  // namespace
}  // namespace psflow
