#include "common/ops/op_util.h"

namespace psflow::op_util {

StatusOr<PartialShape> BroadcastShapes(const PartialShape& a, const PartialShape& b) {
  if (a.unknown_rank() || b.unknown_rank()) return PartialShape::Unknown();
  const int r = std::max(a.rank(), b.rank());
  std::vector<int64_t> out(static_cast<size_t>(r));
  for (int i = 0; i < r; ++i) {
    const int ia = a.rank() - r + i, ib = b.rank() - r + i;
    const int64_t da = ia >= 0 ? a.dim(ia) : 1, db = ib >= 0 ? b.dim(ib) : 1;
    int64_t d;
    if (da == 1) d = db;
    else if (db == 1) d = da;
    else if (da < 0 || db < 0) d = da < 0 ? (db < 0 ? kUnknownDim : db) : da;
    else if (da == db) d = da;
    else {
      return InvalidArgumentError("Incompatible shapes: ", a.DebugString(), " vs. ", b.DebugString());
    }
    out[static_cast<size_t>(i)] = d;
  }
  return PartialShape(std::move(out));
}

StatusOr<TensorShape> BroadcastShapes(const TensorShape& a, const TensorShape& b) {
  ASSIGN_OR_RETURN(PartialShape p, BroadcastShapes(PartialShape(a), PartialShape(b)));
  return p.ToShape();
}

StatusOr<std::vector<int>> NormalizeAxes(const std::vector<int64_t>& axes, int rank) {
  std::vector<int> out;
  if (axes.empty()) {
    for (int i = 0; i < rank; ++i) out.push_back(i);
    return out;
  }
  for (int64_t a : axes) {
    const int64_t n = a < 0 ? a + rank : a;
    if (n < 0 || n >= rank) {
      return InvalidArgumentError("axis ", a, " is out of range for a tensor of rank ", rank);
    }
    if (std::find(out.begin(), out.end(), static_cast<int>(n)) == out.end()) out.push_back(static_cast<int>(n));
  }
  std::sort(out.begin(), out.end());
  return out;
}

void DefineOp(OpDef def, KernelFn cpu_kernel) {
  const std::string type = def.type;
  OpRegistry::Global()->Register(std::move(def));
  if (cpu_kernel) KernelRegistry::Global()->Register(type, DeviceKind::kCPU, std::move(cpu_kernel));
}

Status UnchangedShape(InferenceContext& c) {
  c.AddOutput(c.input_dtype(0), c.input_shape(0));
  return OkStatus();
}

Status DtypeShapeFromAttrs(InferenceContext& c) {
  ASSIGN_OR_RETURN(DType t, c.GetAttr<DType>("dtype"));
  ASSIGN_OR_RETURN(PartialShape s, c.GetAttr<PartialShape>("shape"));
  c.AddOutput(t, s);
  return OkStatus();
}

Status BroadcastBinaryShape(InferenceContext& c) {
  if (c.input_dtype(0) != c.input_dtype(1)) {
    return InvalidArgumentError("both inputs must have the same dtype, got ", c.input_dtype(0),
                                " and ", c.input_dtype(1));
  }
  ASSIGN_OR_RETURN(PartialShape s, BroadcastShapes(c.input_shape(0), c.input_shape(1)));
  c.AddOutput(c.input_dtype(0), s);
  return OkStatus();
}

int64_t IndexAt(const Tensor& t, int64_t i) {
  return t.dtype() == DType::kInt64 ? t.flat<int64_t>()[static_cast<size_t>(i)]
                                    : t.flat<int32_t>()[static_cast<size_t>(i)];
}

bool IsFloat(DType t) {
  return t == DType::kFloat || t == DType::kDouble || t == DType::kHalf || t == DType::kBFloat16;
}

onednn::Threads CpuThreads(const OpKernelContext& c) {
  return {.count = c.intra_op_threads(),
          .parallel = [&c](int parts, const std::function<void(int)>& fn) { c.ParallelFor(parts, fn); }};
}

void ParallelRange(const OpKernelContext& c, int64_t n, int64_t min_part,
                   const std::function<void(int64_t begin, int64_t end)>& fn) {
  const int parts = static_cast<int>(std::min<int64_t>(c.intra_op_threads(), n / std::max<int64_t>(min_part, 1)));
  if (parts <= 1) return fn(0, n);
  const int64_t chunk = (n + parts - 1) / parts;
  c.ParallelFor(parts, [&](int p) { fn(p * chunk, std::min(n, (p + 1) * chunk)); });
}

}  // namespace psflow::op_util
