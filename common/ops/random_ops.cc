// Random tensors (RandomUniform, RandomStandardNormal, TruncatedNormal) and
// Fill.  Random ops are deterministic given their seeds: each node owns a
// generator seeded from (seed, seed2) that advances across runs, so a graph
// run twice from a fresh session gives the same values.
#include <random>

#include "common/ops/op_util.h"
#include "common/ops/ops.h"

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
    const int64_t seed = *c.GetAttr<int64_t>("seed");
    const int64_t seed2 = *c.GetAttr<int64_t>("seed2");
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

}  // namespace

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
           [](OpKernelContext& c) -> Status {
             ASSIGN_OR_RETURN(float rate, c.GetAttr<float>("rate"));
             Tensor* out = c.AllocateOutput(0, c.input(0).shape());
             auto& rng = Generator(c);
             const double keep = 1.0 - rate;
             // uniform_real_distribution<double>(0, 1) on this 64-bit engine,
             // written out (its generic form costs 14 ns a draw): one draw
             // scaled by 2^-64, kept below 1.  Same values, same stream.
             auto uniform = [&rng] { return std::min(static_cast<double>(rng()) * 0x1p-64, 0x1.fffffffffffffp-1); };
             PSFLOW_FLOAT_DISPATCH(out->dtype(), {
               const T scale = static_cast<T>(1.0 / keep);
               for (T& v : out->flat<T>()) v = uniform() < keep ? scale : T(0);
             });
             return OkStatus();
           });
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
