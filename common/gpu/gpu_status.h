// CUDA, cuBLAS and NCCL results as Status values naming the call and the
// device: CUDA_CALL(cudaMalloc(&p, n), device) -> "gpu:0: cudaMalloc(&p, n)
// failed: out of memory (cudaErrorMemoryAllocation)".  Only for files
// compiled with CUDA.
#pragma once

#include <cuda_runtime.h>

#include "common/core/status.h"

namespace psflow {

inline Status CudaStatus(cudaError_t e, const char* call, int device) {
  if (e == cudaSuccess) return OkStatus();
  const bool oom = e == cudaErrorMemoryAllocation;
  const std::string msg = StrCat("gpu:", device, ": ", call, " failed: ", cudaGetErrorString(e), " (", cudaGetErrorName(e), ")",
                                 oom ? "; use a smaller batch or model, or another device" : "");
  return oom ? ResourceExhaustedError(msg) : InternalError(msg);
}

}  // namespace psflow

#define CUDA_CALL(expr, device) ::psflow::CudaStatus((expr), #expr, (device))
