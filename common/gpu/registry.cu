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

const KernelRegistry& BackendKernels() {
  static KernelRegistry* const r = [] {
    auto* reg = new KernelRegistry();
    RegisterKernels(reg);
    return reg;
  }();
  return *r;
}

}  // namespace psflow::PSFLOW_GPU_NS
