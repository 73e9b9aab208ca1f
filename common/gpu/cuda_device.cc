// CUDA GpuDevices: cudaMalloc'd pool, one non-blocking stream, a cuBLAS
// handle on that stream, pinned staging for host copies.  Plain C++ over
// the CUDA runtime; the kernels are in the .cu files.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "common/core/strcat.h"
#include "common/gpu/gpu_backend.h"
#include "common/gpu/gpu_status.h"
#include "common/ops/kernel.h"

namespace psflow::cuda {
namespace {

// Host copies go through one pinned buffer of this size per device, chunk
// by chunk (pageable memory would make the driver stage it anyway, in
// small synchronous pieces).
constexpr size_t kStagingBytes = size_t{8} << 20;
// Batched copies (a step's variables or fetches) share one pinned buffer of
// at most this size per device: enough for most models' dense variables in
// one wait, without pinning host memory the size of an embedding.
constexpr size_t kBatchBytes = size_t{64} << 20;

class CudaDevice final : public Backend {
 public:
  CudaDevice(int index, int max_blocks, std::string name) : Backend(max_blocks), index_(index), name_(std::move(name)) {}
  Status Init() {
    RETURN_IF_ERROR(MakeCurrent());
    RETURN_IF_ERROR(CUDA_CALL(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), index_));
    RETURN_IF_ERROR(CUBLAS_CALL(cublasCreate(&blas_), index_));
    RETURN_IF_ERROR(CUBLAS_CALL(cublasSetStream(blas_, stream_), index_));
    RETURN_IF_ERROR(CUDA_CALL(cudaMallocHost(&staging_, kStagingBytes), index_));
    void* e = nullptr;
    RETURN_IF_ERROR(CUDA_CALL(cudaMalloc(&e, sizeof(KernelError)), index_));
    error_ = static_cast<KernelError*>(e);
    // On the device's stream (non-blocking: not ordered after the legacy one).
    RETURN_IF_ERROR(CUDA_CALL(cudaMemsetAsync(error_, 0, sizeof(KernelError), stream_), index_));
    return Synchronize();
  }

  Device device() const override { return Device{Device::Type::kGPU, index_}; }
  std::string Description() const override { return name_; }
  const KernelRegistry& kernels() const override { return BackendKernels(); }
  Status MakeCurrent() override { return CUDA_CALL(cudaSetDevice(index_), index_); }
  Status Synchronize() override { return CUDA_CALL(cudaStreamSynchronize(stream_), index_); }

  StatusOr<KernelError> TakeKernelError() override {
    std::lock_guard<std::mutex> l(copy_mu_);
    RETURN_IF_ERROR(MakeCurrent());
    KernelError* host = static_cast<KernelError*>(staging_);
    RETURN_IF_ERROR(CUDA_CALL(cudaMemcpyAsync(host, error_, sizeof(KernelError), cudaMemcpyDeviceToHost, stream_), index_));
    RETURN_IF_ERROR(Synchronize());
    const KernelError e = *host;
    if (e.code != KernelError::kNone) {
      RETURN_IF_ERROR(CUDA_CALL(cudaMemsetAsync(error_, 0, sizeof(KernelError), stream_), index_));
    }
    return e;
  }

  Status MemcpyHostToDevice(void* dst, const void* src, size_t bytes) override {
    std::lock_guard<std::mutex> l(copy_mu_);
    RETURN_IF_ERROR(MakeCurrent());
    for (size_t off = 0; off < bytes; off += kStagingBytes) {
      const size_t n = std::min(kStagingBytes, bytes - off);
      std::memcpy(staging_, static_cast<const char*>(src) + off, n);
      RETURN_IF_ERROR(CUDA_CALL(cudaMemcpyAsync(static_cast<char*>(dst) + off, staging_, n, cudaMemcpyHostToDevice, stream_), index_));
      RETURN_IF_ERROR(Synchronize());  // before the staging buffer is refilled
    }
    return OkStatus();
  }
  StatusOr<std::vector<Tensor>> CopyAllToDevice(const std::vector<Tensor>& host) override {
    std::vector<Tensor> out;
    for (const Tensor& h : host) {
      if (!h.device().is_host()) return InvalidArgumentError("CopyAllToDevice needs host tensors, got one on ", h.device().ToString());
      ASSIGN_OR_RETURN(Tensor d, Allocate(h.dtype(), h.shape()));
      out.push_back(std::move(d));
    }
    RETURN_IF_ERROR(Batched(host, out, cudaMemcpyHostToDevice));
    return out;
  }
  StatusOr<std::vector<Tensor>> CopyAllToHost(const std::vector<Tensor>& dev) override {
    std::vector<Tensor> out;
    for (const Tensor& d : dev) {
      if (d.device() != device()) {
        return InvalidArgumentError("CopyAllToHost of a tensor on ", d.device().ToString(), " from ", device().ToString());
      }
      out.emplace_back(d.dtype(), d.shape());
    }
    RETURN_IF_ERROR(Batched(dev, out, cudaMemcpyDeviceToHost));
    return out;
  }

  Status MemcpyDeviceToHost(void* dst, const void* src, size_t bytes) override {
    std::lock_guard<std::mutex> l(copy_mu_);
    RETURN_IF_ERROR(MakeCurrent());
    for (size_t off = 0; off < bytes; off += kStagingBytes) {
      const size_t n = std::min(kStagingBytes, bytes - off);
      RETURN_IF_ERROR(CUDA_CALL(cudaMemcpyAsync(staging_, static_cast<const char*>(src) + off, n, cudaMemcpyDeviceToHost, stream_), index_));
      RETURN_IF_ERROR(Synchronize());
      std::memcpy(static_cast<char*>(dst) + off, staging_, n);
    }
    return OkStatus();
  }
  Status MemcpyDeviceToDevice(void* dst, const void* src, size_t bytes) override {
    RETURN_IF_ERROR(MakeCurrent());
    return CUDA_CALL(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_), index_);
  }
  Status Memset(void* dst, int value, size_t bytes) override {
    RETURN_IF_ERROR(MakeCurrent());
    return CUDA_CALL(cudaMemsetAsync(dst, value, bytes, stream_), index_);
  }

  cudaStream_t stream() const override { return stream_; }
  void* blas() const override { return blas_; }
  KernelError* kernel_error() const override { return error_; }
  Status Scale(const Tensor& t, double factor) override { return ScaleInPlace(this, t, factor); }

 protected:
  Status RawAllocate(size_t bytes, void** p) override {
    RETURN_IF_ERROR(MakeCurrent());
    return CUDA_CALL(cudaMalloc(p, bytes), index_);
  }
  void RawFree(void* p) override {
    if (MakeCurrent().ok()) cudaFree(p);
  }

 private:
  // Copies src[i] to dst[i] for every i: tensors up to kBatchBytes go
  // through one pinned buffer of that size, as many at a time as fit, all
  // their copies queued and one wait per buffer-full; larger ones through
  // the chunked staging path.
  Status Batched(const std::vector<Tensor>& src, const std::vector<Tensor>& dst, cudaMemcpyKind kind) {
    auto padded = [](size_t n) { return (n + 255) / 256 * 256; };
    const bool to_device = kind == cudaMemcpyHostToDevice;
    std::vector<size_t> small;
    size_t small_total = 0;
    for (size_t i = 0; i < src.size(); ++i) {
      const size_t n = src[i].TotalBytes();
      if (n == 0) continue;
      if (padded(n) > kBatchBytes) {
        RETURN_IF_ERROR(to_device ? MemcpyHostToDevice(dst[i].device_data(), src[i].device_data(), n)
                                  : MemcpyDeviceToHost(dst[i].device_data(), src[i].device_data(), n));
        continue;
      }
      small.push_back(i);
      small_total += padded(n);
    }
    if (small.empty()) return OkStatus();
    std::lock_guard<std::mutex> l(copy_mu_);
    RETURN_IF_ERROR(MakeCurrent());
    const size_t want = std::min(small_total, kBatchBytes);
    if (batch_bytes_ < want) {
      if (batch_ != nullptr) RETURN_IF_ERROR(CUDA_CALL(cudaFreeHost(batch_), index_));
      batch_ = nullptr;
      batch_bytes_ = 0;
      RETURN_IF_ERROR(CUDA_CALL(cudaMallocHost(&batch_, want), index_));
      batch_bytes_ = want;
    }
    char* const buf = static_cast<char*>(batch_);
    size_t begin = 0;  // the first tensor of the current buffer-full
    while (begin < small.size()) {
      size_t end = begin, off = 0;
      while (end < small.size() && off + padded(src[small[end]].TotalBytes()) <= batch_bytes_) {
        off += padded(src[small[end]].TotalBytes());
        ++end;
      }
      Status queued;
      off = 0;
      for (size_t k = begin; k < end && queued.ok(); ++k) {
        const size_t i = small[k], n = src[i].TotalBytes();
        if (to_device) std::memcpy(buf + off, src[i].device_data(), n);
        queued = CUDA_CALL(cudaMemcpyAsync(to_device ? dst[i].device_data() : buf + off, to_device ? buf + off : src[i].device_data(),
                                           n, kind, stream_),
                           index_);
        off += padded(n);
      }
      // Always waited for, also after an error: copies in flight must not
      // meet the next use of the buffer.
      const Status waited = Synchronize();
      RETURN_IF_ERROR(queued);
      RETURN_IF_ERROR(waited);
      if (!to_device) {
        off = 0;
        for (size_t k = begin; k < end; ++k) {
          const size_t i = small[k], n = src[i].TotalBytes();
          std::memcpy(dst[i].device_data(), buf + off, n);
          off += padded(n);
        }
      }
      begin = end;
    }
    return OkStatus();
  }

  const int index_;
  const std::string name_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  KernelError* error_ = nullptr;
  std::mutex copy_mu_;
  void* staging_ = nullptr;  // GUARDED_BY(copy_mu_)
  void* batch_ = nullptr;    // GUARDED_BY(copy_mu_): CopyAllToDevice's pinned buffer
  size_t batch_bytes_ = 0;   // GUARDED_BY(copy_mu_)
};

}  // namespace

const void* Backend::Id() {
  static const char id = 0;
  return &id;
}

}  // namespace psflow::cuda

namespace psflow {

int GpuDeviceCount() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

std::string GpuDescription() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e == cudaErrorInsufficientDriver) {
    return StrCat("no usable NVIDIA driver on this machine (cudaGetDeviceCount: ", cudaGetErrorString(e), ")");
  }
  if (e != cudaSuccess) return StrCat("no CUDA device (cudaGetDeviceCount: ", cudaGetErrorString(e), ")");
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) {
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, i) == cudaSuccess) {
      names.push_back(StrCat("gpu:", i, " ", p.name, " (sm_", p.major, p.minor, ", ", p.totalGlobalMem >> 30, " GiB)"));
    }
  }
  return names.empty() ? "no CUDA device" : StrJoin(names, "; ");
}

StatusOr<GpuDevice*> GpuDevice::Get(int index) {
  static std::mutex mu;
  static std::map<int, cuda::CudaDevice*> devices;  // kept for the process
  std::lock_guard<std::mutex> l(mu);
  auto it = devices.find(index);
  if (it != devices.end()) return static_cast<GpuDevice*>(it->second);
  const int n = GpuDeviceCount();
  if (index < 0 || index >= n) {
    return FailedPreconditionError("gpu:", index, " asked for, but this machine has ", n, " CUDA devices (",
                                   GpuDescription(), "); use another gpu index, or the CPU: run.device: cpu (or cpu for the task in ",
                                   "run.task_devices) in a job file, --device cpu for psflow-train-local");
  }
  cudaDeviceProp p;
  RETURN_IF_ERROR(CUDA_CALL(cudaGetDeviceProperties(&p, index), index));
  // Grid-stride kernels launch enough blocks of kThreads to fill every SM.
  const int per_sm = std::max(1, p.maxThreadsPerMultiProcessor / cuda::kThreads);
  auto dev = std::make_unique<cuda::CudaDevice>(
      index, p.multiProcessorCount * per_sm,
      StrCat("gpu:", index, " (", p.name, ", sm_", p.major, p.minor, ", ", p.totalGlobalMem >> 30, " GiB)"));
  RETURN_IF_ERROR(dev->Init());
  return static_cast<GpuDevice*>(devices[index] = dev.release());
}

}  // namespace psflow
