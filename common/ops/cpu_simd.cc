#include "common/ops/cpu_simd.h"

#include <cstdlib>
#include <cstring>

namespace psflow::simd {

namespace avx512 {
extern const Kernels kKernels;
}
namespace avx2 {
extern const Kernels kKernels;
}
namespace baseline {
extern const Kernels kKernels;
}

namespace {

// What the CPU and the OS (saved vector registers) support; libgcc's
// __builtin_cpu_supports checks both.
bool HasAvx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma");
}
bool HasAvx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

}  // namespace

std::vector<const Kernels*> Supported() {
  std::vector<const Kernels*> out;
  if (HasAvx512()) out.push_back(&avx512::kKernels);
  if (HasAvx2()) out.push_back(&avx2::kKernels);
  out.push_back(&baseline::kKernels);
  return out;
}

const Kernels& Get() {
  static const Kernels* const chosen = [] {
    // PSFLOW_CPU_ISA caps the choice: the widest supported table no wider than it.
    const char* cap = std::getenv("PSFLOW_CPU_ISA");
    bool allowed = cap == nullptr || *cap == '\0';
    for (const Kernels* k : Supported()) {
      if (!allowed && std::strcmp(cap, k->isa) == 0) allowed = true;
      if (allowed) return k;
    }
    return &baseline::kKernels;
  }();
  return *chosen;
}

}  // namespace psflow::simd
