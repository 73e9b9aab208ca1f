// Convolution and pooling in NHWC: Conv2D (oneDNN's convolutions for float
// when psflow has oneDNN, else im2col + GEMM), MaxPool, AvgPool, with
// SAME/VALID padding and strides, and their gradient ops.
#include <cstring>
#include <limits>

#include "common/ops/cpu_simd.h"
#include "common/ops/fused_kernels.h"
#include "common/ops/onednn.h"
#include "common/ops/op_util.h"
#include "common/ops/ops.h"

namespace psflow {
namespace op_util {
namespace {

StatusOr<int64_t> OutSize(int64_t in, int64_t k, int64_t stride, const std::string& padding, int64_t* pad_before) {
  if (stride <= 0 || k <= 0) return InvalidArgumentError("window and stride must be positive");
  if (padding == "VALID") {
    *pad_before = 0;
    if (in < k) return InvalidArgumentError("VALID window ", k, " is larger than the input size ", in);
    return (in - k) / stride + 1;
  }
  if (padding == "SAME") {
    const int64_t out = (in + stride - 1) / stride;
    const int64_t total = std::max<int64_t>((out - 1) * stride + k - in, 0);
    *pad_before = total / 2;
    return out;
  }
  return InvalidArgumentError("padding must be SAME or VALID, got '", padding, "'");
}

// strides / ksize attributes follow TensorFlow: [1, sh, sw, 1].
StatusOr<ConvGeometry> MakeGeometry(const TensorShape& in, int64_t kh, int64_t kw, int64_t o,
                                    const std::vector<int64_t>& strides, const std::string& padding) {
  if (in.rank() != 4) return InvalidArgumentError("input must be NHWC (rank 4), got ", in.DebugString());
  if (strides.size() != 4 || strides[0] != 1 || strides[3] != 1) {
    return InvalidArgumentError("strides must be [1, h, w, 1], got [", StrJoin(strides, ","), "]");
  }
  ConvGeometry g{in.dim(0), in.dim(1), in.dim(2), in.dim(3), kh, kw, o, strides[1], strides[2], 0, 0, 0, 0};
  ASSIGN_OR_RETURN(g.oh, OutSize(g.h, kh, g.sh, padding, &g.pad_top));
  ASSIGN_OR_RETURN(g.ow, OutSize(g.w, kw, g.sw, padding, &g.pad_left));
  return g;
}

Status CheckGradShape(const Tensor& grad, const ConvGeometry& g, int64_t channels) {
  if (!(grad.shape() == TensorShape({g.n, g.oh, g.ow, channels}))) {
    return InvalidArgumentError("gradient ", grad.shape().DebugString(), " does not match the output [", g.n, ",", g.oh,
                                ",", g.ow, ",", channels, "]");
  }
  return OkStatus();
}

}  // namespace

StatusOr<ConvGeometry> ConvGeometryOf(const OpKernelContext& c) {
  ASSIGN_OR_RETURN(auto strides, c.GetAttr<std::vector<int64_t>>("strides"));
  ASSIGN_OR_RETURN(std::string padding, c.GetAttr<std::string>("padding"));
  const Tensor& x = c.input(0);
  const Tensor& f = c.input(1);
  if (x.shape().rank() != 4 || f.shape().rank() != 4 || f.shape().dim(2) != x.shape().dim(3)) {
    return InvalidArgumentError("filter ", f.shape().DebugString(), " does not fit input ", x.shape().DebugString(),
                                " (input NHWC, filter [h, w, in_channels, out_channels])");
  }
  ASSIGN_OR_RETURN(ConvGeometry g, MakeGeometry(x.shape(), f.shape().dim(0), f.shape().dim(1), f.shape().dim(3), strides, padding));
  if (c.num_inputs() == 3) RETURN_IF_ERROR(CheckGradShape(c.input(2), g, g.o));
  return g;
}

StatusOr<ConvGeometry> PoolGeometryOf(const OpKernelContext& c) {
  ASSIGN_OR_RETURN(auto ksize, c.GetAttr<std::vector<int64_t>>("ksize"));
  ASSIGN_OR_RETURN(auto strides, c.GetAttr<std::vector<int64_t>>("strides"));
  ASSIGN_OR_RETURN(std::string padding, c.GetAttr<std::string>("padding"));
  if (ksize.size() != 4 || ksize[0] != 1 || ksize[3] != 1) {
    return InvalidArgumentError("ksize must be [1, h, w, 1], got [", StrJoin(ksize, ","), "]");
  }
  const Tensor& x = c.input(0);
  ASSIGN_OR_RETURN(ConvGeometry g, MakeGeometry(x.shape(), ksize[1], ksize[2], x.shape().rank() == 4 ? x.shape().dim(3) : 0, strides, padding));
  // MaxPoolGrad (x, y, g), AvgPoolGrad (x, g): the gradient is the last input.
  if (c.num_inputs() > 1) RETURN_IF_ERROR(CheckGradShape(c.input(c.num_inputs() - 1), g, g.c));
  return g;
}

}  // namespace op_util

namespace {

using op_util::DefineOp;
using op_util::OutSize;

using op_util::ConvGeometry;
using Geometry = ConvGeometry;

// patches[(b, y, x), (i, j, ch)] = input[b, y*sh - pt + i, x*sw - pl + j, ch] (0 outside).
template <typename T>
void Im2Col(const Geometry& g, const T* in, T* patches) {
  const int64_t row = g.kh * g.kw * g.c;
  for (int64_t b = 0; b < g.n; ++b)
    for (int64_t y = 0; y < g.oh; ++y)
      for (int64_t x = 0; x < g.ow; ++x) {
        T* p = patches + ((b * g.oh + y) * g.ow + x) * row;
        for (int64_t i = 0; i < g.kh; ++i) {
          const int64_t iy = y * g.sh - g.pad_top + i;
          for (int64_t j = 0; j < g.kw; ++j) {
            const int64_t ix = x * g.sw - g.pad_left + j;
            T* dst = p + (i * g.kw + j) * g.c;
            if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) {
              std::fill(dst, dst + g.c, T(0));
            } else {
              std::memcpy(dst, in + ((b * g.h + iy) * g.w + ix) * g.c, sizeof(T) * static_cast<size_t>(g.c));
            }
          }
        }
      }
}

template <typename T>
void Col2Im(const Geometry& g, const T* patches, T* in) {
  std::fill(in, in + g.n * g.h * g.w * g.c, T(0));
  const int64_t row = g.kh * g.kw * g.c;
  for (int64_t b = 0; b < g.n; ++b)
    for (int64_t y = 0; y < g.oh; ++y)
      for (int64_t x = 0; x < g.ow; ++x) {
        const T* p = patches + ((b * g.oh + y) * g.ow + x) * row;
        for (int64_t i = 0; i < g.kh; ++i) {
          const int64_t iy = y * g.sh - g.pad_top + i;
          if (iy < 0 || iy >= g.h) continue;
          for (int64_t j = 0; j < g.kw; ++j) {
            const int64_t ix = x * g.sw - g.pad_left + j;
            if (ix < 0 || ix >= g.w) continue;
            T* dst = in + ((b * g.h + iy) * g.w + ix) * g.c;
            const T* src = p + (i * g.kw + j) * g.c;
            for (int64_t ch = 0; ch < g.c; ++ch) dst[ch] += src[ch];
          }
        }
      }
}


// Conv2D kernel and its two gradients share geometry; `mode` picks which.
enum class ConvMode { kForward, kInput, kFilter };

template <typename T>
Status ConvKernel(OpKernelContext& c, ConvMode mode) {
  // Inputs: forward (x, f); input grad (x_like, f, g); filter grad (x, f_like, g).
  const Tensor& x = c.input(0);
  const Tensor& f = c.input(1);
  ASSIGN_OR_RETURN(Geometry g, op_util::ConvGeometryOf(c));
  if constexpr (std::is_same_v<T, float>) {
    if (onednn::Enabled()) {
      const onednn::Threads threads = op_util::CpuThreads(c);
      if (mode == ConvMode::kForward) {
        Tensor* out = c.AllocateOutput(0, TensorShape({g.n, g.oh, g.ow, g.o}));
        return onednn::ConvForward(g, x.flat<float>().data(), f.flat<float>().data(), out->flat<float>().data(), threads);
      }
      const float* dy = c.input(2).flat<float>().data();
      if (mode == ConvMode::kFilter) {
        Tensor* out = c.AllocateOutput(0, f.shape());
        return onednn::ConvBackwardFilter(g, x.flat<float>().data(), dy, out->flat<float>().data(), threads);
      }
      Tensor* out = c.AllocateOutput(0, x.shape());
      return onednn::ConvBackwardInput(g, f.flat<float>().data(), dy, out->flat<float>().data(), threads);
    }
  }
  const int64_t rows = g.n * g.oh * g.ow, k = g.kh * g.kw * g.c;
  std::vector<T> patches(static_cast<size_t>(rows * k));
  if (mode == ConvMode::kForward) {
    Im2Col(g, static_cast<const T*>(x.raw_data()), patches.data());
    Tensor* out = c.AllocateOutput(0, TensorShape({g.n, g.oh, g.ow, g.o}));
    GemmRowMajor<T>(c.eigen_cpu(), patches.data(), static_cast<const T*>(f.raw_data()),
                    static_cast<T*>(out->raw_data()), rows, k, g.o, false, false);
    return OkStatus();
  }
  const Tensor& grad = c.input(2);
  if (mode == ConvMode::kFilter) {
    Im2Col(g, static_cast<const T*>(x.raw_data()), patches.data());
    Tensor* out = c.AllocateOutput(0, f.shape());
    GemmRowMajor<T>(c.eigen_cpu(), patches.data(), static_cast<const T*>(grad.raw_data()),
                    static_cast<T*>(out->raw_data()), k, rows, g.o, true, false);
    return OkStatus();
  }
  GemmRowMajor<T>(c.eigen_cpu(), static_cast<const T*>(grad.raw_data()), static_cast<const T*>(f.raw_data()),
                  patches.data(), rows, g.o, k, false, true);
  Tensor* out = c.AllocateOutput(0, x.shape());
  Col2Im(g, patches.data(), static_cast<T*>(out->raw_data()));
  return OkStatus();
}

Status ConvShape(InferenceContext& c) {
  ASSIGN_OR_RETURN(auto strides, c.GetAttr<std::vector<int64_t>>("strides"));
  ASSIGN_OR_RETURN(std::string padding, c.GetAttr<std::string>("padding"));
  const PartialShape& x = c.input_shape(0);
  const PartialShape& f = c.input_shape(1);
  if (!op_util::IsFloat(c.input_dtype(0)) || c.input_dtype(0) != c.input_dtype(1)) {
    return InvalidArgumentError("Conv2D needs float input and filter of one dtype");
  }
  if ((!x.unknown_rank() && x.rank() != 4) || (!f.unknown_rank() && f.rank() != 4)) {
    return InvalidArgumentError("Conv2D needs input NHWC and filter [h,w,in,out]; got ", x.DebugString(), " and ",
                                f.DebugString());
  }
  if (x.unknown_rank() || f.unknown_rank()) {
    c.AddOutput(c.input_dtype(0), PartialShape::UnknownOfRank(4));
    return OkStatus();
  }
  if (x.dim(3) >= 0 && f.dim(2) >= 0 && x.dim(3) != f.dim(2)) {
    return InvalidArgumentError("input depth ", x.dim(3), " does not match filter in_channels ", f.dim(2));
  }
  if (strides.size() != 4) return InvalidArgumentError("strides must have 4 entries");
  int64_t pad;
  auto dim = [&](int64_t in, int64_t k, int64_t s) -> StatusOr<int64_t> {
    if (in < 0 || k < 0) return kUnknownDim;
    return OutSize(in, k, s, padding, &pad);
  };
  ASSIGN_OR_RETURN(int64_t oh, dim(x.dim(1), f.dim(0), strides[1]));
  ASSIGN_OR_RETURN(int64_t ow, dim(x.dim(2), f.dim(1), strides[2]));
  c.AddOutput(c.input_dtype(0), PartialShape({x.dim(0), oh, ow, f.dim(3)}));
  return OkStatus();
}

// Pooling.  MaxPoolGrad inputs: (x, y, g); AvgPoolGrad: (x, g).
template <typename T>
Status PoolKernel(OpKernelContext& c, bool max, bool grad) {
  const Tensor& x = c.input(0);
  ASSIGN_OR_RETURN(Geometry g, op_util::PoolGeometryOf(c));
  const T* xs = static_cast<const T*>(x.raw_data());
  const Tensor* gt = grad ? &c.input(max ? 2 : 1) : nullptr;
  Tensor* out = c.AllocateOutput(0, grad ? x.shape() : TensorShape({g.n, g.oh, g.ow, g.c}));
  T* o = static_cast<T*>(out->raw_data());
  if (grad) std::fill(o, o + out->num_elements(), T(0));
  for (int64_t b = 0; b < g.n; ++b)
    for (int64_t y = 0; y < g.oh; ++y)
      for (int64_t xq = 0; xq < g.ow; ++xq)
        for (int64_t ch = 0; ch < g.c; ++ch) {
          const int64_t out_i = ((b * g.oh + y) * g.ow + xq) * g.c + ch;
          T best = std::numeric_limits<T>::lowest(), sum = 0;
          int64_t best_i = -1, count = 0;
          for (int64_t i = 0; i < g.kh; ++i) {
            const int64_t iy = y * g.sh - g.pad_top + i;
            if (iy < 0 || iy >= g.h) continue;
            for (int64_t j = 0; j < g.kw; ++j) {
              const int64_t ix = xq * g.sw - g.pad_left + j;
              if (ix < 0 || ix >= g.w) continue;
              const int64_t in_i = ((b * g.h + iy) * g.w + ix) * g.c + ch;
              if (xs[in_i] > best || best_i < 0) {
                best = xs[in_i];
                best_i = in_i;
              }
              sum += xs[in_i];
              ++count;
            }
          }
          if (!grad) {
            o[out_i] = max ? best : sum / static_cast<T>(std::max<int64_t>(count, 1));
            continue;
          }
          const T gv = static_cast<const T*>(gt->raw_data())[out_i];
          if (max) {
            if (best_i >= 0) o[best_i] += gv;
            continue;
          }
          for (int64_t i = 0; i < g.kh; ++i) {
            const int64_t iy = y * g.sh - g.pad_top + i;
            if (iy < 0 || iy >= g.h) continue;
            for (int64_t j = 0; j < g.kw; ++j) {
              const int64_t ix = xq * g.sw - g.pad_left + j;
              if (ix < 0 || ix >= g.w) continue;
              o[((b * g.h + iy) * g.w + ix) * g.c + ch] += gv / static_cast<T>(count);
            }
          }
        }
  return OkStatus();
}

Status PoolShape(InferenceContext& c) {
  ASSIGN_OR_RETURN(auto ksize, c.GetAttr<std::vector<int64_t>>("ksize"));
  ASSIGN_OR_RETURN(auto strides, c.GetAttr<std::vector<int64_t>>("strides"));
  ASSIGN_OR_RETURN(std::string padding, c.GetAttr<std::string>("padding"));
  const PartialShape& x = c.input_shape(0);
  if (!x.unknown_rank() && x.rank() != 4) return InvalidArgumentError("pooling needs NHWC input, got ", x.DebugString());
  if (ksize.size() != 4 || strides.size() != 4) return InvalidArgumentError("ksize and strides need 4 entries");
  if (x.unknown_rank()) {
    c.AddOutput(c.input_dtype(0), PartialShape::UnknownOfRank(4));
    return OkStatus();
  }
  int64_t pad;
  auto dim = [&](int64_t in, int64_t k, int64_t s) -> StatusOr<int64_t> {
    if (in < 0) return kUnknownDim;
    return OutSize(in, k, s, padding, &pad);
  };
  ASSIGN_OR_RETURN(int64_t oh, dim(x.dim(1), ksize[1], strides[1]));
  ASSIGN_OR_RETURN(int64_t ow, dim(x.dim(2), ksize[2], strides[2]));
  c.AddOutput(c.input_dtype(0), PartialShape({x.dim(0), oh, ow, x.dim(3)}));
  return OkStatus();
}

// Conv2D + BiasAdd (+ Relu) of float: inputs (x, filter, bias).
Status FusedConv(OpKernelContext& c, bool relu) {
  ASSIGN_OR_RETURN(auto strides, c.GetAttr<std::vector<int64_t>>("strides"));
  ASSIGN_OR_RETURN(std::string padding, c.GetAttr<std::string>("padding"));
  const Tensor& x = c.input(0);
  const Tensor& f = c.input(1);
  const Tensor& bias = c.input(2);
  if (x.shape().rank() != 4 || f.shape().rank() != 4 || f.shape().dim(2) != x.shape().dim(3)) {
    return InvalidArgumentError("filter ", f.shape().DebugString(), " does not fit input ", x.shape().DebugString(),
                                " (input NHWC, filter [h, w, in_channels, out_channels])");
  }
  ASSIGN_OR_RETURN(Geometry g, op_util::MakeGeometry(x.shape(), f.shape().dim(0), f.shape().dim(1), f.shape().dim(3),
                                                     strides, padding));
  if (bias.shape().rank() != 1 || bias.shape().dim(0) != g.o || bias.dtype() != DType::kFloat) {
    return InvalidArgumentError("bias of shape ", bias.shape().DebugString(), " does not match ", g.o,
                                " output channels");
  }
  Tensor* out = c.AllocateOutput(0, TensorShape({g.n, g.oh, g.ow, g.o}));
  float* y = out->flat<float>().data();
  const float* b = bias.flat<float>().data();
  if (onednn::Enabled()) {
    return onednn::ConvForward(g, x.flat<float>().data(), f.flat<float>().data(), y, op_util::CpuThreads(c),
                               {.bias = b, .relu = relu});
  }
  const int64_t rows = g.n * g.oh * g.ow, k = g.kh * g.kw * g.c;
  std::vector<float> patches(static_cast<size_t>(rows * k));
  Im2Col(g, x.flat<float>().data(), patches.data());
  GemmRowMajor<float>(c.eigen_cpu(), patches.data(), f.flat<float>().data(), y, rows, k, g.o, false, false);
  simd::Get().bias_relu(y, b, rows, g.o, g.o, relu);
  return OkStatus();
}

KernelFn ConvKernelFn(ConvMode mode) {
  return [mode](OpKernelContext& c) -> Status {
    Status st;
    PSFLOW_FLOAT_DISPATCH(c.input(0).dtype(), st = ConvKernel<T>(c, mode));
    return st;
  };
}

// MaxPool / MaxPoolGrad of float through the vectorized loops (cpu_simd.h),
// the images split over the intra-op pool.
Status FloatMaxPool(OpKernelContext& c, bool grad) {
  const Tensor& x = c.input(0);
  ASSIGN_OR_RETURN(Geometry g, op_util::PoolGeometryOf(c));
  const simd::PoolShape s{g.n, g.h, g.w, g.c, g.kh, g.kw, g.sh, g.sw, g.oh, g.ow, g.pad_top, g.pad_left};
  Tensor* out = c.AllocateOutput(0, grad ? x.shape() : TensorShape({g.n, g.oh, g.ow, g.c}));
  const float* xs = x.flat<float>().data();
  const float* dy = grad ? c.input(2).flat<float>().data() : nullptr;
  float* o = out->flat<float>().data();
  const int64_t in_image = g.h * g.w * g.c, out_image = g.oh * g.ow * g.c;
  const int64_t per_part = std::max<int64_t>(1, op_util::kMinElementwisePart / std::max<int64_t>(in_image, 1));
  op_util::ParallelRange(c, g.n, per_part, [&](int64_t b0, int64_t b1) {
    simd::PoolShape part = s;
    part.n = b1 - b0;
    if (grad) {
      simd::Get().max_pool_grad(part, xs + b0 * in_image, dy + b0 * out_image, o + b0 * in_image);
    } else {
      simd::Get().max_pool(part, xs + b0 * in_image, o + b0 * out_image);
    }
  });
  return OkStatus();
}

KernelFn PoolKernelFn(bool max, bool grad) {
  return [max, grad](OpKernelContext& c) -> Status {
    if (max && c.input(0).dtype() == DType::kFloat) return FloatMaxPool(c, grad);
    Status st;
    PSFLOW_FLOAT_DISPATCH(c.input(0).dtype(), st = PoolKernel<T>(c, max, grad));
    return st;
  };
}

Status LikeShape(InferenceContext& c) {
  c.AddOutput(c.input_dtype(0), c.input_shape(0));
  return OkStatus();
}

std::map<std::string, AttrValue> CopyAttrs(const Node& n, std::initializer_list<const char*> names) {
  std::map<std::string, AttrValue> out;
  for (const char* k : names) out[k] = n.attrs().at(k);
  return out;
}

}  // namespace


const KernelFn& FusedConv2DKernel(bool relu) {
  static const KernelFn bias = [](OpKernelContext& c) { return FusedConv(c, false); };
  static const KernelFn bias_relu = [](OpKernelContext& c) { return FusedConv(c, true); };
  return relu ? bias_relu : bias;
}

void RegisterConvOpsOnce() {
  DefineOp({.type = "Conv2D", .num_inputs = 2, .shape_fn = ConvShape,
            .grad = [](GradContext& g) {
              const Scope& s = g.scope;
              auto attrs = CopyAttrs(*g.node, {"strides", "padding"});
              Output x = g.node->inputs()[0], f = g.node->inputs()[1];
              (*g.grads_in)[0] = ops::MakeOp(s, "Conv2DBackpropInput", "Conv2DBackpropInput", {x, f, g.grads_out[0]}, attrs);
              (*g.grads_in)[1] = ops::MakeOp(s, "Conv2DBackpropFilter", "Conv2DBackpropFilter", {x, f, g.grads_out[0]}, attrs);
              return OkStatus();
            }},
           ConvKernelFn(ConvMode::kForward));
  DefineOp({.type = "Conv2DBackpropInput", .num_inputs = 3, .shape_fn = LikeShape},
           ConvKernelFn(ConvMode::kInput));
  DefineOp({.type = "Conv2DBackpropFilter", .num_inputs = 3,
            .shape_fn = [](InferenceContext& c) -> Status {
              c.AddOutput(c.input_dtype(1), c.input_shape(1));
              return OkStatus();
            }},
           ConvKernelFn(ConvMode::kFilter));
  DefineOp({.type = "MaxPool", .num_inputs = 1, .shape_fn = PoolShape,
            .grad = [](GradContext& g) {
              (*g.grads_in)[0] = ops::MakeOp(g.scope, "MaxPoolGrad", "MaxPoolGrad",
                                             {g.node->inputs()[0], g.node->output(0), g.grads_out[0]},
                                             CopyAttrs(*g.node, {"ksize", "strides", "padding"}));
              return OkStatus();
            }},
           PoolKernelFn(true, false));
  DefineOp({.type = "MaxPoolGrad", .num_inputs = 3, .shape_fn = LikeShape},
           PoolKernelFn(true, true));
  DefineOp({.type = "AvgPool", .num_inputs = 1, .shape_fn = PoolShape,
            .grad = [](GradContext& g) {
              (*g.grads_in)[0] = ops::MakeOp(g.scope, "AvgPoolGrad", "AvgPoolGrad",
                                             {g.node->inputs()[0], g.grads_out[0]},
                                             CopyAttrs(*g.node, {"ksize", "strides", "padding"}));
              return OkStatus();
            }},
           PoolKernelFn(false, false));
  DefineOp({.type = "AvgPoolGrad", .num_inputs = 2, .shape_fn = LikeShape},
           PoolKernelFn(false, true));
}

namespace ops {
Output Conv2D(const Scope& s, Output input, Output filter, std::vector<int64_t> strides, const std::string& padding,
              const std::string& name) {
  return MakeOp(s, "Conv2D", name, {input, filter}, {{"strides", std::move(strides)}, {"padding", padding}});
}
Output MaxPool(const Scope& s, Output x, std::vector<int64_t> ksize, std::vector<int64_t> strides,
               const std::string& padding, const std::string& name) {
  return MakeOp(s, "MaxPool", name, {x}, {{"ksize", std::move(ksize)}, {"strides", std::move(strides)}, {"padding", padding}});
}
Output AvgPool(const Scope& s, Output x, std::vector<int64_t> ksize, std::vector<int64_t> strides,
               const std::string& padding, const std::string& name) {
  return MakeOp(s, "AvgPool", name, {x}, {{"ksize", std::move(ksize)}, {"strides", std::move(strides)}, {"padding", padding}});
}
}  // namespace ops
}  // namespace psflow
