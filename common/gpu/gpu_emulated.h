// Emulated GPUs: GpuDevices whose memory is host memory and whose kernels
// are psflow's CUDA kernel sources compiled for the CPU emulator
// (emulator.h).  They let tests run the GPU code paths (sessions on a
// device, multi-GPU replicas, all-reduce, kernel error reports) on machines
// without a GPU; they are not for training.
//
//   ASSIGN_OR_RETURN(GpuDevice* gpu, EmulatedGpuDevice(0));
//   Session sess(&graph, {.gpu = gpu});
//
// Test-only (the psflow::gpu_emu library).  Thread-safe.
#pragma once

#include "common/gpu/gpu_device.h"

namespace psflow {

// Emulated device `index` (0 to 7), created on first use and kept for the process.
StatusOr<GpuDevice*> EmulatedGpuDevice(int index);

}  // namespace psflow
