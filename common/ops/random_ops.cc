// Random tensors (RandomUniform, RandomStandardNormal, TruncatedNormal),
// dropout's mask and Fill.  Random ops are deterministic given their seeds:
// each node owns a generator seeded from (seed, seed2) that advances across
// runs, so a graph run twice from a fresh session gives the same values.
// The initializers draw from mt19937_64; DropoutMask from Philox4x32-10
// keyed by that generator's first output, exactly as the GPU kernel does.
#include <cmath>
#include <random>

#include "common/ops/cpu_simd.h"
#include "common/ops/op_util.h"
#include "common/ops/ops.h"
#include "common/ops/philox_counters.h"

namespace psflow {
namespace {

using op_util::DefineOp;

Status RandomShape(InferenceContext& c) {
  ASSIGN_OR_RETURN(auto shape, c.GetAttr<std::vector<int64_t>>("shape"));
  ASSIGN_OR_RETURN(DType dtype, c.GetAttr<DType>("dtype"));
  if (!op_util::IsFloat(dtype) || dtype == DType::kHalf || dtype == DType::kBFloat16) {
    return InvalidArgumentError("random ops produce float or double, not ", dtype);
  }
  ASSIGN_OR_RETURN(TensorShape s, TensorShape::FromDims(shape));
  c.AddOutput(dtype, s);
  return OkStatus();
}

std::mt19937_64& Generator(OpKernelContext& c) {
  KernelState* st = c.state();
  if (!st->seeded) {
    // Missing seeds (a graph written with TensorFlow's defaults stripped) are 0.
    const auto seed_attr = c.GetAttr<int64_t>("seed");
    const auto seed2_attr = c.GetAttr<int64_t>("seed2");
    const int64_t seed = seed_attr.ok() ? *seed_attr : 0;
    const int64_t seed2 = seed2_attr.ok() ? *seed2_attr : 0;
    if (seed == 0 && seed2 == 0) {
      st->rng.seed(std::random_device{}() ^ (uint64_t{std::random_device{}()} << 32));
    } else {
      std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32),
                        static_cast<uint32_t>(seed2), static_cast<uint32_t>(seed2 >> 32)};
      st->rng.seed(seq);
    }
    st->seeded = true;
  }
  return st->rng;
}

template <typename Dist>
Status Sample(OpKernelContext& c, Dist dist, bool truncate) {
  ASSIGN_OR_RETURN(auto shape, c.GetAttr<std::vector<int64_t>>("shape"));
  Tensor* out = c.AllocateOutput(0, TensorShape(shape));
  auto& rng = Generator(c);
  PSFLOW_FLOAT_DISPATCH(out->dtype(), {
    for (T& v : out->flat<T>()) {
      double x = dist(rng);
      // Truncated normal: redraw values more than two standard deviations out.
      while (truncate && (x < -2.0 || x > 2.0)) x = dist(rng);
      v = static_cast<T>(x);
    }
  });
  return OkStatus();
}

// Dropout's mask: Philox4x32-10 as on the GPU (the same node draws the same
// mask on either), through the widest vector loop the CPU has, the elements
// split over the intra-op pool (each range draws its own counters).
Status DropoutMaskKernel(OpKernelContext& c) {
  ASSIGN_OR_RETURN(float rate, c.GetAttr<float>("rate"));
  Tensor* out = c.AllocateOutput(0, c.input(0).shape());
  const int64_t n = out->num_elements();
  ASSIGN_OR_RETURN(auto counters, PhiloxCounters(c, n));
  const uint64_t key = counters.first, offset = counters.second;
  const double keep = 1.0 - rate;
  // uniform < keep with uniform = bits * 2^-53 (exact): bits < keep * 2^53,
  // rounded up to the next integer.
  const auto keep_below = static_cast<uint64_t>(std::ceil(std::ldexp(keep, 53)));
  const simd::Kernels& k = simd::Get();
  if (out->dtype() == DType::kFloat) {
    float* o = out->flat<float>().data();
    const auto scale = static_cast<float>(1.0 / keep);
    op_util::ParallelRange(c, n, op_util::kMinElementwisePart, [&](int64_t b, int64_t e) {
      k.dropout_mask(key, offset + static_cast<uint64_t>(b), e - b, keep_below, scale, o + b);
    });
    return OkStatus();
  }
  // Other float types: the 0/1 mask in float, then scaled in T.
  std::vector<float> ones(static_cast<size_t>(n));
  k.dropout_mask(key, offset, n, keep_below, 1.f, ones.data());
  PSFLOW_FLOAT_DISPATCH(out->dtype(), {
    const T scale = static_cast<T>(1.0 / keep);
    T* o = out->flat<T>().data();
    for (int64_t i = 0; i < n; ++i) o[i] = ones[static_cast<size_t>(i)] != 0.f ? scale : T(0);
  });
  return OkStatus();
}

}  // namespace

StatusOr<std::pair<uint64_t, uint64_t>> PhiloxCounters(OpKernelContext& c, int64_t n) {
  KernelState* st = c.state();
  std::lock_guard<std::mutex> l(st->mu);
  if (!st->seeded) st->key = Generator(c)();  // the node's Philox key: its generator's first output
  const uint64_t offset = st->draws;
  st->draws += static_cast<uint64_t>(n);
  return std::make_pair(st->key, offset);
}

void RegisterRandomOpsOnce() {
  DefineOp({.type = "RandomUniform", .num_inputs = 0, .shape_fn = RandomShape, .stateful = true},
           [](OpKernelContext& c) { return Sample(c, std::uniform_real_distribution<double>(0, 1), false); });
  DefineOp({.type = "RandomStandardNormal", .num_inputs = 0, .shape_fn = RandomShape, .stateful = true},
           [](OpKernelContext& c) { return Sample(c, std::normal_distribution<double>(0, 1), false); });
  DefineOp({.type = "TruncatedNormal", .num_inputs = 0, .shape_fn = RandomShape, .stateful = true},
           [](OpKernelContext& c) { return Sample(c, std::normal_distribution<double>(0, 1), true); });
  // Mask for dropout shaped like x at run time: 1/keep with probability keep, else 0.
  DefineOp({.type = "DropoutMask",
            .num_inputs = 1,
            .shape_fn = [](InferenceContext& c) -> Status {
              ASSIGN_OR_RETURN(float rate, c.GetAttr<float>("rate"));
              if (!(rate >= 0.f && rate < 1.f)) return InvalidArgumentError("dropout rate must be in [0, 1), got ", rate);
              if (!op_util::IsFloat(c.input_dtype(0))) return InvalidArgumentError("dropout needs floating-point input");
              return op_util::UnchangedShape(c);
            },
            .grad = [](GradContext&) { return OkStatus(); },
            .stateful = true},
           DropoutMaskKernel);
  DefineOp({.type = "Fill",
            .num_inputs = 0,
            .shape_fn = [](InferenceContext& c) -> Status {
              ASSIGN_OR_RETURN(auto shape, c.GetAttr<std::vector<int64_t>>("shape"));
              ASSIGN_OR_RETURN(DType dtype, c.GetAttr<DType>("dtype"));
              ASSIGN_OR_RETURN(TensorShape s, TensorShape::FromDims(shape));
              c.AddOutput(dtype, s);
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             ASSIGN_OR_RETURN(auto shape, c.GetAttr<std::vector<int64_t>>("shape"));
             ASSIGN_OR_RETURN(float value, c.GetAttr<float>("value"));
             Tensor* out = c.AllocateOutput(0, TensorShape(shape));
             PSFLOW_NUMERIC_DISPATCH(out->dtype(), for (T& v : out->flat<T>()) v = static_cast<T>(value));
             return OkStatus();
           });
}

namespace ops {

// TensorFlow's get_seed: with a graph seed and no op seed, the op seed is the
// graph's op count; with only an op seed, the graph seed is a fixed default.
std::pair<int64_t, int64_t> GetSeeds(const Scope& s, std::optional<int64_t> op_seed) {
  constexpr int64_t kDefaultGraphSeed = 87654321;
  const std::optional<int64_t> graph_seed = s.graph()->seed();
  if (graph_seed) return {*graph_seed, op_seed ? *op_seed : s.graph()->NextOpSeed()};
  if (op_seed) return {kDefaultGraphSeed, *op_seed};
  return {0, 0};
}

Output RandomOp(const Scope& s, const std::string& type, std::vector<int64_t> shape, DType dtype,
                std::optional<int64_t> seed, const std::string& name) {
  auto [s1, s2] = GetSeeds(s, seed);
  return MakeOp(s, type, name, {},
                {{"shape", std::move(shape)}, {"dtype", dtype}, {"seed", s1}, {"seed2", s2}});
}

Output RandomUniform(const Scope& s, std::vector<int64_t> shape, DType dtype,
                     std::optional<int64_t> seed, const std::string& name) {
  return RandomOp(s, "RandomUniform", std::move(shape), dtype, seed, name);
}
Output RandomNormal(const Scope& s, std::vector<int64_t> shape, DType dtype,
                    std::optional<int64_t> seed, const std::string& name) {
  return RandomOp(s, "RandomStandardNormal", std::move(shape), dtype, seed, name);
}
Output TruncatedNormal(const Scope& s, std::vector<int64_t> shape, DType dtype,
                       std::optional<int64_t> seed, const std::string& name) {
  return RandomOp(s, "TruncatedNormal", std::move(shape), dtype, seed, name);
}
Output Dropout(const Scope& s, Output x, float rate, std::optional<int64_t> seed, const std::string& name) {
  const Scope ds = s.NameScope(name);
  auto [s1, s2] = GetSeeds(s, seed);
  Output mask = MakeOp(ds, "DropoutMask", "mask", {x}, {{"rate", rate}, {"seed", s1}, {"seed2", s2}});
  return Mul(ds, x, mask, "mul");
}
Output Fill(const Scope& s, std::vector<int64_t> shape, float value, DType dtype, const std::string& name) {
  return MakeOp(s, "Fill", name, {}, {{"shape", std::move(shape)}, {"value", value}, {"dtype", dtype}});
}

}  // namespace ops
}  // namespace psflow
