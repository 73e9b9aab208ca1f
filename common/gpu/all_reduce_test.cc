// GpuAllReduce on two devices: weighted sums land on every device; bad
// arguments are refused.  Emulated devices (host staging) always; CUDA
// devices (NCCL) when the machine has two GPUs.
#include "common/gpu/all_reduce.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/gpu/gpu_test_util.h"

namespace psflow {
namespace {

TEST(GpuAllReduceTest, WeightedSumReachesEveryDevice) {
  PSFLOW_GPU_OR_SKIP(g0, 0);
  PSFLOW_GPU_OR_SKIP(g1, 1);
  auto ar = GpuAllReduce::Create({g0, g1});
  ASSERT_TRUE(ar.ok()) << ar.status();
  EXPECT_EQ((*ar)->name(), std::string(gpu_test::TestDeviceKind()) == "cuda" ? "nccl" : "host");
  const Tensor a0 = gpu_test::Random(DType::kFloat, TensorShape({300, 7}), -1, 1, 1);
  const Tensor a1 = gpu_test::Random(DType::kFloat, TensorShape({300, 7}), -1, 1, 2);
  const Tensor b0 = gpu_test::Random(DType::kDouble, TensorShape({5}), -1, 1, 3);
  const Tensor b1 = gpu_test::Random(DType::kDouble, TensorShape({5}), -1, 1, 4);
  std::vector<std::vector<Tensor>> t(2);
  t[0] = {*g0->CopyToDevice(a0), *g0->CopyToDevice(b0)};
  t[1] = {*g1->CopyToDevice(a1), *g1->CopyToDevice(b1)};
  ASSERT_TRUE((*ar)->WeightedSum(t, {0.25, 0.75}).ok());
  Tensor want_a(DType::kFloat, a0.shape()), want_b(DType::kDouble, b0.shape());
  for (int64_t i = 0; i < a0.num_elements(); ++i) {
    const size_t u = static_cast<size_t>(i);
    want_a.flat<float>()[u] = 0.25f * a0.flat<float>()[u] + 0.75f * a1.flat<float>()[u];
  }
  for (size_t u = 0; u < 5; ++u) want_b.flat<double>()[u] = 0.25 * b0.flat<double>()[u] + 0.75 * b1.flat<double>()[u];
  for (int d = 0; d < 2; ++d) {
    EXPECT_TRUE(gpu_test::Near(*t[static_cast<size_t>(d)][0].ToHost(), want_a, 1e-6, 1e-7)) << "device " << d;
    EXPECT_TRUE(gpu_test::Near(*t[static_cast<size_t>(d)][1].ToHost(), want_b, 1e-14, 1e-15)) << "device " << d;
  }
}

TEST(GpuAllReduceTest, RefusesRepeatedDevicesAndMismatchedTensors) {
  PSFLOW_GPU_OR_SKIP(g0, 0);
  PSFLOW_GPU_OR_SKIP(g1, 1);
  auto twice = GpuAllReduce::Create({g0, g0});
  ASSERT_FALSE(twice.ok());
  EXPECT_THAT(twice.status().message(), ::testing::HasSubstr("list each GPU once"));
  auto ar = GpuAllReduce::Create({g0, g1});
  ASSERT_TRUE(ar.ok());
  std::vector<std::vector<Tensor>> t(2);
  t[0] = {*g0->CopyToDevice(Tensor::FromVector<int32_t>({1, 2}, TensorShape({2})))};
  t[1] = {*g1->CopyToDevice(Tensor::FromVector<int32_t>({1, 2}, TensorShape({2})))};
  EXPECT_THAT((*ar)->WeightedSum(t, {1, 1}).message(), ::testing::HasSubstr("float or double only"));
}

}  // namespace
}  // namespace psflow
