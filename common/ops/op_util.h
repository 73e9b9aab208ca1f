// Helpers shared by the op definitions (private to common/ops).
#pragma once

#include <vector>

#include "common/graph/op_registry.h"
#include "common/ops/kernel.h"
#include "common/ops/onednn.h"

namespace Eigen {
struct ThreadPoolDevice;
}

namespace psflow {
// C[m,n] = op(A) op(B) on row-major buffers with Eigen's threaded contraction
// (matmul_op.cc, the one translation unit that instantiates it).
template <typename T>
void GemmRowMajor(const Eigen::ThreadPoolDevice& d, const T* a, const T* b, T* c, int64_t m, int64_t k,
                  int64_t n, bool ta, bool tb);
}  // namespace psflow

namespace psflow::op_util {

// NumPy broadcasting of two shapes (graph time: unknown dims allowed).
StatusOr<PartialShape> BroadcastShapes(const PartialShape& a, const PartialShape& b);
StatusOr<TensorShape> BroadcastShapes(const TensorShape& a, const TensorShape& b);

// Normalises axes (negative counts from the end); empty means all.
StatusOr<std::vector<int>> NormalizeAxes(const std::vector<int64_t>& axes, int rank);

// The kernel's intra-op pool as the oneDNN calls take it.
onednn::Threads CpuThreads(const OpKernelContext& c);
// Elementwise kernels split at this many elements per part and up.
constexpr int64_t kMinElementwisePart = int64_t{1} << 16;
// fn(begin, end) over [0, n), in parts of at least min_part on the
// kernel's intra-op pool (one part inline when n is small).
void ParallelRange(const OpKernelContext& c, int64_t n, int64_t min_part,
                   const std::function<void(int64_t begin, int64_t end)>& fn);

// Registers an op definition and its CPU kernel together.
void DefineOp(OpDef def, KernelFn cpu_kernel);

// Shape functions.
Status UnchangedShape(InferenceContext& c);
// One output of the "dtype" and "shape" attributes (Placeholder, VariableV2).
Status DtypeShapeFromAttrs(InferenceContext& c);
Status BroadcastBinaryShape(InferenceContext& c);

bool IsFloat(DType t);
// Element i of an int32 or int64 tensor (indices, ids, segment ids).
int64_t IndexAt(const Tensor& t, int64_t i);

// ArgMax of input 0 over attribute "axis": x seen as [outer, n, inner],
// and the output shape (math_ops.cc).
struct AxisSplit {
  int64_t outer = 1, n = 1, inner = 1;
  TensorShape out;
};
StatusOr<AxisSplit> ArgMaxSplit(const OpKernelContext& c);

// Concat of every input along attribute "axis" (shapes checked): the
// output shape, the product of the dimensions before the axis, and each
// input's elements per outer index (shape_ops.cc).
struct ConcatLayout {
  TensorShape out;
  int64_t outer = 1;
  std::vector<int64_t> rows;
};
StatusOr<ConcatLayout> ConcatLayoutOf(const OpKernelContext& c);

// Geometry of Conv2D and pooling in NHWC with TensorFlow's SAME/VALID
// padding (conv_ops.cc), shared by the CPU and GPU kernels.
struct ConvGeometry {
  int64_t n, h, w, c;   // input
  int64_t kh, kw, o;    // window / filter (o: output channels)
  int64_t sh, sw;       // strides
  int64_t oh, ow;       // output
  int64_t pad_top, pad_left;
};
// Conv2D (x, f) and its gradients (x, f, g): the strides and padding
// attributes, the filter checked against the input, g against the output.
StatusOr<ConvGeometry> ConvGeometryOf(const OpKernelContext& c);
// MaxPool/AvgPool (x), MaxPoolGrad (x, y, g), AvgPoolGrad (x, g).
StatusOr<ConvGeometry> PoolGeometryOf(const OpKernelContext& c);

}  // namespace psflow::op_util

// Runs BODY with `T` bound to the C++ type of `dtype` for the numeric types
// kernels support; returns InvalidArgument for others.
#define PSFLOW_NUMERIC_DISPATCH(dtype, BODY)                                         \
  switch (dtype) {                                                                   \
    case ::psflow::DType::kFloat: { using T = float; BODY; } break;                  \
    case ::psflow::DType::kDouble: { using T = double; BODY; } break;                \
    case ::psflow::DType::kInt32: { using T = int32_t; BODY; } break;                \
    case ::psflow::DType::kInt64: { using T = int64_t; BODY; } break;                \
    default:                                                                         \
      return ::psflow::InvalidArgumentError("dtype ", ::psflow::DTypeName(dtype),    \
                                            " is not supported by this op");        \
  }
#define PSFLOW_FLOAT_DISPATCH(dtype, BODY)                                           \
  switch (dtype) {                                                                   \
    case ::psflow::DType::kFloat: { using T = float; BODY; } break;                  \
    case ::psflow::DType::kDouble: { using T = double; BODY; } break;                \
    default:                                                                         \
      return ::psflow::InvalidArgumentError("dtype ", ::psflow::DTypeName(dtype),    \
                                            " is not supported by this op (float or double)"); \
  }
