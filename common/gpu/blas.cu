// Matrix products on the GPU: GemmRowMajor (cuBLAS for float and double on
// CUDA devices, a plain kernel for integers and in the emulator) and the
// MatMul op.
//
// cuBLAS is column-major; a row-major C = op(A) op(B) is the column-major
// C^T = op(B)^T op(A)^T, so the operands swap.  The emulator runs the same
// column-major call through GemmColumnMajorKernel, which has cuBLAS's
// argument semantics, so the row-major mapping is checked without a GPU.
#include "common/gpu/gpu_kernel.h"

#if !defined(PSFLOW_GPU_EMULATION)
#include <cublas_v2.h>

#include "common/gpu/gpu_status.h"
#endif

namespace psflow::PSFLOW_GPU_NS {
namespace {

// C = alpha op(A) op(B) + beta C, column-major, as cublas<t>gemm.
template <typename T>
__global__ void GemmColumnMajorKernel(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
                                      const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  PSFLOW_GRID_LOOP(e, m * n) {
    const int64_t i = e % m, j = e / m;
    T acc = 0;
    for (int64_t p = 0; p < k; ++p) {
      const T av = ta ? a[p + i * lda] : a[i + p * lda];
      const T bv = tb ? b[j + p * ldb] : b[p + j * ldb];
      acc += av * bv;
    }
    c[i + j * ldc] = beta == T(0) ? alpha * acc : alpha * acc + beta * c[i + j * ldc];
  }
}

template <typename T>
Status GemmColumnMajor(Backend* dev, bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
                       const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
#if !defined(PSFLOW_GPU_EMULATION)
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    constexpr int64_t kMax = 2147483647;
    if (m > kMax || n > kMax || k > kMax || lda > kMax || ldb > kMax || ldc > kMax) {
      return UnimplementedError("a matrix product of [", m, ",", k, "] x [", k, ",", n, "] is too large for one cuBLAS call");
    }
    auto h = static_cast<cublasHandle_t>(dev->blas());
    const cublasOperation_t oa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, ob = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    const int index = dev->device().index;
    if constexpr (std::is_same_v<T, float>) {
      return CUBLAS_CALL(cublasSgemm(h, oa, ob, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), &alpha, a,
                                     static_cast<int>(lda), b, static_cast<int>(ldb), &beta, c, static_cast<int>(ldc)),
                         index);
    } else {
      return CUBLAS_CALL(cublasDgemm(h, oa, ob, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), &alpha, a,
                                     static_cast<int>(lda), b, static_cast<int>(ldb), &beta, c, static_cast<int>(ldc)),
                         index);
    }
  }
#endif
  return LaunchN(dev, "GemmColumnMajorKernel", m * n, GemmColumnMajorKernel<T>, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta,
                 c, ldc);
}

template <typename T>
Status MatMulTyped(OpKernelContext& c, bool ta, bool tb, int64_t m, int64_t k, int64_t n, Tensor* out) {
  Backend* dev = Dev(c);
  if (k == 0) return dev->Memset(out->device_data(), 0, out->TotalBytes());
  return GemmRowMajor<T>(dev, ta, tb, m, n, k, Ptr<const T>(c.input(0)), Ptr<const T>(c.input(1)), Ptr<T>(*out));
}

}  // namespace

template <typename T>
Status GemmRowMajor(Backend* dev, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a, const T* b, T* c) {
  if (m == 0 || n == 0) return OkStatus();
  // Row-major A is [m,k] ([k,m] when ta), B is [k,n] ([n,k] when tb).
  return GemmColumnMajor<T>(dev, tb, ta, n, m, k, T(1), b, tb ? k : n, a, ta ? m : k, T(0), c, n);
}
template Status GemmRowMajor<float>(Backend*, bool, bool, int64_t, int64_t, int64_t, const float*, const float*, float*);
template Status GemmRowMajor<double>(Backend*, bool, bool, int64_t, int64_t, int64_t, const double*, const double*, double*);
template Status GemmRowMajor<int32_t>(Backend*, bool, bool, int64_t, int64_t, int64_t, const int32_t*, const int32_t*, int32_t*);
template Status GemmRowMajor<int64_t>(Backend*, bool, bool, int64_t, int64_t, int64_t, const int64_t*, const int64_t*, int64_t*);

void RegisterMatMulKernels(KernelRegistry* r) {
  Register(r, "MatMul", [](OpKernelContext& c) -> Status {
    ASSIGN_OR_RETURN(bool ta, c.GetAttr<bool>("transpose_a"));
    ASSIGN_OR_RETURN(bool tb, c.GetAttr<bool>("transpose_b"));
    const Tensor& a = c.input(0);
    const Tensor& b = c.input(1);
    if (a.shape().rank() != 2 || b.shape().rank() != 2) {
      return InvalidArgumentError("MatMul needs matrices, got ", a.shape().DebugString(), " and ", b.shape().DebugString());
    }
    const int64_t m = a.shape().dim(ta ? 1 : 0), k = a.shape().dim(ta ? 0 : 1);
    const int64_t k2 = b.shape().dim(tb ? 1 : 0), n = b.shape().dim(tb ? 0 : 1);
    if (k != k2) {
      return InvalidArgumentError("Matrix size-incompatible: In[0]: ", a.shape().DebugString(), ", In[1]: ",
                                  b.shape().DebugString());
    }
    ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, 0, TensorShape({m, n})));
    Status st;
    PSFLOW_NUMERIC_DISPATCH(a.dtype(), st = MatMulTyped<T>(c, ta, tb, m, k, n, out));
    return st;
  });
}

}  // namespace psflow::PSFLOW_GPU_NS
