// What psflow's CUDA kernel sources (common/gpu/*.cu) include first: the
// CUDA runtime under nvcc, or the CPU emulator (emulator.h) when the same
// source is compiled by the host compiler with PSFLOW_GPU_EMULATION.
//
//   namespace psflow::PSFLOW_GPU_NS {          // psflow::cuda or psflow::gpu_emu
//   __global__ void K(float* x, int64_t n) { ... }
//   Status Run(cudaStream_t s, float* x, int64_t n) {
//     return LaunchStatus(Launch(K, dim3(blocks), dim3(256), 0, s, x, n), "K");
//   }
//   }
//
// Each build has its own namespace, so a test binary can link the emulated
// kernels beside the real ones.
#pragma once

#include <cstddef>
#include <cstdint>
#include <tuple>
#include <utility>

#include "common/core/status.h"

#if defined(PSFLOW_GPU_EMULATION)
#include "common/gpu/emulator.h"
#define PSFLOW_GPU_NS gpu_emu
#else
#include <cuda_runtime.h>
#define PSFLOW_GPU_NS cuda

namespace psflow::cuda {

// Launches kernel k through cudaLaunchKernel, converting each argument to
// the kernel's parameter type first (as a <<<>>> launch would).
template <typename... P, typename... A>
cudaError_t Launch(void (*k)(P...), dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream, A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "wrong number of kernel arguments");
  std::tuple<std::decay_t<P>...> params(static_cast<std::decay_t<P>>(std::forward<A>(args))...);
  return std::apply(
      [&](auto&... p) {
        void* argv[] = {static_cast<void*>(&p)...};
        return cudaLaunchKernel(reinterpret_cast<const void*>(k), grid, block, argv, shared_bytes, stream);
      },
      params);
}

}  // namespace psflow::cuda
#endif

namespace psflow::PSFLOW_GPU_NS {

// A launch's result as a Status naming the kernel.
// cudaLaunchKernel returns its own errors; the thread's last-error slot is
// cleared after one, so that it is not blamed on a later launch.
inline Status LaunchStatus(cudaError_t e, const char* kernel) {
  if (e == cudaSuccess) return OkStatus();
  (void)cudaGetLastError();
  return InternalError("launching CUDA kernel ", kernel, " failed: ", cudaGetErrorString(e), " (",
                       cudaGetErrorName(e), ")");
}

}  // namespace psflow::PSFLOW_GPU_NS
