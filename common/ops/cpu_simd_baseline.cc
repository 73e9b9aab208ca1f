// The baseline table of common/ops/cpu_simd.h (compile flags: common/ops/CMakeLists.txt).
#include "common/ops/cpu_simd_types.h"

#define PSFLOW_SIMD_NS baseline
#define PSFLOW_SIMD_ISA "baseline"
#include "common/ops/cpu_simd_impl.inc"
