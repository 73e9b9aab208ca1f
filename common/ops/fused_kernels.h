// Kernels of the fusions a CPU Session makes when it plans a run
// (common/runtime/session.cc): MatMul or Conv2D, then BiasAdd, then
// optionally Relu, as one kernel, where TensorFlow's grappler fuses the same
// chain (_FusedMatMul, _FusedConv2D).  They are not ops: graphs, .meta files
// and frozen exports never name them.  Each runs with the MatMul or Conv2D
// node (its attributes, its output dtype) and the inputs (a, b, bias) or
// (x, filter, bias); float only, which the session checks.
#pragma once

#include "common/ops/kernel.h"

namespace psflow {

const KernelFn& FusedMatMulKernel(bool relu);
const KernelFn& FusedConv2DKernel(bool relu);

}  // namespace psflow
