// CUDA, cuBLAS and NCCL results as Status values naming the call and the
// device: CUDA_CALL(cudaMalloc(&p, n), device) -> "gpu:0: cudaMalloc(&p, n)
// failed: out of memory (cudaErrorMemoryAllocation); use a smaller batch
// ...".  Out of memory is ResourceExhausted, everything else Internal.
// Only for files compiled with CUDA (cuda_device.cc, nccl_all_reduce.cc).
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "common/core/status.h"

namespace psflow {

Status CudaStatus(cudaError_t e, const char* call, int device);
Status CublasStatus(cublasStatus_t e, const char* call, int device);
// NCCL's ncclResult_t, passed as int so that this header needs no nccl.h.
Status NcclStatus(int result, const char* error_string, const char* call, int device);

}  // namespace psflow

#define CUDA_CALL(expr, device) ::psflow::CudaStatus((expr), #expr, (device))
#define CUBLAS_CALL(expr, device) ::psflow::CublasStatus((expr), #expr, (device))
