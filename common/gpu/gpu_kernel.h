// Host-side helpers for the GPU kernels' op glue (common/gpu/*.cu): the
// device of a kernel's context, device outputs, launches that return
// Status, broadcast indexing.  Private to common/gpu.
//
//   Status ReluGpu(OpKernelContext& c) {
//     Backend* dev = Dev(c);
//     ASSIGN_OR_RETURN(Tensor* y, AllocateOutput(c, 0, c.input(0).shape()));
//     return LAUNCH(dev, ReluKernel<float>, n, Ptr<float>(c.input(0)), Ptr<float>(*y), n);
//   }
#pragma once

#include <vector>

#include "common/core/logging.h"
#include "common/gpu/gpu_backend.h"
#include "common/gpu/kernel_util.h"
#include "common/ops/kernel.h"
#include "common/ops/op_util.h"

namespace psflow::PSFLOW_GPU_NS {

// The device a GPU kernel runs on (the session sets it).
inline Backend* Dev(const OpKernelContext& c) {
  GpuDevice* g = c.gpu();
  CHECK(g != nullptr && g->backend_id() == Backend::Id()) << "GPU kernel of " << c.node().name() << " run off its device";
  return static_cast<Backend*>(g);
}

// Allocates output i (the node's output dtype) on the device.
inline StatusOr<Tensor*> AllocateOutput(OpKernelContext& c, int i, TensorShape shape) {
  ASSIGN_OR_RETURN(Tensor t, Dev(c)->Allocate(c.node().output_dtype(i), shape));
  c.SetOutput(i, std::move(t));
  return &c.outputs()[static_cast<size_t>(i)];
}
inline StatusOr<Tensor> AllocateTemp(OpKernelContext& c, DType dtype, TensorShape shape) {
  return Dev(c)->Allocate(dtype, shape);
}

template <typename T>
T* Ptr(const Tensor& t) {
  return static_cast<T*>(t.device_data());
}

// Launches kernel k over n items (grid-stride) with kThreads per block.
template <typename... P, typename... A>
Status LaunchN(Backend* dev, const char* name, int64_t n, void (*k)(P...), A&&... args) {
  if (n <= 0) return OkStatus();
  return LaunchStatus(Launch(k, dim3(static_cast<unsigned>(dev->Blocks(n))), dim3(kThreads), 0, dev->stream(),
                             std::forward<A>(args)...),
                      name);
}
// One block of `threads` per row (row reductions), up to 65535 x 65535
// rows; blocks past the last row return at once (PSFLOW_ROW_INDEX).
template <typename... P, typename... A>
Status LaunchRows(Backend* dev, const char* name, int64_t rows, int threads, void (*k)(P...), A&&... args) {
  if (rows <= 0) return OkStatus();
  const unsigned gx = static_cast<unsigned>(rows < 65535 ? rows : 65535);
  const unsigned gy = static_cast<unsigned>((rows + 65534) / 65535);
  return LaunchStatus(Launch(k, dim3(gx, gy), dim3(static_cast<unsigned>(threads)), 0, dev->stream(), std::forward<A>(args)...),
                      name);
}
// Threads per row block: a warp for short rows, kThreads for long ones.
inline int RowThreads(int64_t cols) { return cols <= 256 ? 32 : kThreads; }
#define PSFLOW_ROW_INDEX (static_cast<int64_t>(blockIdx.y) * gridDim.x + blockIdx.x)

// Broadcasting of a and b to `out` (shapes already checked), with
// dimensions merged where possible so that the index arithmetic is short.
inline StatusOr<BroadcastIndex> MakeBroadcastIndex(const TensorShape& out, const TensorShape& a, const TensorShape& b) {
  const int r = out.rank();
  std::vector<int64_t> sa(static_cast<size_t>(r), 0), sb(static_cast<size_t>(r), 0);
  auto strides = [&](const TensorShape& in, std::vector<int64_t>* s) {
    int64_t st = 1;
    for (int d = in.rank() - 1; d >= 0; --d) {
      const int od = r - in.rank() + d;
      (*s)[static_cast<size_t>(od)] = in.dim(d) == 1 ? 0 : st;
      st *= in.dim(d);
    }
  };
  strides(a, &sa);
  strides(b, &sb);
  // Merge dimension d into d+1 when both inputs are contiguous across them.
  std::vector<int64_t> dims, ma, mb;
  for (int d = 0; d < r; ++d) {
    const size_t u = static_cast<size_t>(d);
    if (out.dim(d) == 1) continue;  // size-1 dimensions add nothing
    if (!dims.empty()) {
      const int64_t n = out.dim(d);
      const bool fa = ma.back() == sa[u] * n, fb = mb.back() == sb[u] * n;
      if (fa && fb) {
        dims.back() *= n;
        ma.back() = sa[u];
        mb.back() = sb[u];
        continue;
      }
    }
    dims.push_back(out.dim(d));
    ma.push_back(sa[u]);
    mb.push_back(sb[u]);
  }
  if (static_cast<int>(dims.size()) > kMaxRank) {
    return UnimplementedError("broadcasting over ", dims.size(), " dimensions on the GPU (at most ", kMaxRank, ")");
  }
  BroadcastIndex ix;
  ix.rank = static_cast<int>(dims.size());
  for (size_t d = 0; d < dims.size(); ++d) {
    ix.dims[d] = dims[d];
    ix.stride_a[d] = ma[d];
    ix.stride_b[d] = mb[d];
  }
  return ix;
}

// Runs BODY with `E` bound to the unsigned type of `dtype`'s width (for
// kernels that only move elements).
#define PSFLOW_GPU_BITS_DISPATCH(dtype, BODY)                                              \
  switch (DTypeSize(dtype)) {                                                             \
    case 1: { using E = Bits<1>::T; BODY; } break;                                       \
    case 2: { using E = Bits<2>::T; BODY; } break;                                       \
    case 4: { using E = Bits<4>::T; BODY; } break;                                       \
    case 8: { using E = Bits<8>::T; BODY; } break;                                       \
    default:                                                                              \
      return InvalidArgumentError("dtype ", DTypeName(dtype), " cannot be moved on the GPU"); \
  }

// Row-major strides of `shape`.
inline std::vector<int64_t> Strides(const TensorShape& shape) {
  std::vector<int64_t> st(static_cast<size_t>(shape.rank()), 1);
  for (int d = shape.rank() - 2; d >= 0; --d) st[static_cast<size_t>(d)] = st[static_cast<size_t>(d) + 1] * shape.dim(d + 1);
  return st;
}

inline StatusOr<IndexMap> MakeMap(const std::vector<int64_t>& dims, const std::vector<int64_t>& strides, int64_t base) {
  if (dims.size() > static_cast<size_t>(kMaxRank)) {
    return UnimplementedError("tensors of rank ", dims.size(), " on the GPU (at most ", kMaxRank, ")");
  }
  IndexMap m;
  m.rank = static_cast<int>(dims.size());
  for (size_t d = 0; d < dims.size(); ++d) {
    m.dims[d] = dims[d];
    m.strides[d] = strides[d];
  }
  m.base = base;
  return m;
}

// Registration into this build's registry.
inline void Register(KernelRegistry* r, const std::string& type, KernelFn fn) {
  r->Register(type, DeviceKind::kGPU, std::move(fn));
}

// C[m,n] = op(A) op(B) on row-major device buffers: A is [m,k] ([k,m] when
// ta), B is [k,n] ([n,k] when tb).  cuBLAS for float and double on CUDA
// devices (blas.cu); float, double, int32, int64.
template <typename T>
Status GemmRowMajor(Backend* dev, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a, const T* b, T* c);

// The kernel-family registration functions (one per .cu file).
void RegisterElementwiseKernels(KernelRegistry* r);
void RegisterReduceKernels(KernelRegistry* r);
void RegisterMatMulKernels(KernelRegistry* r);
void RegisterConvKernels(KernelRegistry* r);
void RegisterArrayKernels(KernelRegistry* r);
void RegisterRandomKernels(KernelRegistry* r);
void RegisterTrainKernels(KernelRegistry* r);

}  // namespace psflow::PSFLOW_GPU_NS
