// CUDA, cuBLAS and NCCL results become Status values that name the call and
// the device, with the code a caller acts on (no GPU needed).
#include "common/gpu/gpu_status.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace psflow {
namespace {

using ::testing::HasSubstr;

TEST(GpuStatusTest, CudaOutOfMemoryIsResourceExhaustedAndSaysWhatToDo) {
  EXPECT_TRUE(CUDA_CALL(cudaSuccess, 0).ok());
  Status s = CUDA_CALL(cudaErrorMemoryAllocation, 1);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(s.message(), HasSubstr("gpu:1: cudaErrorMemoryAllocation failed"));
  EXPECT_THAT(s.message(), HasSubstr("smaller batch"));
  Status other = CudaStatus(cudaErrorInvalidValue, "cudaMemcpyAsync(dst, src, n)", 0);
  EXPECT_EQ(other.code(), StatusCode::kInternal);
  EXPECT_THAT(other.message(), HasSubstr("cudaMemcpyAsync(dst, src, n) failed"));
  EXPECT_THAT(other.message(), HasSubstr("cudaErrorInvalidValue"));
}

TEST(GpuStatusTest, CublasStatusNamesTheCall) {
  EXPECT_TRUE(CUBLAS_CALL(CUBLAS_STATUS_SUCCESS, 0).ok());
  Status s = CublasStatus(CUBLAS_STATUS_ALLOC_FAILED, "cublasCreate(&h)", 2);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(s.message(), HasSubstr("gpu:2: cublasCreate(&h) failed"));
  Status e = CublasStatus(CUBLAS_STATUS_INVALID_VALUE, "cublasSgemm", 0);
  EXPECT_EQ(e.code(), StatusCode::kInternal);
  EXPECT_THAT(e.message(), HasSubstr("cuBLAS status 7"));
}

TEST(GpuStatusTest, NcclSystemErrorsMayBeRetried) {
  EXPECT_TRUE(NcclStatus(0, "no error", "ncclAllReduce", 0).ok());
  EXPECT_EQ(NcclStatus(2, "unhandled system error", "ncclAllReduce", 0).code(), StatusCode::kUnavailable);
  Status s = NcclStatus(3, "internal error", "ncclCommInitAll", 1);
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_THAT(s.message(), HasSubstr("gpu:1: ncclCommInitAll failed: internal error (NCCL result 3)"));
}

}  // namespace
}  // namespace psflow
