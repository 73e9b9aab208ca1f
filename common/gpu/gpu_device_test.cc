#include "common/gpu/gpu_device.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace psflow {
namespace {

TEST(GpuDeviceTest, WithoutAGpuTheErrorSaysWhatToDo) {
  if (GpuDeviceCount() > 0) GTEST_SKIP() << "a GPU is present: " << GpuDescription();
  auto d = GpuDevice::Get(0);
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(d.status().message(), ::testing::HasSubstr("set device: cpu"));
}

TEST(GpuDeviceTest, CopiesRoundTripThroughThePool) {
  if (GpuDeviceCount() == 0) GTEST_SKIP() << "no GPU: " << GpuDescription();
  auto gpu = GpuDevice::Get(0);
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  for (int64_t n : {1, 1000, 3 << 20}) {  // small, odd-sized, and more than one staging chunk
    Tensor h(DType::kFloat, TensorShape({n}));
    for (int64_t i = 0; i < n; ++i) h.flat<float>()[static_cast<size_t>(i)] = static_cast<float>(i % 977) * 0.5f;
    auto d = (*gpu)->CopyToDevice(h);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->device(), (Device{Device::Type::kGPU, 0}));
    auto back = (*gpu)->CopyToHost(*d);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_TRUE(back->Equals(h)) << n;
  }
  // Freed blocks are reused: the pool does not grow for the same sizes.
  const size_t held = (*gpu)->pool_bytes();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE((*gpu)->Allocate(DType::kFloat, TensorShape({1000})).ok());
  EXPECT_EQ((*gpu)->pool_bytes(), held);
  EXPECT_FALSE((*gpu)->CopyToHost(Tensor(DType::kFloat, TensorShape({2}))).ok());  // a host tensor
}

}  // namespace
}  // namespace psflow
