// Device-side helpers shared by the kernel sources (common/gpu/*.cu):
// grid-stride loops, warp and block reductions, NumPy-broadcast indexing,
// math overloads that mean the same on the GPU and in the emulator, the
// Philox random generator, and recording input errors.  Private to
// common/gpu; included after cuda_compat.h, inside no namespace.
#pragma once

#include <cstdint>

#include "common/gpu/cuda_compat.h"
#include "common/gpu/gpu_device.h"

namespace psflow::PSFLOW_GPU_NS {

// Every index of [0, n) once, spread over the whole grid.
#define PSFLOW_GRID_LOOP(i, n)                                                                     \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n);          \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

// ---- Math with one name for float and double, device and emulator. ----
__device__ __forceinline__ float Exp(float x) { return expf(x); }
__device__ __forceinline__ double Exp(double x) { return exp(x); }
__device__ __forceinline__ float Expm1(float x) { return expm1f(x); }
__device__ __forceinline__ double Expm1(double x) { return expm1(x); }
__device__ __forceinline__ float Log(float x) { return logf(x); }
__device__ __forceinline__ double Log(double x) { return log(x); }
__device__ __forceinline__ float Log1p(float x) { return log1pf(x); }
__device__ __forceinline__ double Log1p(double x) { return log1p(x); }
__device__ __forceinline__ float Sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double Sqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float Tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double Tanh(double x) { return tanh(x); }
__device__ __forceinline__ float Pow(float x, float y) { return powf(x, y); }
__device__ __forceinline__ double Pow(double x, double y) { return pow(x, y); }
__device__ __forceinline__ float Abs(float x) { return fabsf(x); }
__device__ __forceinline__ double Abs(double x) { return fabs(x); }
__device__ __forceinline__ int32_t Abs(int32_t x) { return x < 0 ? -x : x; }
__device__ __forceinline__ int64_t Abs(int64_t x) { return x < 0 ? -x : x; }
// Integer "pow" as TensorFlow's: repeated multiplication (y >= 0).
template <typename T>
__device__ __forceinline__ T Pow(T x, T y) {
  T r = 1;
  for (T k = 0; k < y; ++k) r *= x;
  return r;
}
template <typename T>
__device__ __forceinline__ T Lowest();
template <>
__device__ __forceinline__ float Lowest<float>() { return -3.402823466e+38f; }
template <>
__device__ __forceinline__ double Lowest<double>() { return -1.7976931348623157e+308; }
template <>
__device__ __forceinline__ int32_t Lowest<int32_t>() { return -2147483647 - 1; }
template <>
__device__ __forceinline__ int64_t Lowest<int64_t>() { return -9223372036854775807LL - 1; }

// ---- Reductions (every thread of the warp / block must call). ----
template <typename T>
__device__ __forceinline__ T WarpSum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  return v;
}
template <typename T>
__device__ __forceinline__ T WarpMax(T v) {
  for (int o = 16; o > 0; o >>= 1) {
    const T other = __shfl_down_sync(0xffffffffu, v, o);
    v = other > v ? other : v;
  }
  return v;
}
// Sum (or max) over the block, valid in thread 0; blockDim.x a multiple
// of 32.  Ends with a barrier, so it may be called again right away.
template <typename T, bool kMax = false>
__device__ T BlockReduce(T v) {
  __shared__ T partial[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  v = kMax ? WarpMax(v) : WarpSum(v);
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  const int nwarps = blockDim.x / 32;
  if (warp == 0) {
    v = lane < nwarps ? partial[lane] : (kMax ? partial[0] : T(0));
    v = kMax ? WarpMax(v) : WarpSum(v);
  }
  __syncthreads();
  return v;
}
// The block's reduction, handed to every thread.
template <typename T, bool kMax = false>
__device__ T BlockAllReduce(T v) {
  __shared__ T result;
  v = BlockReduce<T, kMax>(v);
  if (threadIdx.x == 0) result = v;
  __syncthreads();
  v = result;
  __syncthreads();
  return v;
}

// ---- NumPy broadcasting: element offsets of up to two inputs for each
// output index.  Built on the host (BroadcastIndex in gpu_kernel.h). ----
inline constexpr int kMaxRank = 8;
struct BroadcastIndex {
  int rank = 0;
  int64_t dims[kMaxRank] = {};      // output dims
  int64_t stride_a[kMaxRank] = {};  // 0 along broadcast dimensions
  int64_t stride_b[kMaxRank] = {};
};
__device__ __forceinline__ void BroadcastOffsets(const BroadcastIndex& ix, int64_t out, int64_t* a, int64_t* b) {
  int64_t oa = 0, ob = 0;
  for (int d = ix.rank - 1; d >= 0; --d) {
    const int64_t k = out % ix.dims[d];
    out /= ix.dims[d];
    oa += k * ix.stride_a[d];
    ob += k * ix.stride_b[d];
  }
  *a = oa;
  *b = ob;
}

// ---- Strided views: offset(i) = base + sum_d idx_d(i) * strides[d], where
// idx is i's multi-index over dims (row-major).  Built on the host
// (MakeMap in gpu_kernel.h). ----
struct IndexMap {
  int rank = 0;
  int64_t dims[kMaxRank] = {};
  int64_t strides[kMaxRank] = {};
  int64_t base = 0;
};
__device__ __forceinline__ int64_t MapOffset(const IndexMap& m, int64_t i) {
  int64_t off = m.base;
  for (int d = m.rank - 1; d >= 0; --d) {
    off += (i % m.dims[d]) * m.strides[d];
    i /= m.dims[d];
  }
  return off;
}

// ---- atomicAdd for every numeric dtype (CUDA has no signed 64-bit one;
// two's complement makes the unsigned add the same). ----
__device__ __forceinline__ float AtomicAdd(float* p, float v) { return atomicAdd(p, v); }
__device__ __forceinline__ double AtomicAdd(double* p, double v) { return atomicAdd(p, v); }
__device__ __forceinline__ int32_t AtomicAdd(int32_t* p, int32_t v) { return atomicAdd(reinterpret_cast<int*>(p), static_cast<int>(v)); }
__device__ __forceinline__ int64_t AtomicAdd(int64_t* p, int64_t v) {
  return static_cast<int64_t>(atomicAdd(reinterpret_cast<unsigned long long*>(p), static_cast<unsigned long long>(v)));
}

// Elements moved without arithmetic by their size: copy kernels are
// instantiated once per width, not per dtype.
template <size_t kBytes>
struct Bits;
template <> struct Bits<1> { using T = uint8_t; };
template <> struct Bits<2> { using T = uint16_t; };
template <> struct Bits<4> { using T = uint32_t; };
template <> struct Bits<8> { using T = uint64_t; };

// ---- Input errors, recorded for the session (see KernelError). ----
__device__ __forceinline__ void ReportError(KernelError* e, int32_t code, int32_t tag, int64_t a, int64_t b, int64_t c) {
  if (atomicCAS(reinterpret_cast<int*>(&e->code), 0, static_cast<int>(code)) == 0) {
    e->tag = tag;
    e->a = a;
    e->b = b;
    e->c = c;
  }
}

// ---- Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as
// 1, 2, 3"): counter-based, so element i of a tensor draws from counter
// (offset + i) without any state shared between threads. ----
struct Philox {
  uint32_t v[4];
};
__device__ __forceinline__ void MulHiLo(uint32_t a, uint32_t b, uint32_t* hi, uint32_t* lo) {
  const uint64_t p = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(p >> 32);
  *lo = static_cast<uint32_t>(p);
}
__device__ __forceinline__ Philox PhiloxRound(Philox c, uint32_t k0, uint32_t k1) {
  uint32_t hi0, lo0, hi1, lo1;
  MulHiLo(0xD2511F53u, c.v[0], &hi0, &lo0);
  MulHiLo(0xCD9E8D57u, c.v[2], &hi1, &lo1);
  Philox r;
  r.v[0] = hi1 ^ c.v[1] ^ k0;
  r.v[1] = lo1;
  r.v[2] = hi0 ^ c.v[3] ^ k1;
  r.v[3] = lo0;
  return r;
}
// Four random 32-bit words for (key, counter).
__device__ __forceinline__ Philox PhiloxDraw(uint64_t key, uint64_t counter_lo, uint64_t counter_hi) {
  Philox c;
  c.v[0] = static_cast<uint32_t>(counter_lo);
  c.v[1] = static_cast<uint32_t>(counter_lo >> 32);
  c.v[2] = static_cast<uint32_t>(counter_hi);
  c.v[3] = static_cast<uint32_t>(counter_hi >> 32);
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int r = 0; r < 10; ++r) {
    c = PhiloxRound(c, k0, k1);
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return c;
}
// A uniform double in [0, 1) from two words (53 random bits).
__device__ __forceinline__ double Uniform01(uint32_t hi, uint32_t lo) {
  const uint64_t bits = (static_cast<uint64_t>(hi) << 21) ^ (static_cast<uint64_t>(lo) >> 11);
  return static_cast<double>(bits & ((uint64_t{1} << 53) - 1)) * (1.0 / 9007199254740992.0);
}

}  // namespace psflow::PSFLOW_GPU_NS
