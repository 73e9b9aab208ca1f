// The table of common/ops/cpu_simd.h, apart: the per-ISA translation units
// include this header only (<cstdint> and plain structs).
#pragma once

#include <cstdint>

namespace psflow::simd {

// NHWC pooling windows (TensorFlow's SAME/VALID geometry, resolved).
struct PoolShape {
  int64_t n, h, w, c;   // input
  int64_t kh, kw;       // window
  int64_t sh, sw;       // strides
  int64_t oh, ow;       // output
  int64_t pad_top, pad_left;
};

struct Kernels {
  const char* isa;
  // y = max(x, 0); out = y > 0 ? g : 0.
  void (*relu)(const float* x, float* y, int64_t n);
  void (*relu_grad)(const float* g, const float* y, float* out, int64_t n);
  // y[r, :] = x[r, :] + b; out[:] = sum over r of x[r, :] (overwritten).
  void (*bias_add)(const float* x, const float* b, float* y, int64_t rows, int64_t cols);
  void (*sum_rows)(const float* x, float* out, int64_t rows, int64_t cols);
  // In place on rows of a matrix with row stride ld: y[r, :cols] += b, then
  // max(., 0) when relu (a fused MatMul's epilogue).
  void (*bias_relu)(float* y, const float* b, int64_t rows, int64_t cols, int64_t ld, bool relu);
  // The dense applies, TensorFlow's formulas (apply.h), on n elements
  // (and on each row of a sparse apply).
  void (*adam)(float* w, float* m, float* v, const float* g, int64_t n, float lr, float beta1, float beta2,
               float epsilon);
  void (*adagrad)(float* w, float* accum, const float* g, int64_t n, float lr);
  void (*sgd)(float* w, const float* g, int64_t n, float lr);
  void (*momentum)(float* w, float* accum, const float* g, int64_t n, float lr, float momentum, bool nesterov);
  void (*rmsprop)(float* w, float* ms, float* mom, const float* g, int64_t n, float lr, float rho, float momentum,
                  float epsilon);
  // TensorFlow's ApplyFtrl (multiply_linear_by_lr false); lr_power -0.5,
  // the usual one, as square roots (as TensorFlow's kernel does), others
  // through powf.
  void (*ftrl)(float* w, float* accum, float* linear, const float* g, int64_t n, float lr, float l1, float l2,
               float lr_power);
  // Max pooling of s.n images; the gradient goes to the first largest
  // input of each window (TensorFlow's MaxPoolGrad), dx overwritten.
  void (*max_pool)(const PoolShape& s, const float* x, float* y);
  void (*max_pool_grad)(const PoolShape& s, const float* x, const float* dy, float* dx);
  // Dropout's mask from Philox4x32-10 (the GPU kernels' generator,
  // common/gpu/kernel_util.h): element i draws counter offset + i under key;
  // out[i] = scale when the draw's 53 bits (a uniform in [0, 1) times 2^53)
  // are below keep_below, else 0.
  void (*dropout_mask)(uint64_t key, uint64_t offset, int64_t n, uint64_t keep_below, float scale, float* out);
};

}  // namespace psflow::simd
