// GPU devices for workers: a pooled allocator over cudaMalloc, a stream per
// device, and host<->device copies through pinned staging buffers (what
// pulls and pushes use).  CUDA, cuBLAS and NCCL errors become Status values
// that name the call and the device.
//
//   int n = GpuDeviceCount();                         // 0 without CUDA or without a GPU
//   ASSIGN_OR_RETURN(GpuDevice* gpu, GpuDevice::Get(0));
//   ASSIGN_OR_RETURN(Tensor d, gpu->CopyToDevice(host_tensor));
//   ASSIGN_OR_RETURN(Tensor h, gpu->CopyToHost(d));
//
// Built with or without CUDA: without it GpuDeviceCount() is 0 and Get()
// says that this psflow was built without CUDA.  Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "common/core/tensor.h"

namespace psflow {

// Number of CUDA devices this process can use (0 when none, or no CUDA).
int GpuDeviceCount();
// "built without CUDA", "no CUDA device (cudaGetDeviceCount: ...)", or the devices' names.
std::string GpuDescription();

class GpuDevice {
 public:
  // The device `index`, created on first use and kept for the process.
  static StatusOr<GpuDevice*> Get(int index);
  virtual ~GpuDevice() = default;

  virtual Device device() const = 0;
  // Uninitialised device memory for a tensor (from the pool).
  virtual StatusOr<Tensor> Allocate(DType dtype, const TensorShape& shape) = 0;
  virtual StatusOr<Tensor> CopyToDevice(const Tensor& host) = 0;
  virtual StatusOr<Tensor> CopyToHost(const Tensor& device_tensor) = 0;
  virtual Status Synchronize() = 0;
  // Bytes held by the pool (in use and free).
  virtual size_t pool_bytes() const = 0;
};

}  // namespace psflow
