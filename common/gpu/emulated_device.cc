// The emulated GpuDevice (gpu_emulated.h).  Compiled with PSFLOW_GPU_EMULATION.
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "common/core/logging.h"
#include "common/core/strcat.h"
#include "common/gpu/gpu_backend.h"
#include "common/gpu/gpu_emulated.h"
#include "common/ops/kernel.h"

namespace psflow::gpu_emu {
namespace {

// Every live emulated allocation, for the emulator's pointer check.
struct Allocations {
  std::mutex mu;
  std::map<uintptr_t, size_t> ranges;  // GUARDED_BY(mu): start -> bytes
};
Allocations& Live() {
  static Allocations* const a = new Allocations();
  return *a;
}
bool IsDeviceMemory(const void* p) {
  const uintptr_t u = reinterpret_cast<uintptr_t>(p);
  Allocations& a = Live();
  std::lock_guard<std::mutex> l(a.mu);
  auto it = a.ranges.upper_bound(u);
  if (it == a.ranges.begin()) return false;
  --it;
  return u < it->first + it->second;
}

// A few blocks per grid: grid-stride loops then run more than once, as they
// do on a GPU with large inputs, and the emulation stays quick.
constexpr int kEmulatedMaxBlocks = 3;

class EmulatedDevice final : public Backend {
 public:
  explicit EmulatedDevice(int index) : Backend(kEmulatedMaxBlocks), index_(index) {
    stream_.device = index;
    void* p = nullptr;
    CHECK_OK(RawAllocate(sizeof(KernelError), &p));
    error_ = static_cast<KernelError*>(p);
    *error_ = KernelError{};
  }
  Device device() const override { return Device{Device::Type::kGPU, index_}; }
  std::string Description() const override { return StrCat("gpu:", index_, " (emulated on the CPU)"); }
  const KernelRegistry& kernels() const override { return BackendKernels(); }
  // As on CUDA devices, every call that touches the device makes it the
  // thread's current one (the emulator checks launches against it).
  Status MakeCurrent() override {
    SetCurrentDevice(index_);
    return OkStatus();
  }
  Status Synchronize() override { return OkStatus(); }
  StatusOr<KernelError> TakeKernelError() override {
    SetCurrentDevice(index_);
    const KernelError e = *error_;
    *error_ = KernelError{};
    return e;
  }
  Status MemcpyHostToDevice(void* dst, const void* src, size_t bytes) override { return Copy(dst, src, bytes, true, false); }
  Status MemcpyDeviceToHost(void* dst, const void* src, size_t bytes) override { return Copy(dst, src, bytes, false, true); }
  Status MemcpyDeviceToDevice(void* dst, const void* src, size_t bytes) override { return Copy(dst, src, bytes, true, true); }
  Status Memset(void* dst, int value, size_t bytes) override {
    SetCurrentDevice(index_);
    if (bytes > 0 && !IsDeviceMemory(dst)) return InternalError("Memset of host memory on ", device().ToString());
    std::memset(dst, value, bytes);
    return OkStatus();
  }

  cudaStream_t stream() const override { return const_cast<EmulatedStream*>(&stream_); }
  void* blas() const override { return nullptr; }
  KernelError* kernel_error() const override { return error_; }
  Status Scale(const Tensor& t, double factor) override { return ScaleInPlace(this, t, factor); }

 protected:
  Status RawAllocate(size_t bytes, void** p) override {
    SetCurrentDevice(index_);
    *p = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
    if (*p == nullptr) return ResourceExhaustedError("emulated ", device().ToString(), " out of host memory");
    Allocations& a = Live();
    std::lock_guard<std::mutex> l(a.mu);
    a.ranges[reinterpret_cast<uintptr_t>(*p)] = bytes;
    return OkStatus();
  }
  void RawFree(void* p) override {
    {
      Allocations& a = Live();
      std::lock_guard<std::mutex> l(a.mu);
      a.ranges.erase(reinterpret_cast<uintptr_t>(p));
    }
    std::free(p);
  }

 private:
  // Checks each side is where the copy says it is: a copy that mixes them
  // up would fault on a GPU.
  Status Copy(void* dst, const void* src, size_t bytes, bool dst_device, bool src_device) {
    SetCurrentDevice(index_);
    if (bytes == 0) return OkStatus();
    if (IsDeviceMemory(dst) != dst_device || IsDeviceMemory(src) != src_device) {
      return InternalError("emulated ", device().ToString(), ": a ", src_device ? "device" : "host", "-to-",
                           dst_device ? "device" : "host", " copy between the wrong kinds of memory");
    }
    std::memcpy(dst, src, bytes);
    return OkStatus();
  }

  const int index_;
  EmulatedStream stream_;
  KernelError* error_ = nullptr;
};

}  // namespace

const void* Backend::Id() {
  static const char id = 0;
  return &id;
}

}  // namespace psflow::gpu_emu

namespace psflow {

StatusOr<GpuDevice*> EmulatedGpuDevice(int index) {
  if (index < 0 || index >= 8) return InvalidArgumentError("emulated gpu:", index, " (0 to 7 exist)");
  static std::mutex mu;
  static gpu_emu::EmulatedDevice* devices[8] = {};
  std::lock_guard<std::mutex> l(mu);
  gpu_emu::SetDevicePointerCheck(gpu_emu::IsDeviceMemory);
  if (devices[index] == nullptr) devices[index] = new gpu_emu::EmulatedDevice(index);
  return static_cast<GpuDevice*>(devices[index]);
}

}  // namespace psflow
