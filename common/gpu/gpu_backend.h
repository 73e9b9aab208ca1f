// The device as the kernel sources see it, in each build's namespace
// (psflow::cuda for CUDA, psflow::gpu_emu for the emulator): its stream,
// its BLAS handle, how many blocks a grid-stride kernel should launch, and
// where kernels record input errors.  Private to common/gpu.
//
//   ASSIGN_OR_RETURN(Backend* dev, BackendOf(ctx));
//   RETURN_IF_ERROR(LaunchStatus(Launch(K, dim3(dev->Blocks(n)), dim3(kThreads), 0, dev->stream(), ...), "K"));
#pragma once

#include "common/gpu/cuda_compat.h"
#include "common/gpu/gpu_device.h"

namespace psflow {
class OpKernelContext;
class KernelRegistry;
}  // namespace psflow

namespace psflow::PSFLOW_GPU_NS {

// Threads per block of the elementwise and reduction kernels: a multiple
// of the warp size that keeps enough blocks resident per SM.
inline constexpr int kThreads = 256;

class Backend : public GpuDevice {
 public:
  virtual cudaStream_t stream() const = 0;
  // cublasHandle_t on CUDA devices; null when emulated.
  virtual void* blas() const = 0;
  // Device memory holding one KernelError.
  virtual KernelError* kernel_error() const = 0;
  // Grid size for a grid-stride loop over n items: enough blocks to fill
  // the device, no more (each thread then handles several items).
  int Blocks(int64_t n, int threads = kThreads) const {
    const int64_t want = (n + threads - 1) / threads;
    return static_cast<int>(want < 1 ? 1 : (want > max_blocks_ ? max_blocks_ : want));
  }
  int max_blocks() const { return max_blocks_; }

  // Identifies this build's backends (for the checked downcast below).
  static const void* Id();
  const void* backend_id() const override { return Id(); }

 protected:
  explicit Backend(int max_blocks) : max_blocks_(max_blocks) {}

 private:
  const int max_blocks_;
};

// The kernels of this build, registered once into *registry.
void RegisterKernels(KernelRegistry* registry);
// This build's registry, filled on first use (registry.cu).
const KernelRegistry& BackendKernels();

// t *= factor on dev's stream (float or double; elementwise.cu).
Status ScaleInPlace(Backend* dev, const Tensor& t, double factor);

}  // namespace psflow::PSFLOW_GPU_NS
