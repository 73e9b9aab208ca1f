// Eager ops on a GPU (TensorFlow eager's tf.device / .gpu() / .cpu()): on an
// emulated device in eager_gpu_emu_test, on a CUDA device in
// eager_gpu_cuda_test (skipped without a GPU).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/core/logging.h"
#include "common/gpu/gpu_test_util.h"
#include "common/runtime/eager.h"

namespace psflow {
namespace {

using ::testing::HasSubstr;

Tensor F(std::vector<float> v, TensorShape s) { return Tensor::FromVector<float>(v, s); }

TEST(EagerGpuTest, TensorsMoveAndOpsRunOnTheDevice) {
  PSFLOW_GPU_OR_SKIP(gpu, 0);
  EagerContext cpu_ctx;
  EagerContext ctx({.gpu = gpu});
  const Tensor a = F({1, 2, 3, 4, 5, 6}, TensorShape({2, 3}));
  const Tensor b = F({1, 0, 0, 1, 1, 1}, TensorShape({3, 2}));
  auto da = ctx.ToDevice(a);
  ASSERT_TRUE(da.ok()) << da.status();
  EXPECT_EQ(da->device(), gpu->device());
  auto again = ctx.ToDevice(*da);  // already there: the same tensor
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->device_data(), da->device_data());
  // A device input and a host input: the op runs on the device, the result stays there.
  auto c = eager::MatMul(ctx, *da, b);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->device(), gpu->device());
  auto r = eager::Relu(ctx, *c);
  ASSERT_TRUE(r.ok()) << r.status();
  auto host = EagerContext::ToHost(*r);
  ASSERT_TRUE(host.ok()) << host.status();
  EXPECT_TRUE(host->device().is_host());
  EXPECT_TRUE(host->Equals(*eager::Relu(cpu_ctx, *eager::MatMul(cpu_ctx, a, b))));
  // A CPU context takes device tensors, copying them to the host.
  auto sum = eager::Sum(cpu_ctx, *c, {1});
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_TRUE(sum->device().is_host());
  EXPECT_EQ(sum->DebugString(), "float [2] {9, 21}");
  // Errors the kernels find name the op.
  auto bad = eager::MatMul(ctx, *da, *da);
  EXPECT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("MatMul"));
  // A CPU context cannot place tensors on a device.
  EXPECT_TRUE(IsFailedPreconditionError(cpu_ctx.ToDevice(a).status()));
}

TEST(EagerGpuTest, LogDevicePlacementSaysWhereEachOpRan) {
  PSFLOW_GPU_OR_SKIP(gpu, 0);
  SetMinLogSeverity(LogSeverity::kInfo);
  EagerContext ctx({.gpu = gpu, .log_device_placement = true});
  EagerContext cpu_ctx({.log_device_placement = true});
  ::testing::internal::CaptureStderr();
  ASSERT_TRUE(eager::Relu(ctx, F({-1, 2}, TensorShape({2}))).ok());
  ASSERT_TRUE(eager::Relu(cpu_ctx, F({-1, 2}, TensorShape({2}))).ok());
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(err, HasSubstr("Relu (Relu): " + gpu->device().ToString()));
  EXPECT_THAT(err, HasSubstr("eager Relu: cpu:0"));
  const char* level = std::getenv("PSFLOW_MIN_LOG_LEVEL");
  SetMinLogSeverity(static_cast<LogSeverity>(level == nullptr ? 0 : std::clamp(std::atoi(level), 0, 3)));
}

}  // namespace
}  // namespace psflow
