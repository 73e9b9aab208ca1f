// GPU kernels of the random ops (RandomUniform, RandomStandardNormal,
// TruncatedNormal, DropoutMask) on Philox4x32-10.  Element i of a run draws
// from counter (offset + i); the node's offset advances by the elements it
// drew, so each run gives new values and a graph run again from a fresh
// session gives the same ones (for nonzero seeds), as on the CPU.  The key
// and counters come from PhiloxCounters (common/ops/philox_counters.h), as
// the CPU's DropoutMask draws them: a node's dropout mask is the same on
// either.  The initializers' streams differ from the CPU's (mt19937): the
// same seed gives other numbers from the same distribution.
#include <random>

#include "common/gpu/gpu_kernel.h"
#include "common/ops/philox_counters.h"

namespace psflow::PSFLOW_GPU_NS {
namespace {

enum Dist : int { kUniform, kNormal, kTruncated };

// A standard normal from the four words of one draw (Box-Muller).
__device__ __forceinline__ double NormalFrom(const Philox& r) {
  const double u1 = Uniform01(r.v[0], r.v[1]), u2 = Uniform01(r.v[2], r.v[3]);
  const double radius = Sqrt(-2.0 * Log(1.0 - u1));  // 1 - u1 in (0, 1]
  return radius * cos(6.283185307179586 * u2);
}

template <typename T, int kDist>
__global__ void RandomKernel(T* out, int64_t n, uint64_t key, uint64_t offset) {
  PSFLOW_GRID_LOOP(i, n) {
    const uint64_t counter = offset + static_cast<uint64_t>(i);
    double x;
    if (kDist == kUniform) {
      const Philox r = PhiloxDraw(key, counter, 0);
      x = Uniform01(r.v[0], r.v[1]);
    } else {
      // Truncated: values more than two standard deviations out are drawn
      // again from the next sub-stream (the high counter word).
      uint64_t attempt = 0;
      do {
        x = NormalFrom(PhiloxDraw(key, counter, attempt++));
      } while (kDist == kTruncated && (x < -2.0 || x > 2.0));
    }
    out[i] = static_cast<T>(x);
  }
}

template <typename T>
__global__ void DropoutMaskKernel(T* out, int64_t n, uint64_t key, uint64_t offset, double keep, T scale) {
  PSFLOW_GRID_LOOP(i, n) {
    const Philox r = PhiloxDraw(key, offset + static_cast<uint64_t>(i), 0);
    out[i] = Uniform01(r.v[0], r.v[1]) < keep ? scale : T(0);
  }
}

template <int kDist>
KernelFn RandomFn() {
  return [](OpKernelContext& c) -> Status {
    ASSIGN_OR_RETURN(auto shape, c.GetAttr<std::vector<int64_t>>("shape"));
    ASSIGN_OR_RETURN(TensorShape s, TensorShape::FromDims(shape));
    ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, 0, s));
    const int64_t n = out->num_elements();
    ASSIGN_OR_RETURN(auto kc, PhiloxCounters(c, n));
    Status st;
    PSFLOW_FLOAT_DISPATCH(out->dtype(), st = LaunchN(Dev(c), "RandomKernel", n, RandomKernel<T, kDist>, Ptr<T>(*out), n,
                                                     kc.first, kc.second));
    return st;
  };
}

}  // namespace

void RegisterRandomKernels(KernelRegistry* r) {
  Register(r, "RandomUniform", RandomFn<kUniform>());
  Register(r, "RandomStandardNormal", RandomFn<kNormal>());
  Register(r, "TruncatedNormal", RandomFn<kTruncated>());
  Register(r, "DropoutMask", [](OpKernelContext& c) -> Status {
    ASSIGN_OR_RETURN(float rate, c.GetAttr<float>("rate"));
    ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, 0, c.input(0).shape()));
    const int64_t n = out->num_elements();
    ASSIGN_OR_RETURN(auto kc, PhiloxCounters(c, n));
    const double keep = 1.0 - rate;
    Status st;
    PSFLOW_FLOAT_DISPATCH(out->dtype(), st = LaunchN(Dev(c), "DropoutMaskKernel", n, DropoutMaskKernel<T>, Ptr<T>(*out), n,
                                                     kc.first, kc.second, keep, static_cast<T>(1.0 / keep)));
    return st;
  });
}

}  // namespace psflow::PSFLOW_GPU_NS
