#include "common/gpu/gpu_status.h"

namespace psflow {

Status CudaStatus(cudaError_t e, const char* call, int device) {
  if (e == cudaSuccess) return OkStatus();
  // Reported here: cleared from the thread's last-error slot (an allocation
  // that failed and was retried must not fail the next launch).
  (void)cudaGetLastError();
  const bool oom = e == cudaErrorMemoryAllocation;
  const std::string msg = StrCat("gpu:", device, ": ", call, " failed: ", cudaGetErrorString(e), " (", cudaGetErrorName(e), ")",
                                 oom ? "; use a smaller batch or model, or another device" : "");
  return oom ? ResourceExhaustedError(msg) : InternalError(msg);
}

Status CublasStatus(cublasStatus_t e, const char* call, int device) {
  if (e == CUBLAS_STATUS_SUCCESS) return OkStatus();
  const bool oom = e == CUBLAS_STATUS_ALLOC_FAILED;
  const std::string msg = StrCat("gpu:", device, ": ", call, " failed: ", cublasGetStatusString(e), " (cuBLAS status ",
                                 static_cast<int>(e), ")", oom ? "; use a smaller batch or model, or another device" : "");
  return oom ? ResourceExhaustedError(msg) : InternalError(msg);
}

Status NcclStatus(int result, const char* error_string, const char* call, int device) {
  if (result == 0) return OkStatus();  // ncclSuccess
  // ncclSystemError (2) and ncclRemoteError (6) come from outside NCCL: a
  // peer or the machine; the step may be retried.
  const bool external = result == 2 || result == 6;
  const std::string msg = StrCat("gpu:", device, ": ", call, " failed: ", error_string, " (NCCL result ", result, ")");
  return external ? UnavailableError(msg) : InternalError(msg);
}

}  // namespace psflow
