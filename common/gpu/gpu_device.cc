// What every GpuDevice shares: the block pool, device buffers, tensor copies.
#include "common/gpu/gpu_device.h"

#include <map>
#include <mutex>

#include "common/core/strcat.h"

namespace psflow {

std::string KernelErrorMessage(const KernelError& e) {
  switch (e.code) {
    case KernelError::kNone:
      return "no error";
    case KernelError::kIndexOutOfRange:
      return StrCat("indices[", e.a, "] = ", e.b, " is not in [0, ", e.c, ")");
    case KernelError::kLabelOutOfRange:
      return StrCat("Received a label value of ", e.b, " (row ", e.a, ") which is outside the valid range of [0, ", e.c,
                    ").");
  }
  return StrCat("kernel error code ", e.code, " (", e.a, ", ", e.b, ", ", e.c, ")");
}

// Freed blocks by size class.  Size classes: powers of two from 256 bytes
// to 1 MiB, then multiples of 1 MiB, so that a step's tensors of the same
// shapes reuse the same blocks every step.
class GpuDevice::Pool {
 public:
  static size_t Rounded(size_t bytes) {
    size_t r = 256;
    while (r < bytes && r < (size_t{1} << 20)) r <<= 1;
    if (bytes > r) r = (bytes + (size_t{1} << 20) - 1) & ~((size_t{1} << 20) - 1);
    return r;
  }
  void* Take(size_t rounded) {
    std::lock_guard<std::mutex> l(mu);
    auto it = free.find(rounded);
    if (it == free.end()) return nullptr;
    void* p = it->second;
    free.erase(it);
    return p;
  }

  std::mutex mu;
  std::multimap<size_t, void*> free;  // GUARDED_BY(mu)
  size_t held = 0;                    // GUARDED_BY(mu)
};

// Device memory handed back to the device's pool when the last tensor goes.
class DeviceBuffer final : public TensorBuffer {
 public:
  DeviceBuffer(GpuDevice* dev, void* p, size_t size, size_t rounded) : dev_(dev), p_(p), size_(size), rounded_(rounded) {}
  ~DeviceBuffer() override {
    std::lock_guard<std::mutex> l(dev_->pool_->mu);
    dev_->pool_->free.emplace(rounded_, p_);
  }
  void* data() const override { return p_; }
  size_t size() const override { return size_; }
  Device device() const override { return dev_->device(); }
  Status CopyToHost(size_t offset, void* dst, size_t bytes) const override {
    if (offset + bytes > size_) return InternalError("copy of bytes [", offset, ", ", offset + bytes, ") of a ", size_, "-byte buffer");
    return dev_->MemcpyDeviceToHost(dst, static_cast<const char*>(p_) + offset, bytes);
  }

 private:
  GpuDevice* const dev_;
  void* const p_;
  const size_t size_, rounded_;
};

GpuDevice::GpuDevice() : pool_(std::make_unique<Pool>()) {}
GpuDevice::~GpuDevice() = default;

StatusOr<Tensor> GpuDevice::Allocate(DType dtype, const TensorShape& shape) {
  if (dtype == DType::kString) return InvalidArgumentError("string tensors cannot live on ", device().ToString());
  const size_t bytes = static_cast<size_t>(shape.num_elements()) * DTypeSize(dtype);
  const size_t rounded = Pool::Rounded(bytes);
  void* p = pool_->Take(rounded);
  if (p == nullptr) {
    Status s = RawAllocate(rounded, &p);
    if (!s.ok()) {
      ReleaseCached();  // give the cached blocks back and try once more
      s = RawAllocate(rounded, &p);
    }
    RETURN_IF_ERROR(s.WithContext("allocating ", rounded, " bytes (", shape.DebugString(), " ", DTypeName(dtype), ")"));
    std::lock_guard<std::mutex> l(pool_->mu);
    pool_->held += rounded;
  }
  return Tensor(dtype, shape, std::make_shared<DeviceBuffer>(this, p, bytes, rounded));
}

void GpuDevice::ReleaseCached() {
  std::lock_guard<std::mutex> l(pool_->mu);
  for (auto& [size, p] : pool_->free) {
    RawFree(p);
    pool_->held -= size;
  }
  pool_->free.clear();
}

size_t GpuDevice::pool_bytes() const {
  std::lock_guard<std::mutex> l(pool_->mu);
  return pool_->held;
}

StatusOr<Tensor> GpuDevice::CopyToDevice(const Tensor& host) {
  if (!host.device().is_host()) {
    return InvalidArgumentError("CopyToDevice needs a host tensor, got one on ", host.device().ToString());
  }
  ASSIGN_OR_RETURN(Tensor d, Allocate(host.dtype(), host.shape()));
  if (host.TotalBytes() > 0) RETURN_IF_ERROR(MemcpyHostToDevice(d.device_data(), host.device_data(), host.TotalBytes()));
  return d;
}

StatusOr<std::vector<Tensor>> GpuDevice::CopyAllToDevice(const std::vector<Tensor>& host) {
  std::vector<Tensor> out;
  for (const Tensor& h : host) {
    ASSIGN_OR_RETURN(Tensor d, CopyToDevice(h));
    out.push_back(std::move(d));
  }
  return out;
}

StatusOr<std::vector<Tensor>> GpuDevice::CopyAllToHost(const std::vector<Tensor>& dev) {
  std::vector<Tensor> out;
  for (const Tensor& d : dev) {
    ASSIGN_OR_RETURN(Tensor h, CopyToHost(d));
    out.push_back(std::move(h));
  }
  return out;
}

StatusOr<Tensor> GpuDevice::CopyToHost(const Tensor& dev) {
  if (dev.device() != device()) {
    return InvalidArgumentError("CopyToHost of a tensor on ", dev.device().ToString(), " from ", device().ToString());
  }
  return dev.ToHost();
}

StatusOr<Tensor> GpuDevice::Duplicate(const Tensor& dev) {
  if (dev.device() != device()) {
    return InvalidArgumentError("Duplicate of a tensor on ", dev.device().ToString(), " by ", device().ToString());
  }
  ASSIGN_OR_RETURN(Tensor d, Allocate(dev.dtype(), dev.shape()));
  if (dev.TotalBytes() > 0) RETURN_IF_ERROR(MemcpyDeviceToDevice(d.device_data(), dev.device_data(), dev.TotalBytes()));
  return d;
}

}  // namespace psflow
