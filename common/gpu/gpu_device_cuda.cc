// GpuDevice over the CUDA runtime (compiled by the host compiler; kernels live in .cu files).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "common/core/strcat.h"
#include "common/gpu/gpu_device.h"
#include "common/gpu/gpu_status.h"

namespace psflow {
namespace {

class CudaDevice;

// Device memory handed back to the device's pool when the last tensor goes.
class DeviceBuffer final : public TensorBuffer {
 public:
  DeviceBuffer(CudaDevice* dev, void* p, size_t size, size_t rounded) : dev_(dev), p_(p), size_(size), rounded_(rounded) {}
  ~DeviceBuffer() override;
  void* data() const override { return p_; }
  size_t size() const override { return size_; }
  Device device() const override;

 private:
  CudaDevice* const dev_;
  void* const p_;
  const size_t size_, rounded_;
};

class CudaDevice final : public GpuDevice {
 public:
  explicit CudaDevice(int index) : index_(index) {}
  Status Init() {
    RETURN_IF_ERROR(CUDA_CALL(cudaSetDevice(index_), index_));
    return CUDA_CALL(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), index_);
  }
  Device device() const override { return Device{Device::Type::kGPU, index_}; }

  StatusOr<Tensor> Allocate(DType dtype, const TensorShape& shape) override {
    if (dtype == DType::kString) return InvalidArgumentError("string tensors cannot live on gpu:", index_);
    const size_t bytes = static_cast<size_t>(shape.num_elements()) * DTypeSize(dtype);
    // Size classes: powers of two up to 1 MiB, then multiples of 1 MiB.
    size_t rounded = 256;
    while (rounded < bytes && rounded < (size_t{1} << 20)) rounded <<= 1;
    if (bytes > rounded) rounded = (bytes + (size_t{1} << 20) - 1) & ~((size_t{1} << 20) - 1);
    void* p = nullptr;
    {
      std::lock_guard<std::mutex> l(mu_);
      auto it = free_.find(rounded);
      if (it != free_.end()) {
        p = it->second;
        free_.erase(it);
      }
    }
    if (p == nullptr) {
      RETURN_IF_ERROR(CUDA_CALL(cudaSetDevice(index_), index_));
      Status s = CUDA_CALL(cudaMalloc(&p, rounded), index_);
      if (!s.ok()) {
        ReleaseFree();  // give the cached blocks back and try once more
        s = CUDA_CALL(cudaMalloc(&p, rounded), index_);
      }
      RETURN_IF_ERROR(s.WithContext("allocating ", rounded, " bytes (", shape.DebugString(), " ", DTypeName(dtype), ")"));
      std::lock_guard<std::mutex> l(mu_);
      held_ += rounded;
    }
    return Tensor(dtype, shape, std::make_shared<DeviceBuffer>(this, p, bytes, rounded));
  }

  StatusOr<Tensor> CopyToDevice(const Tensor& host) override {
    if (!host.device().is_host()) return InvalidArgumentError("CopyToDevice needs a host tensor, got one on ", host.device().ToString());
    ASSIGN_OR_RETURN(Tensor d, Allocate(host.dtype(), host.shape()));
    RETURN_IF_ERROR(Staged(d.raw_data(), host.raw_data(), host.TotalBytes(), cudaMemcpyHostToDevice));
    return d;
  }

  StatusOr<Tensor> CopyToHost(const Tensor& dev) override {
    if (dev.device() != device()) return InvalidArgumentError("CopyToHost of a tensor on ", dev.device().ToString(), " from gpu:", index_);
    Tensor h(dev.dtype(), dev.shape());
    RETURN_IF_ERROR(Staged(h.raw_data(), dev.raw_data(), dev.TotalBytes(), cudaMemcpyDeviceToHost));
    return h;
  }

  Status Synchronize() override { return CUDA_CALL(cudaStreamSynchronize(stream_), index_); }
  size_t pool_bytes() const override {
    std::lock_guard<std::mutex> l(mu_);
    return held_;
  }

  void Give(void* p, size_t rounded) {
    std::lock_guard<std::mutex> l(mu_);
    free_.emplace(rounded, p);
  }

 private:
  // Copies through a pinned staging buffer (pageable memory would make the
  // driver stage it anyway, synchronously and in small pieces).
  Status Staged(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
    std::lock_guard<std::mutex> l(copy_mu_);
    RETURN_IF_ERROR(CUDA_CALL(cudaSetDevice(index_), index_));
    constexpr size_t kChunk = size_t{8} << 20;
    if (pinned_ == nullptr) RETURN_IF_ERROR(CUDA_CALL(cudaMallocHost(&pinned_, kChunk), index_));
    for (size_t off = 0; off < bytes; off += kChunk) {
      const size_t n = std::min(kChunk, bytes - off);
      if (kind == cudaMemcpyHostToDevice) {
        std::memcpy(pinned_, static_cast<const char*>(src) + off, n);
        RETURN_IF_ERROR(CUDA_CALL(cudaMemcpyAsync(static_cast<char*>(dst) + off, pinned_, n, kind, stream_), index_));
      } else {
        RETURN_IF_ERROR(CUDA_CALL(cudaMemcpyAsync(pinned_, static_cast<const char*>(src) + off, n, kind, stream_), index_));
      }
      RETURN_IF_ERROR(Synchronize());
      if (kind == cudaMemcpyDeviceToHost) std::memcpy(static_cast<char*>(dst) + off, pinned_, n);
    }
    return OkStatus();
  }

  void ReleaseFree() {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& [size, p] : free_) {
      cudaFree(p);
      held_ -= size;
    }
    free_.clear();
  }

  const int index_;
  cudaStream_t stream_ = nullptr;
  mutable std::mutex mu_;
  std::multimap<size_t, void*> free_;  // GUARDED_BY(mu_)
  size_t held_ = 0;                    // GUARDED_BY(mu_)
  std::mutex copy_mu_;
  void* pinned_ = nullptr;             // GUARDED_BY(copy_mu_)
};

DeviceBuffer::~DeviceBuffer() { dev_->Give(p_, rounded_); }
Device DeviceBuffer::device() const { return dev_->device(); }

}  // namespace

int GpuDeviceCount() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

std::string GpuDescription() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) return StrCat("no CUDA device (cudaGetDeviceCount: ", cudaGetErrorString(e), ")");
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) {
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, i) == cudaSuccess) {
      names.push_back(StrCat("gpu:", i, " ", p.name, " (sm_", p.major, p.minor, ", ", p.totalGlobalMem >> 20, " MiB)"));
    }
  }
  return names.empty() ? "no CUDA device" : StrJoin(names, "; ");
}

StatusOr<GpuDevice*> GpuDevice::Get(int index) {
  static std::mutex mu;
  static std::map<int, std::unique_ptr<CudaDevice>> devices;
  std::lock_guard<std::mutex> l(mu);
  auto it = devices.find(index);
  if (it != devices.end()) return it->second.get();
  const int n = GpuDeviceCount();
  if (index < 0 || index >= n) {
    return FailedPreconditionError("gpu:", index, " asked for, but this machine has ", n, " CUDA devices (",
                                   GpuDescription(), "); set device: cpu or another gpu index");
  }
  auto dev = std::make_unique<CudaDevice>(index);
  RETURN_IF_ERROR(dev->Init());
  return (devices[index] = std::move(dev)).get();
}

}  // namespace psflow
