// GPU devices for workers: a pooled allocator, one stream per device, copies
// between host and device (pinned staging on CUDA), the kernels that run on
// the device, and the errors those kernels find in their inputs.
//
//   ASSIGN_OR_RETURN(GpuDevice* gpu, GpuDevice::Get(0));   // a CUDA device
//   ASSIGN_OR_RETURN(Tensor d, gpu->CopyToDevice(host_tensor));
//   Session sess(&graph, {.gpu = gpu});                      // runs its kernels on gpu:0
//   ASSIGN_OR_RETURN(Tensor h, d.ToHost());
//
// Two implementations share this interface: CUDA devices (GpuDevice::Get,
// built when the CUDA toolkit is found) and emulated devices
// (gpu_emulated.h), which run the same kernel sources on the CPU so that
// tests exercise them without a GPU.  Without CUDA, Get() says how to get
// it.  All work of a device goes through its one stream, in order, so
// memory freed by the host is reused safely by later work.  Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/core/tensor.h"

namespace psflow {

class KernelRegistry;

// Number of CUDA devices this process can use (0 when none, or no CUDA).
int GpuDeviceCount();
// "built without CUDA", "no CUDA device (cudaGetDeviceCount: ...)", or the devices' names.
std::string GpuDescription();

// An error a kernel found in its inputs (an index out of range, a label
// outside [0, classes)), recorded in device memory without stopping the
// stream; the session reads it after the step.  code 0: none.
struct KernelError {
  enum Code : int32_t { kNone = 0, kIndexOutOfRange = 1, kLabelOutOfRange = 2 };
  int32_t code = kNone;
  int32_t tag = 0;          // which node (the session's step index)
  int64_t a = 0, b = 0, c = 0;  // position, value, bound
};
// "indices[a] = b is not in [0, c)" and the like.
std::string KernelErrorMessage(const KernelError& e);

class GpuDevice {
 public:
  // The CUDA device `index`, created on first use and kept for the process.
  static StatusOr<GpuDevice*> Get(int index);
  virtual ~GpuDevice();

  virtual Device device() const = 0;
  // "gpu:0 (NVIDIA H200, sm_90, 140 GiB)" or "gpu:0 (emulated on the CPU)".
  virtual std::string Description() const = 0;
  // The kernels that run on this device, by op type.
  virtual const KernelRegistry& kernels() const = 0;
  // Makes this the calling thread's current device (CUDA calls and kernel
  // launches go to the current device).
  virtual Status MakeCurrent() = 0;
  // Waits for all work queued on the device's stream.
  virtual Status Synchronize() = 0;
  // The first KernelError recorded since the last call, and clears it.
  // Waits for the stream.
  virtual StatusOr<KernelError> TakeKernelError() = 0;

  // Raw copies.  HostToDevice and DeviceToHost return when the host memory
  // may be reused / holds the data; DeviceToDevice and Memset are queued.
  virtual Status MemcpyHostToDevice(void* dst, const void* src, size_t bytes) = 0;
  virtual Status MemcpyDeviceToHost(void* dst, const void* src, size_t bytes) = 0;
  virtual Status MemcpyDeviceToDevice(void* dst, const void* src, size_t bytes) = 0;
  virtual Status Memset(void* dst, int value, size_t bytes) = 0;
  // t *= factor, queued (float or double tensors on this device).
  virtual Status Scale(const Tensor& t, double factor) = 0;

  // Which backend made this device (CUDA, emulated): for the kernels' checked downcast.
  virtual const void* backend_id() const = 0;

  // Uninitialised device memory for a tensor, from the pool.
  StatusOr<Tensor> Allocate(DType dtype, const TensorShape& shape);
  StatusOr<Tensor> CopyToDevice(const Tensor& host);
  // Several host tensors at once (a step's pulled variables): CUDA devices
  // stage them all in one pinned buffer and wait once, not once per tensor.
  virtual StatusOr<std::vector<Tensor>> CopyAllToDevice(const std::vector<Tensor>& host);
  // Several tensors of this device to the host at once (a step's fetches),
  // likewise with one wait.
  virtual StatusOr<std::vector<Tensor>> CopyAllToHost(const std::vector<Tensor>& device_tensors);
  // Same as device_tensor.ToHost(), checking that the tensor is on this device.
  StatusOr<Tensor> CopyToHost(const Tensor& device_tensor);
  // A queued device-to-device copy into new memory.
  StatusOr<Tensor> Duplicate(const Tensor& device_tensor);
  // Bytes held by the pool (in use and free).
  size_t pool_bytes() const;

 protected:
  GpuDevice();
  virtual Status RawAllocate(size_t bytes, void** p) = 0;
  virtual void RawFree(void* p) = 0;
  // Gives every cached free block back (after an allocation failed).
  void ReleaseCached();

 private:
  class Pool;
  friend class DeviceBuffer;
  std::unique_ptr<Pool> pool_;
};

}  // namespace psflow
