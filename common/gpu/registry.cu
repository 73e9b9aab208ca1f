// RegisterKernels: every GPU kernel family of this build.
#include "common/gpu/gpu_kernel.h"

namespace psflow::PSFLOW_GPU_NS {

void RegisterKernels(KernelRegistry* r) {
  RegisterElementwiseKernels(r);
  RegisterArrayKernels(r);
  RegisterReduceKernels(r);
  RegisterMatMulKernels(r);
  RegisterConvKernels(r);
  RegisterRandomKernels(r);
  RegisterTrainKernels(r);
}

}  // namespace psflow::PSFLOW_GPU_NS
