// Test helpers for the GPU code paths: the device a test binary runs on
// (a real CUDA device in the *_cuda tests, skipped without a GPU; an
// emulated one in the *_emu tests, always there), random host tensors, and
// tolerant comparisons of CPU and GPU results.
#pragma once

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "common/core/tensor.h"
#include "common/gpu/gpu_device.h"

#if defined(PSFLOW_TEST_EMULATED_GPU)
#include "common/gpu/gpu_emulated.h"
#endif

namespace psflow::gpu_test {

// Device `index` for this test binary, or null (the test skips) when the
// binary tests real GPUs and this machine has fewer.
inline GpuDevice* TestDevice(int index = 0) {
#if defined(PSFLOW_TEST_EMULATED_GPU)
  auto d = EmulatedGpuDevice(index);
#else
  if (GpuDeviceCount() <= index) return nullptr;
  auto d = GpuDevice::Get(index);
#endif
  EXPECT_TRUE(d.ok()) << d.status();
  return d.ok() ? *d : nullptr;
}
inline const char* TestDeviceKind() {
#if defined(PSFLOW_TEST_EMULATED_GPU)
  return "emulated";
#else
  return "cuda";
#endif
}

#define PSFLOW_GPU_OR_SKIP(var, index)                                                    \
  GpuDevice* var = ::psflow::gpu_test::TestDevice(index);                                 \
  if (var == nullptr) GTEST_SKIP() << "needs gpu:" << (index) << "; " << GpuDescription()

// Uniform values in [lo, hi] (integers rounded), reproducible from `seed`.
inline Tensor Random(DType dtype, const TensorShape& shape, double lo, double hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  Tensor t(dtype, shape);
  const int64_t n = t.num_elements();
  for (int64_t i = 0; i < n; ++i) {
    const double v = u(rng);
    switch (dtype) {
      case DType::kFloat: t.flat<float>()[static_cast<size_t>(i)] = static_cast<float>(v); break;
      case DType::kDouble: t.flat<double>()[static_cast<size_t>(i)] = v; break;
      case DType::kInt32: t.flat<int32_t>()[static_cast<size_t>(i)] = static_cast<int32_t>(std::lround(v)); break;
      case DType::kInt64: t.flat<int64_t>()[static_cast<size_t>(i)] = std::lround(v); break;
      case DType::kBool: t.flat<bool>()[static_cast<size_t>(i)] = v > (lo + hi) / 2; break;
      default: ADD_FAILURE() << "Random of " << DTypeName(dtype);
    }
  }
  return t;
}

// Elementwise |a - b| <= atol + rtol * |b| for floating point, equality
// otherwise; the first mismatch is described.
inline ::testing::AssertionResult Near(const Tensor& got, const Tensor& want, double rtol, double atol) {
  if (got.dtype() != want.dtype() || !(got.shape() == want.shape())) {
    return ::testing::AssertionFailure() << "got " << DTypeName(got.dtype()) << " " << got.shape().DebugString()
                                         << ", want " << DTypeName(want.dtype()) << " " << want.shape().DebugString();
  }
  const int64_t n = got.num_elements();
  for (int64_t i = 0; i < n; ++i) {
    const size_t k = static_cast<size_t>(i);
    double g = 0, w = 0;
    switch (got.dtype()) {
      case DType::kFloat: g = got.flat<float>()[k]; w = want.flat<float>()[k]; break;
      case DType::kDouble: g = got.flat<double>()[k]; w = want.flat<double>()[k]; break;
      case DType::kInt32: g = got.flat<int32_t>()[k]; w = want.flat<int32_t>()[k]; break;
      case DType::kInt64: g = static_cast<double>(got.flat<int64_t>()[k]); w = static_cast<double>(want.flat<int64_t>()[k]); break;
      case DType::kBool: g = got.flat<bool>()[k]; w = want.flat<bool>()[k]; break;
      default: return ::testing::AssertionFailure() << "cannot compare " << DTypeName(got.dtype());
    }
    const bool exact = got.dtype() != DType::kFloat && got.dtype() != DType::kDouble;
    const bool both_nan = std::isnan(g) && std::isnan(w);
    if (both_nan) continue;
    if (exact ? g != w : !(std::abs(g - w) <= atol + rtol * std::abs(w))) {
      return ::testing::AssertionFailure() << "element " << i << " of " << n << ": got " << g << ", want " << w
                                           << " (got " << got.DebugString(6) << ", want " << want.DebugString(6) << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace psflow::gpu_test
