// A CPU emulation of CUDA's execution model, so that psflow's CUDA kernels
// are executed and checked on machines without a GPU (CI among them).
//
// The kernel sources (common/gpu/*.cu) are compiled twice: by nvcc for real
// GPUs, and by the host compiler with PSFLOW_GPU_EMULATION defined, which
// makes cuda_compat.h include this header instead of the CUDA runtime:
//
//   __global__ void Scale(float* x, int64_t n, float a) {
//     for (int64_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) x[i] *= a;
//   }
//   Launch(Scale, dim3(4), dim3(256), 0, stream, x, n, 2.f);   // same call in both builds
//
// Every CUDA thread runs as a fiber (ucontext) on the calling OS thread;
// blocks run one after another.  __syncthreads() is a real barrier (every
// thread of the block reaches it before any goes on), warp shuffles
// exchange values between the 32 fibers of a warp, __shared__ variables are
// per block.  A kernel whose threads diverge at a barrier (some wait, others
// finish or wait elsewhere) is reported and aborts the test: on a GPU that
// is a hang or undefined behaviour.  Launches are synchronous; atomics are
// plain read-modify-writes (one OS thread runs a grid).
//
// What it does not model: memory spaces (device pointers are host pointers),
// timing, warp-synchronous code without shuffles, dynamic shared memory.
// Test-only: never linked into psflow's binaries.  Thread-safe: several OS
// threads may run grids at once, each its own.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __launch_bounds__(...)
// Per block: blocks of one grid run one after another on one OS thread.
#define __shared__ static thread_local
#define __syncthreads() ::psflow::gpu_emu::SyncThreads()

namespace psflow::gpu_emu {

struct uint3 {
  unsigned x = 0, y = 0, z = 0;
};
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};

// The built-in variables of the running fiber.
extern thread_local uint3 threadIdx;
extern thread_local uint3 blockIdx;
extern thread_local dim3 blockDim;
extern thread_local dim3 gridDim;
inline constexpr int warpSize = 32;

using cudaError_t = int;
inline constexpr cudaError_t cudaSuccess = 0;
// A stream belongs to one device; as on a GPU, a launch into it must come
// from a thread whose current device that is.
struct EmulatedStream {
  int device = 0;
};
using cudaStream_t = EmulatedStream*;
// The calling thread's current device (0 until set, as in CUDA).
void SetCurrentDevice(int device);
int CurrentDevice();
void CheckLaunchStream(cudaStream_t stream);
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline const char* cudaGetErrorString(cudaError_t) { return "no error (emulated)"; }
inline const char* cudaGetErrorName(cudaError_t) { return "cudaSuccess"; }

// Block-wide barrier.
void SyncThreads();
// Exchanges 8 bytes between the lanes of the calling warp: every lane
// stores `mine` and gets the value of lane `src` (its own when src is out
// of range).  Every lane of the warp must call it.
uint64_t WarpExchange(uint64_t mine, int src);
// Runs body() once per thread of the grid; aborts on barrier divergence.
void RunGrid(dim3 grid, dim3 block, const std::function<void()>& body);

// Emulated device memory is host memory; to catch a host pointer handed to
// a kernel (which would fault on a GPU), the emulated device registers a
// predicate and every pointer argument of a launch must satisfy it (null
// passes).
using DevicePointerCheck = bool (*)(const void* p);
void SetDevicePointerCheck(DevicePointerCheck check);
void CheckKernelPointer(const void* p, int argument);

template <typename T>
T ShuffleFrom(T v, int src) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "shuffles carry at most 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  bits = WarpExchange(bits, src);
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}
inline int Lane() { return static_cast<int>((threadIdx.x + threadIdx.y * blockDim.x + threadIdx.z * blockDim.x * blockDim.y) % 32); }

template <typename T>
T __shfl_down_sync(unsigned /*mask*/, T v, unsigned delta, int width = warpSize) {
  const int lane = Lane();
  const int src = lane % width + static_cast<int>(delta) < width ? lane + static_cast<int>(delta) : lane;
  return ShuffleFrom(v, src);
}
template <typename T>
T __shfl_xor_sync(unsigned /*mask*/, T v, int lane_mask, int width = warpSize) {
  const int lane = Lane(), base = lane - lane % width;
  const int src = base + ((lane % width) ^ lane_mask);
  return ShuffleFrom(v, src < base + width ? src : lane);
}
template <typename T>
T __shfl_sync(unsigned /*mask*/, T v, int src_lane, int width = warpSize) {
  const int lane = Lane(), base = lane - lane % width;
  return ShuffleFrom(v, base + src_lane % width);
}

template <typename T>
T atomicAdd(T* p, T v) {
  const T old = *p;
  *p = old + v;
  return old;
}
template <typename T>
T atomicMax(T* p, T v) {
  const T old = *p;
  if (v > old) *p = v;
  return old;
}
template <typename T>
T atomicCAS(T* p, T compare, T v) {
  const T old = *p;
  if (old == compare) *p = v;
  return old;
}
template <typename T>
T __ldg(const T* p) {
  return *p;
}
inline float rsqrtf(float x) { return 1.f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }

// Launches kernel k: the same signature as psflow::cuda::Launch.
template <typename... P, typename... A>
cudaError_t Launch(void (*k)(P...), dim3 grid, dim3 block, size_t /*shared_bytes*/, cudaStream_t stream,
                   A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "wrong number of kernel arguments");
  const std::tuple<std::decay_t<P>...> params(static_cast<std::decay_t<P>>(std::forward<A>(args))...);
  std::apply(
      [](const auto&... p) {
        int i = 0;
        (
            [&](const auto& v) {
              if constexpr (std::is_pointer_v<std::decay_t<decltype(v)>>) CheckKernelPointer(v, i);
              ++i;
            }(p),
            ...);
      },
      params);
  CheckLaunchStream(stream);
  RunGrid(grid, block, [&] { std::apply(k, params); });
  return cudaSuccess;
}

}  // namespace psflow::gpu_emu
