// The avx2 table of common/ops/cpu_simd.h (compile flags: common/ops/CMakeLists.txt).
#include "common/ops/cpu_simd_types.h"

#define PSFLOW_SIMD_NS avx2
#define PSFLOW_SIMD_ISA "avx2"
#include "common/ops/cpu_simd_impl.inc"
