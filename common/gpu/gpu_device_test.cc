// GpuDevice: copies through the pool, views of device tensors, host access
// refused, kernel error records.  Built against emulated devices and
// against CUDA devices (skipped without a GPU).
#include "common/gpu/gpu_device.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/gpu/gpu_test_util.h"

namespace psflow {
namespace {

using ::testing::HasSubstr;

#if !defined(PSFLOW_TEST_EMULATED_GPU)
TEST(GpuDeviceTest, WithoutAGpuTheErrorSaysWhatToDo) {
  if (GpuDeviceCount() > 0) GTEST_SKIP() << "a GPU is present: " << GpuDescription();
  auto d = GpuDevice::Get(0);
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(d.status().message(), HasSubstr("run.device: cpu"));
}
#endif

TEST(GpuDeviceTest, CopiesRoundTripThroughThePool) {
  PSFLOW_GPU_OR_SKIP(gpu, 0);
  for (int64_t n : {1, 1000, 3 << 20}) {  // small, odd-sized, and more than one staging chunk
    Tensor h(DType::kFloat, TensorShape({n}));
    for (int64_t i = 0; i < n; ++i) h.flat<float>()[static_cast<size_t>(i)] = static_cast<float>(i % 977) * 0.5f;
    auto d = gpu->CopyToDevice(h);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->device(), (Device{Device::Type::kGPU, 0}));
    auto back = gpu->CopyToHost(*d);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_TRUE(back->Equals(h)) << n;
    auto dup = gpu->Duplicate(*d);
    ASSERT_TRUE(dup.ok()) << dup.status();
    EXPECT_NE(dup->device_data(), d->device_data());
    auto dup_back = dup->ToHost();
    ASSERT_TRUE(dup_back.ok());
    EXPECT_TRUE(dup_back->Equals(h));
  }
  // Freed blocks are reused: the pool does not grow for the same sizes.
  const size_t held = gpu->pool_bytes();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(gpu->Allocate(DType::kFloat, TensorShape({1000})).ok());
  EXPECT_EQ(gpu->pool_bytes(), held);
  EXPECT_FALSE(gpu->CopyToHost(Tensor(DType::kFloat, TensorShape({2}))).ok());  // a host tensor
  EXPECT_FALSE(gpu->Allocate(DType::kString, TensorShape({2})).ok());
}

TEST(GpuDeviceTest, BatchedCopiesBothWays) {
  PSFLOW_GPU_OR_SKIP(gpu, 0);
  const std::vector<Tensor> host = {gpu_test::Random(DType::kFloat, TensorShape({300, 7}), -1, 1, 1),
                                    Tensor(DType::kDouble, TensorShape({0})),
                                    gpu_test::Random(DType::kInt64, TensorShape({5}), -9, 9, 2),
                                    gpu_test::Random(DType::kFloat, TensorShape({3 << 20}), -1, 1, 3)};
  for (int round = 0; round < 2; ++round) {  // the second reuses the staging buffer
    auto dev = gpu->CopyAllToDevice(host);
    ASSERT_TRUE(dev.ok()) << dev.status();
    ASSERT_EQ(dev->size(), host.size());
    for (size_t i = 0; i < host.size(); ++i) EXPECT_EQ((*dev)[i].device(), gpu->device());
    auto back = gpu->CopyAllToHost(*dev);
    ASSERT_TRUE(back.ok()) << back.status();
    for (size_t i = 0; i < host.size(); ++i) {
      EXPECT_TRUE((*back)[i].device().is_host());
      EXPECT_TRUE((*back)[i].Equals(host[i])) << i;
    }
  }
  EXPECT_FALSE(gpu->CopyAllToHost({host[0]}).ok());  // a host tensor
  EXPECT_FALSE(gpu->CopyAllToDevice({*gpu->Allocate(DType::kFloat, TensorShape({2}))}).ok());  // not a host tensor
}

TEST(GpuDeviceTest, ViewsOfDeviceTensorsCopyTheirOwnBytes) {
  PSFLOW_GPU_OR_SKIP(gpu, 0);
  Tensor h = Tensor::FromVector<int64_t>({0, 1, 2, 3, 4, 5, 6, 7}, TensorShape({4, 2}));
  auto d = gpu->CopyToDevice(h);
  ASSERT_TRUE(d.ok());
  auto rows = d->SliceRows(1, 3).ToHost();
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_TRUE(rows->Equals(Tensor::FromVector<int64_t>({2, 3, 4, 5}, TensorShape({2, 2}))));
  auto flat = d->Reshaped(TensorShape({8})).ToHost();
  ASSERT_TRUE(flat.ok());
  EXPECT_EQ(flat->shape(), TensorShape({8}));
  EXPECT_EQ(flat->flat<int64_t>()[7], 7);
}

TEST(GpuDeviceDeathTest, HostAccessToADeviceTensorNamesTheDevice) {
  PSFLOW_GPU_OR_SKIP(gpu, 0);
  auto d = gpu->Allocate(DType::kFloat, TensorShape({3}));
  ASSERT_TRUE(d.ok());
  EXPECT_DEATH((void)d->flat<float>(), "tensor on gpu:0: copy it to the host first");
}

TEST(GpuDeviceTest, NoKernelErrorByDefault) {
  PSFLOW_GPU_OR_SKIP(gpu, 0);
  auto e = gpu->TakeKernelError();
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->code, KernelError::kNone);
  EXPECT_EQ(KernelErrorMessage({.code = KernelError::kIndexOutOfRange, .a = 3, .b = 12, .c = 10}),
            "indices[3] = 12 is not in [0, 10)");
}

}  // namespace
}  // namespace psflow
