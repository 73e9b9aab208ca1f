// The CPU emulator of CUDA's execution model: grid-stride coverage,
// barriers, shuffles, block reductions, and the faults it must catch.
#include "common/gpu/emulator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "common/gpu/gpu_emulated.h"
#include "common/gpu/kernel_util.h"

namespace psflow::gpu_emu {
namespace {

__global__ void CountVisits(int* visits, int64_t n) {
  PSFLOW_GRID_LOOP(i, n) visits[i] += 1;
}

TEST(EmulatorTest, GridStrideLoopVisitsEveryIndexOnce) {
  std::vector<int> visits(1000, 0);
  for (unsigned blocks : {1u, 3u, 8u}) {
    std::fill(visits.begin(), visits.end(), 0);
    ASSERT_EQ(Launch(CountVisits, dim3(blocks), dim3(64), 0, nullptr, visits.data(), int64_t{1000}), cudaSuccess);
    for (int v : visits) ASSERT_EQ(v, 1) << blocks << " blocks";
  }
}

// Thread t writes slot t, then (after the barrier) reads slot n-1-t: wrong
// without a real barrier, since later threads have not written yet.
__global__ void ReverseThroughShared(const int* in, int* out) {
  __shared__ int buf[256];
  const int t = static_cast<int>(threadIdx.x);
  const int base = static_cast<int>(blockIdx.x * blockDim.x);
  buf[t] = in[base + t];
  __syncthreads();
  out[base + t] = buf[blockDim.x - 1 - t];
}

TEST(EmulatorTest, SyncThreadsIsABarrier) {
  std::vector<int> in(512), out(512, -1);
  for (int i = 0; i < 512; ++i) in[i] = i;
  Launch(ReverseThroughShared, dim3(2), dim3(256), 0, nullptr, in.data(), out.data());
  for (int b = 0; b < 2; ++b)
    for (int t = 0; t < 256; ++t) ASSERT_EQ(out[b * 256 + t], b * 256 + 255 - t);
}

__global__ void SumPerBlock(const double* in, double* out, int64_t n) {
  double v = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) v += in[blockIdx.x * n + i];
  v = BlockReduce(v);
  if (threadIdx.x == 0) out[blockIdx.x] = v;
}
__global__ void MaxPerBlock(const float* in, float* out, int64_t n) {
  float v = Lowest<float>();
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) v = in[i] > v ? in[i] : v;
  v = BlockAllReduce<float, true>(v);
  out[threadIdx.x] = v;  // every thread sees the result
}

TEST(EmulatorTest, ShufflesAndBlockReductions) {
  std::vector<double> in(3 * 1000);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<double>(i % 1000) * 0.5;
  std::vector<double> out(3, 0);
  for (unsigned threads : {32u, 96u, 256u}) {
    Launch(SumPerBlock, dim3(3), dim3(threads), 0, nullptr, in.data(), out.data(), int64_t{1000});
    for (double v : out) EXPECT_DOUBLE_EQ(v, 0.5 * 999 * 1000 / 2) << threads;
  }
  std::vector<float> f(777);
  for (size_t i = 0; i < f.size(); ++i) f[i] = static_cast<float>((i * 37) % 701) - 350.f;
  std::vector<float> m(128, 0);
  Launch(MaxPerBlock, dim3(1), dim3(128), 0, nullptr, f.data(), m.data(), int64_t{777});
  for (float v : m) EXPECT_EQ(v, 350.f);
}

__global__ void XorButterfly(int* out) {
  int v = static_cast<int>(threadIdx.x);
  for (int mask = 16; mask > 0; mask >>= 1) v += __shfl_xor_sync(0xffffffffu, v, mask);
  out[threadIdx.x] = v;
}

TEST(EmulatorTest, XorShuffleGivesEveryLaneTheWarpSum) {
  std::vector<int> out(64);
  Launch(XorButterfly, dim3(1), dim3(64), 0, nullptr, out.data());
  for (int t = 0; t < 32; ++t) EXPECT_EQ(out[t], 31 * 32 / 2);
  for (int t = 32; t < 64; ++t) EXPECT_EQ(out[t], (32 + 63) * 32 / 2);
}

__global__ void EarlyExitBeforeBarrier(int* out) {
  if (threadIdx.x == 0) return;
  __syncthreads();
  out[threadIdx.x] = 1;
}

TEST(EmulatorDeathTest, DivergentBarrierIsReported) {
  std::vector<int> out(64);
  EXPECT_DEATH(Launch(EarlyExitBeforeBarrier, dim3(1), dim3(64), 0, nullptr, out.data()), "divergence");
}

TEST(EmulatorDeathTest, HostPointerToAKernelIsReported) {
  std::vector<int> visits(10);
  // The emulated device installs the device-memory check (in the child only:
  // the other tests pass host memory on purpose).
  EXPECT_DEATH(
      {
        (void)EmulatedGpuDevice(0);
        Launch(CountVisits, dim3(1), dim3(32), 0, nullptr, visits.data(), int64_t{10});
      },
      "not device memory");
}

}  // namespace
}  // namespace psflow::gpu_emu
