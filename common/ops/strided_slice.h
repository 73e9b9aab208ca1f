// tf.strided_slice's spec resolved against a tensor's dimensions: shared by
// the StridedSlice op's shape function and its CPU and GPU kernels.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/core/status.h"

namespace psflow::op_util {

// tf.strided_slice's spec (x[1:, ::2, 3, tf.newaxis, ...]) resolved against
// an input's dimensions: per input dimension the first index, the step and
// the count taken (a shrunk dimension takes one and leaves the output), and
// the output's dimensions, new axes included.  An unknown input dimension
// (-1) gives an unknown count.
struct StridedSliceSpec {
  std::vector<int64_t> begin, end, strides;
  int64_t begin_mask = 0, end_mask = 0, ellipsis_mask = 0, new_axis_mask = 0, shrink_axis_mask = 0;
};
struct StridedDim {
  int64_t start = 0, stride = 1, count = 0;
};
struct StridedPlan {
  std::vector<StridedDim> dims;  // one per input dimension
  std::vector<int64_t> out;
};

// The spec from a node's attributes (InferenceContext or OpKernelContext).
template <typename Ctx>
StatusOr<StridedSliceSpec> ReadStridedSpec(const Ctx& c) {
  StridedSliceSpec s;
  ASSIGN_OR_RETURN(s.begin, c.template GetAttr<std::vector<int64_t>>("begin"));
  ASSIGN_OR_RETURN(s.end, c.template GetAttr<std::vector<int64_t>>("end"));
  ASSIGN_OR_RETURN(s.strides, c.template GetAttr<std::vector<int64_t>>("strides"));
  ASSIGN_OR_RETURN(s.begin_mask, c.template GetAttr<int64_t>("begin_mask"));
  ASSIGN_OR_RETURN(s.end_mask, c.template GetAttr<int64_t>("end_mask"));
  ASSIGN_OR_RETURN(s.ellipsis_mask, c.template GetAttr<int64_t>("ellipsis_mask"));
  ASSIGN_OR_RETURN(s.new_axis_mask, c.template GetAttr<int64_t>("new_axis_mask"));
  ASSIGN_OR_RETURN(s.shrink_axis_mask, c.template GetAttr<int64_t>("shrink_axis_mask"));
  return s;
}

// x[1:, ::2, 3, tf.newaxis, ...] against dimensions `in` (-1: unknown).
StatusOr<StridedPlan> PlanStridedSlice(const StridedSliceSpec& s, const std::vector<int64_t>& in);

}  // namespace psflow::op_util
