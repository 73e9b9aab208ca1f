// Float loops of the CPU kernels compiled once per instruction set
// (cpu_simd_impl.inc built three times: AVX-512, AVX2 + FMA, and the x86-64
// baseline), one of which is chosen when first used from what the CPU the
// process runs on supports.  One binary uses the widest vectors of each
// machine and still runs on any x86-64.
//
//   const simd::Kernels& k = simd::Get();
//   k.relu(x, y, n);                        // k.isa: "avx512", "avx2" or "baseline"
//
// PSFLOW_CPU_ISA=avx2 or =baseline in the environment caps the choice (to
// compare, or to work around a CPU); tests run every table the CPU can.
// The per-ISA translation units include no C++ library headers, so no
// inline function compiled for a wider ISA can leak into the others.
#pragma once

#include <vector>

#include "common/ops/cpu_simd_types.h"

namespace psflow::simd {

// The widest table this CPU supports (within PSFLOW_CPU_ISA), chosen once.
const Kernels& Get();
// Every table this CPU can run, widest first (tests, benchmarks).
std::vector<const Kernels*> Supported();

}  // namespace psflow::simd
