// The CPU's heavy ops through oneDNN (Debian's libdnnl): GEMM and NHWC
// convolutions with their two gradients, JIT-compiled at run time for the
// instruction set of the CPU the binary runs on (AVX-512, AVX2, SSE4.1), so
// one build is fast everywhere.  Private to common/ops and its benchmarks;
// the oneDNN headers stay inside onednn.cc.
//
//   if (onednn::Enabled()) RETURN_IF_ERROR(onednn::Gemm(a, b, c, m, k, n, ta, tb, threads));
//   else GemmRowMajor<float>(eigen, a, b, c, m, k, n, ta, tb);
//
// Enabled() is false when psflow was built without oneDNN (the Eigen
// kernels run instead) and when the environment says PSFLOW_CPU_BACKEND=eigen;
// tests run both paths in one binary through SetEnabled.  Primitives are
// created once per shape and reused (a cache keyed by the geometry).
//
// Threads: oneDNN itself runs single-threaded (Debian builds it on OpenMP,
// whose idle threads spin: with a PS and two trainers on one machine that
// burns the cores the other processes need).  Each call splits its work
// instead, GEMMs by rows or columns of the result, convolutions by images,
// into up to `threads` parts that `parallel` runs on the process's one
// intra-op pool.  Float only.  Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/core/status.h"

namespace psflow::op_util {
struct ConvGeometry;
}

namespace psflow::onednn {

bool Built();    // compiled with oneDNN
bool Enabled();  // Built() and not switched off
// Tests: run the Eigen kernels (false) or oneDNN's (true, when Built()).
void SetEnabled(bool on);
// "oneDNN 2.6.3 (avx512_core)", or why the Eigen kernels run.
std::string Describe();

// Runs fn(0), ..., fn(parts - 1), side by side where it can, and returns
// when all have.
using Parallel = std::function<void(int parts, const std::function<void(int part)>& fn)>;
struct Threads {
  int count = 1;      // parts at most
  Parallel parallel;  // empty: one part
};

// What a fused MatMul or Conv2D adds to its output (the session's
// MatMul/Conv2D + BiasAdd (+ Relu) fusion): bias (one per output column or
// channel), then ReLU.
struct Epilogue {
  const float* bias = nullptr;
  bool relu = false;
};

// c[m, n] = op(a) op(b), row-major; op transposes when ta / tb.  The
// epilogue runs on each part right after its GEMM, while it is in cache.
Status Gemm(const float* a, const float* b, float* c, int64_t m, int64_t k, int64_t n, bool ta, bool tb,
            const Threads& threads, Epilogue epilogue = {});

// NHWC input x, filter [kh, kw, c, o] (TensorFlow's layouts) and NHWC output
// y of geometry g; the gradients' outputs are overwritten.
// The forward pass adds the epilogue inside oneDNN's kernel (bias and a
// ReLU post-op).
Status ConvForward(const op_util::ConvGeometry& g, const float* x, const float* f, float* y, const Threads& threads,
                   Epilogue epilogue = {});
Status ConvBackwardInput(const op_util::ConvGeometry& g, const float* f, const float* dy, float* dx,
                         const Threads& threads);
Status ConvBackwardFilter(const op_util::ConvGeometry& g, const float* x, const float* dy, float* df,
                          const Threads& threads);

}  // namespace psflow::onednn
