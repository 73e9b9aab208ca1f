// GpuDevice::Get in a build without CUDA.
#include "common/gpu/gpu_device.h"

namespace psflow {

int GpuDeviceCount() { return 0; }
std::string GpuDescription() { return "built without CUDA"; }

StatusOr<GpuDevice*> GpuDevice::Get(int index) {
  return UnimplementedError("gpu:", index, " asked for, but this psflow was built without CUDA; install the CUDA "
                            "toolkit and rebuild, or use the CPU: run.device: cpu (or cpu for the task in "
                            "run.task_devices) in a job file, --device cpu for psflow-train-local");
}

}  // namespace psflow
