// GPU kernels of Conv2D (im2col + GEMM), its input and filter gradients
// (GEMM + col2im written as a gather, so no atomics and a fixed summation
// order), and max / average pooling with their gradients.  NHWC, SAME or
// VALID padding, geometry shared with the CPU kernels (op_util::ConvGeometry).
#include "common/gpu/gpu_kernel.h"

namespace psflow::PSFLOW_GPU_NS {
namespace {

using op_util::ConvGeometry;

// patches[(b, y, x), (i, j, ch)] = in[b, y*sh - pt + i, x*sw - pl + j, ch] (0 outside).
template <typename T>
__global__ void Im2ColKernel(const T* in, T* patches, int64_t n, ConvGeometry g) {
  const int64_t row_len = g.kh * g.kw * g.c;
  PSFLOW_GRID_LOOP(e, n) {
    const int64_t row = e / row_len, col = e % row_len;
    const int64_t x = row % g.ow, y = (row / g.ow) % g.oh, b = row / (g.ow * g.oh);
    const int64_t ch = col % g.c, j = (col / g.c) % g.kw, i = col / (g.c * g.kw);
    const int64_t iy = y * g.sh - g.pad_top + i, ix = x * g.sw - g.pad_left + j;
    patches[e] = iy < 0 || iy >= g.h || ix < 0 || ix >= g.w ? T(0) : in[((b * g.h + iy) * g.w + ix) * g.c + ch];
  }
}

// in[b, iy, ix, ch] = sum of the patch entries that read it.
template <typename T>
__global__ void Col2ImKernel(const T* patches, T* in, int64_t n, ConvGeometry g) {
  const int64_t row_len = g.kh * g.kw * g.c;
  PSFLOW_GRID_LOOP(e, n) {
    const int64_t ch = e % g.c, ix = (e / g.c) % g.w, iy = (e / (g.c * g.w)) % g.h, b = e / (g.c * g.w * g.h);
    T acc = 0;
    for (int64_t i = 0; i < g.kh; ++i) {
      const int64_t ty = iy + g.pad_top - i;  // = y * sh
      if (ty < 0 || ty % g.sh != 0 || ty / g.sh >= g.oh) continue;
      for (int64_t j = 0; j < g.kw; ++j) {
        const int64_t tx = ix + g.pad_left - j;
        if (tx < 0 || tx % g.sw != 0 || tx / g.sw >= g.ow) continue;
        const int64_t row = (b * g.oh + ty / g.sh) * g.ow + tx / g.sw;
        acc += patches[row * row_len + (i * g.kw + j) * g.c + ch];
      }
    }
    in[e] = acc;
  }
}

// The window of output (b, y, x, ch): its max (first one on ties, as the
// CPU kernel), the max's input offset, the sum and count of its elements.
template <typename T>
struct Window {
  T best, sum;
  int64_t best_i, count;
};
template <typename T>
__device__ Window<T> ScanWindow(const T* x, const ConvGeometry& g, int64_t b, int64_t y, int64_t xq, int64_t ch) {
  Window<T> w{Lowest<T>(), T(0), -1, 0};
  for (int64_t i = 0; i < g.kh; ++i) {
    const int64_t iy = y * g.sh - g.pad_top + i;
    if (iy < 0 || iy >= g.h) continue;
    for (int64_t j = 0; j < g.kw; ++j) {
      const int64_t ix = xq * g.sw - g.pad_left + j;
      if (ix < 0 || ix >= g.w) continue;
      const int64_t in_i = ((b * g.h + iy) * g.w + ix) * g.c + ch;
      if (x[in_i] > w.best || w.best_i < 0) {
        w.best = x[in_i];
        w.best_i = in_i;
      }
      w.sum += x[in_i];
      ++w.count;
    }
  }
  return w;
}

template <typename T>
__global__ void PoolKernel(const T* x, T* out, int64_t n, ConvGeometry g, bool max) {
  PSFLOW_GRID_LOOP(o, n) {
    const int64_t ch = o % g.c, xq = (o / g.c) % g.ow, y = (o / (g.c * g.ow)) % g.oh, b = o / (g.c * g.ow * g.oh);
    const Window<T> w = ScanWindow(x, g, b, y, xq, ch);
    out[o] = max ? w.best : w.sum / static_cast<T>(w.count > 1 ? w.count : 1);
  }
}

// Each output's gradient goes to its window's max (windows may overlap).
template <typename T>
__global__ void MaxPoolGradKernel(const T* x, const T* grad, T* dx, int64_t n, ConvGeometry g) {
  PSFLOW_GRID_LOOP(o, n) {
    const int64_t ch = o % g.c, xq = (o / g.c) % g.ow, y = (o / (g.c * g.ow)) % g.oh, b = o / (g.c * g.ow * g.oh);
    const Window<T> w = ScanWindow(x, g, b, y, xq, ch);
    if (w.best_i >= 0) AtomicAdd(&dx[w.best_i], grad[o]);
  }
}

// dx[b, iy, ix, ch] = sum over the windows holding it of grad / window count.
template <typename T>
__global__ void AvgPoolGradKernel(const T* grad, T* dx, int64_t n, ConvGeometry g) {
  PSFLOW_GRID_LOOP(e, n) {
    const int64_t ch = e % g.c, ix = (e / g.c) % g.w, iy = (e / (g.c * g.w)) % g.h, b = e / (g.c * g.w * g.h);
    // Windows y with y*sh - pt <= iy < y*sh - pt + kh.
    const int64_t ny = iy + g.pad_top - g.kh + 1, nx = ix + g.pad_left - g.kw + 1;
    const int64_t y_lo = ny <= 0 ? 0 : (ny + g.sh - 1) / g.sh, x_lo = nx <= 0 ? 0 : (nx + g.sw - 1) / g.sw;
    const int64_t y_hi = (iy + g.pad_top) / g.sh, x_hi = (ix + g.pad_left) / g.sw;
    T acc = 0;
    for (int64_t y = y_lo; y <= y_hi && y < g.oh; ++y) {
      const int64_t top = y * g.sh - g.pad_top;
      const int64_t rows = (top + g.kh < g.h ? top + g.kh : g.h) - (top > 0 ? top : 0);
      for (int64_t xq = x_lo; xq <= x_hi && xq < g.ow; ++xq) {
        const int64_t left = xq * g.sw - g.pad_left;
        const int64_t cols = (left + g.kw < g.w ? left + g.kw : g.w) - (left > 0 ? left : 0);
        acc += grad[((b * g.oh + y) * g.ow + xq) * g.c + ch] / static_cast<T>(rows * cols);
      }
    }
    dx[e] = acc;
  }
}

enum class ConvMode { kForward, kInput, kFilter };

template <typename T>
Status ConvTyped(OpKernelContext& c, ConvMode mode) {
  Backend* dev = Dev(c);
  ASSIGN_OR_RETURN(ConvGeometry g, op_util::ConvGeometryOf(c));
  const Tensor& x = c.input(0);
  const Tensor& f = c.input(1);
  const int64_t rows = g.n * g.oh * g.ow, k = g.kh * g.kw * g.c;
  ASSIGN_OR_RETURN(Tensor patches, AllocateTemp(c, x.dtype(), TensorShape({rows, k})));
  T* p = Ptr<T>(patches);
  if (mode != ConvMode::kInput) {
    RETURN_IF_ERROR(LaunchN(dev, "Im2ColKernel", rows * k, Im2ColKernel<T>, Ptr<const T>(x), p, rows * k, g));
  }
  if (mode == ConvMode::kForward) {
    ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, 0, TensorShape({g.n, g.oh, g.ow, g.o})));
    return GemmRowMajor<T>(dev, false, false, rows, g.o, k, p, Ptr<const T>(f), Ptr<T>(*out));
  }
  const Tensor& grad = c.input(2);
  if (mode == ConvMode::kFilter) {
    ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, 0, f.shape()));
    return GemmRowMajor<T>(dev, true, false, k, g.o, rows, p, Ptr<const T>(grad), Ptr<T>(*out));
  }
  RETURN_IF_ERROR(GemmRowMajor<T>(dev, false, true, rows, k, g.o, Ptr<const T>(grad), Ptr<const T>(f), p));
  ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, 0, x.shape()));
  const int64_t n = out->num_elements();
  return LaunchN(dev, "Col2ImKernel", n, Col2ImKernel<T>, p, Ptr<T>(*out), n, g);
}

template <typename T>
Status PoolTyped(OpKernelContext& c, bool max, bool grad) {
  Backend* dev = Dev(c);
  ASSIGN_OR_RETURN(ConvGeometry g, op_util::PoolGeometryOf(c));
  const Tensor& x = c.input(0);
  if (!grad) {
    ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, 0, TensorShape({g.n, g.oh, g.ow, g.c})));
    const int64_t n = out->num_elements();
    return LaunchN(dev, "PoolKernel", n, PoolKernel<T>, Ptr<const T>(x), Ptr<T>(*out), n, g, max);
  }
  const Tensor& gt = c.input(c.num_inputs() - 1);
  ASSIGN_OR_RETURN(Tensor * dx, AllocateOutput(c, 0, x.shape()));
  if (max) {
    RETURN_IF_ERROR(dev->Memset(dx->device_data(), 0, dx->TotalBytes()));
    const int64_t n = gt.num_elements();
    return LaunchN(dev, "MaxPoolGradKernel", n, MaxPoolGradKernel<T>, Ptr<const T>(x), Ptr<const T>(gt), Ptr<T>(*dx), n, g);
  }
  const int64_t n = dx->num_elements();
  return LaunchN(dev, "AvgPoolGradKernel", n, AvgPoolGradKernel<T>, Ptr<const T>(gt), Ptr<T>(*dx), n, g);
}

KernelFn ConvFn(ConvMode mode) {
  return [mode](OpKernelContext& c) -> Status {
    Status st;
    PSFLOW_FLOAT_DISPATCH(c.input(0).dtype(), st = ConvTyped<T>(c, mode));
    return st;
  };
}
KernelFn PoolFn(bool max, bool grad) {
  return [max, grad](OpKernelContext& c) -> Status {
    Status st;
    PSFLOW_FLOAT_DISPATCH(c.input(0).dtype(), st = PoolTyped<T>(c, max, grad));
    return st;
  };
}

}  // namespace

void RegisterConvKernels(KernelRegistry* r) {
  Register(r, "Conv2D", ConvFn(ConvMode::kForward));
  Register(r, "Conv2DBackpropInput", ConvFn(ConvMode::kInput));
  Register(r, "Conv2DBackpropFilter", ConvFn(ConvMode::kFilter));
  Register(r, "MaxPool", PoolFn(true, false));
  Register(r, "MaxPoolGrad", PoolFn(true, true));
  Register(r, "AvgPool", PoolFn(false, false));
  Register(r, "AvgPoolGrad", PoolFn(false, true));
}

}  // namespace psflow::PSFLOW_GPU_NS
