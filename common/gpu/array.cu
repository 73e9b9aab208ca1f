// GPU kernels of the array and state ops: constants, variables and their
// assignments, Transpose, Concat and its gradient, Slice and its gradient,
// Gather and ScatterAddLike, Bucketize, the SparseSegment reductions of
// embedding_column and their gradient.  The metadata-only ops (Identity, Reshape,
// ExpandDims, ...) share their device-agnostic CPU kernels.
#include "common/gpu/gpu_kernel.h"
#include "common/ops/ops.h"
#include "common/ops/strided_slice.h"

namespace psflow::PSFLOW_GPU_NS {
namespace {

template <typename E>
__global__ void MapGatherKernel(const E* in, E* out, int64_t n, IndexMap m) {
  PSFLOW_GRID_LOOP(i, n) out[i] = in[MapOffset(m, i)];
}
template <typename E>
__global__ void MapScatterKernel(const E* in, E* out, int64_t n, IndexMap m) {
  PSFLOW_GRID_LOOP(i, n) out[MapOffset(m, i)] = in[i];
}

template <typename T>
__global__ void AccumulateKernel(T* v, const T* d, int64_t n, T sign) {
  PSFLOW_GRID_LOOP(i, n) v[i] += sign * d[i];
}

template <typename E, typename I>
__global__ void GatherKernel(const E* params, const I* indices, E* out, int64_t n, int64_t row, int64_t rows,
                             KernelError* err, int32_t tag) {
  PSFLOW_GRID_LOOP(i, n) {
    const int64_t pos = i / row;
    const int64_t r = static_cast<int64_t>(indices[pos]);
    if (r < 0 || r >= rows) {
      ReportError(err, KernelError::kIndexOutOfRange, tag, pos, r, rows);
      out[i] = E(0);
    } else {
      out[i] = params[r * row + i % row];
    }
  }
}

template <typename T, typename I>
__global__ void ScatterAddKernel(const I* indices, const T* values, T* out, int64_t n, int64_t row, int64_t rows,
                                 KernelError* err, int32_t tag) {
  PSFLOW_GRID_LOOP(i, n) {
    const int64_t pos = i / row;
    const int64_t r = static_cast<int64_t>(indices[pos]);
    if (r < 0 || r >= rows) {
      ReportError(err, KernelError::kIndexOutOfRange, tag, pos, r, rows);
    } else {
      AtomicAdd(&out[r * row + i % row], values[i]);
    }
  }
}

template <typename T>
__global__ void BucketizeKernel(const T* x, const float* bounds, int64_t nb, int32_t* out, int64_t n) {
  PSFLOW_GRID_LOOP(i, n) {
    const double v = static_cast<double>(x[i]);
    int64_t lo = 0, hi = nb;  // the first boundary > v
    while (lo < hi) {
      const int64_t mid = (lo + hi) / 2;
      if (static_cast<double>(bounds[mid]) <= v) lo = mid + 1;
      else hi = mid;
    }
    out[i] = static_cast<int32_t>(lo);
  }
}

// counts[segment_ids[j]] += 1, checking segment ids (and indices into `rows` rows).
template <typename I, typename S>
__global__ void SegmentCountKernel(const I* indices, const S* seg, float* counts, int64_t k, int64_t rows,
                                   int64_t segments, KernelError* err, int32_t tag) {
  PSFLOW_GRID_LOOP(j, k) {
    const int64_t g = static_cast<int64_t>(seg[j]);
    const int64_t r = static_cast<int64_t>(indices[j]);
    if (g < 0 || g >= segments) {
      ReportError(err, KernelError::kIndexOutOfRange, tag, j, g, segments);
    } else if (r < 0 || r >= rows) {
      ReportError(err, KernelError::kIndexOutOfRange, tag, j, r, rows);
    } else {
      AtomicAdd(&counts[g], 1.f);
    }
  }
}

// Forward (to_segments): out[seg[j]] += w * data[indices[j]]; gradient:
// out[indices[j]] += w * data[seg[j]]; w from the segment's count.
template <typename T, typename I, typename S>
__global__ void SegmentAddKernel(const T* data, const I* indices, const S* seg, const float* counts, T* out, int64_t n,
                                 int64_t row, int64_t rows, int64_t segments, int combiner, bool to_segments) {
  PSFLOW_GRID_LOOP(i, n) {
    const int64_t j = i / row;
    const int64_t g = static_cast<int64_t>(seg[j]);
    const int64_t r = static_cast<int64_t>(indices[j]);
    if (g < 0 || g >= segments || r < 0 || r >= rows) continue;  // reported by SegmentCountKernel
    const double c = static_cast<double>(counts[g]);
    const T w = static_cast<T>(combiner == 0 ? 1.0 : (combiner == 1 ? 1.0 / c : 1.0 / sqrt(c)));
    if (to_segments) AtomicAdd(&out[g * row + i % row], w * data[r * row + i % row]);
    else AtomicAdd(&out[r * row + i % row], w * data[g * row + i % row]);
  }
}

int CombinerCode(const std::string& s) {
  return s.find("Mean") != std::string::npos ? 1 : (s.find("SqrtN") != std::string::npos ? 2 : 0);
}

template <typename T, typename I, typename S>
Status SegmentTyped(OpKernelContext& c, const Tensor& data, const Tensor& indices, const Tensor& seg, Tensor* out,
                    int64_t rows, int64_t segments, int combiner, bool to_segments) {
  Backend* dev = Dev(c);
  const int64_t k = indices.num_elements();
  const int64_t row = (to_segments ? rows : segments) == 0 ? 0 : data.num_elements() / (to_segments ? rows : segments);
  ASSIGN_OR_RETURN(Tensor counts, AllocateTemp(c, DType::kFloat, TensorShape({std::max<int64_t>(segments, 1)})));
  RETURN_IF_ERROR(dev->Memset(counts.device_data(), 0, counts.TotalBytes()));
  RETURN_IF_ERROR(dev->Memset(out->device_data(), 0, out->TotalBytes()));
  if (k == 0 || row == 0) return OkStatus();
  RETURN_IF_ERROR(LaunchN(dev, "SegmentCountKernel", k, SegmentCountKernel<I, S>, Ptr<const I>(indices), Ptr<const S>(seg),
                          Ptr<float>(counts), k, rows, segments, dev->kernel_error(), c.error_tag()));
  return LaunchN(dev, "SegmentAddKernel", k * row, SegmentAddKernel<T, I, S>, Ptr<const T>(data), Ptr<const I>(indices),
                 Ptr<const S>(seg), Ptr<const float>(counts), Ptr<T>(*out), k * row, row, rows, segments, combiner,
                 to_segments);
}

template <typename T>
Status SegmentByIndex(OpKernelContext& c, const Tensor& data, const Tensor& indices, const Tensor& seg, Tensor* out,
                      int64_t rows, int64_t segments, int combiner, bool to_segments, bool i64, bool s64) {
  if (i64 && s64) return SegmentTyped<T, int64_t, int64_t>(c, data, indices, seg, out, rows, segments, combiner, to_segments);
  if (i64) return SegmentTyped<T, int64_t, int32_t>(c, data, indices, seg, out, rows, segments, combiner, to_segments);
  if (s64) return SegmentTyped<T, int32_t, int64_t>(c, data, indices, seg, out, rows, segments, combiner, to_segments);
  return SegmentTyped<T, int32_t, int32_t>(c, data, indices, seg, out, rows, segments, combiner, to_segments);
}

// The reduction (to_segments: data [rows, ...] -> [segments, ...]) or its
// gradient (data = the segments' gradient -> [rows, ...]), by index dtypes.
Status SegmentOp(OpKernelContext& c, const Tensor& data, const Tensor& indices, const Tensor& seg, Tensor* out,
                 int64_t rows, int64_t segments, int combiner, bool to_segments) {
  if (indices.shape().rank() != 1 || !(indices.shape() == seg.shape())) {
    return InvalidArgumentError("SparseSegment: indices ", indices.shape().DebugString(), " and segment_ids ",
                                seg.shape().DebugString(), " must be vectors of one length");
  }
  const bool i64 = indices.dtype() == DType::kInt64, s64 = seg.dtype() == DType::kInt64;
  if (data.dtype() == DType::kFloat) return SegmentByIndex<float>(c, data, indices, seg, out, rows, segments, combiner, to_segments, i64, s64);
  if (data.dtype() == DType::kDouble) return SegmentByIndex<double>(c, data, indices, seg, out, rows, segments, combiner, to_segments, i64, s64);
  return InvalidArgumentError("SparseSegment reductions take float or double data, got ", data.dtype());
}

// out[i] = in[map(i)] (gather) or out[map(i)] = in[i] (scatter) over n elements.
Status MoveByMap(OpKernelContext& c, const Tensor& in, Tensor* out, int64_t n, const IndexMap& m, bool scatter) {
  Backend* dev = Dev(c);
  PSFLOW_GPU_BITS_DISPATCH(in.dtype(), {
    return scatter ? LaunchN(dev, "MapScatterKernel", n, MapScatterKernel<E>, Ptr<const E>(in), Ptr<E>(*out), n, m)
                   : LaunchN(dev, "MapGatherKernel", n, MapGatherKernel<E>, Ptr<const E>(in), Ptr<E>(*out), n, m);
  });
  return OkStatus();
}

StatusOr<std::string> RefName(const OpKernelContext& c) {
  const Node* var = c.node().inputs()[0].node;
  if (var->type() != "VariableV2") {
    return InvalidArgumentError("input 0 of ", c.node().name(), " must be a variable, got ", var->name(), " (",
                                var->type(), ")");
  }
  return var->name();
}

// The variable's value on this device: a host value (initialized or
// restored on the CPU, pulled from a PS) moves to the device once.
Status ToDeviceLocked(Backend* dev, const std::string& name, Tensor* v) {
  if (!v->initialized() || v->device() == dev->device()) return OkStatus();
  if (!v->device().is_host()) {
    return InvalidArgumentError("variable ", name, " lives on ", v->device().ToString(), ", not on ", dev->device().ToString());
  }
  ASSIGN_OR_RETURN(*v, dev->CopyToDevice(*v));
  return OkStatus();
}

Status AssignUpdate(OpKernelContext& c, int sign) {
  ASSIGN_OR_RETURN(std::string name, RefName(c));
  Backend* dev = Dev(c);
  const Tensor& delta = c.input(1);
  Tensor result;
  RETURN_IF_ERROR(c.variables()->Update(name, [&](Tensor* v) -> Status {
    RETURN_IF_ERROR(ToDeviceLocked(dev, name, v));
    if (!(v->shape() == delta.shape())) {
      return InvalidArgumentError("cannot update variable ", name, " of shape ", v->shape().DebugString(),
                                  " with a value of shape ", delta.shape().DebugString());
    }
    const int64_t n = v->num_elements();
    Status st;
    PSFLOW_NUMERIC_DISPATCH(v->dtype(), st = LaunchN(dev, "AccumulateKernel", n, AccumulateKernel<T>, Ptr<T>(*v),
                                                     Ptr<const T>(delta), n, static_cast<T>(sign)));
    result = *v;
    return st;
  }));
  c.SetOutput(0, result);
  return OkStatus();
}

int64_t RowsOf(const Tensor& t) { return t.shape().rank() == 0 ? 1 : t.shape().dim(0); }

template <typename E, typename I>
Status GatherTyped(OpKernelContext& c, const Tensor& params, const Tensor& indices, Tensor* out, int64_t row, int64_t rows) {
  const int64_t n = out->num_elements();
  Backend* dev = Dev(c);
  return LaunchN(dev, "GatherKernel", n, GatherKernel<E, I>, Ptr<const E>(params), Ptr<const I>(indices), Ptr<E>(*out), n,
                 row, rows, dev->kernel_error(), c.error_tag());
}

template <typename T, typename I>
Status ScatterAddTyped(OpKernelContext& c, const Tensor& idx, const Tensor& values, Tensor* out, int64_t row, int64_t rows) {
  const int64_t n = values.num_elements();
  Backend* dev = Dev(c);
  return LaunchN(dev, "ScatterAddKernel", n, ScatterAddKernel<T, I>, Ptr<const I>(idx), Ptr<const T>(values), Ptr<T>(*out),
                 n, row, rows, dev->kernel_error(), c.error_tag());
}

}  // namespace

void RegisterArrayKernels(KernelRegistry* r) {
  // Kernels that only look at shapes and pass buffers on work on any device.
  RegisterStandardOps();
  for (const char* type : {"Identity", "StopGradient", "NoOp", "Placeholder", "Reshape", "ReshapeLike", "ExpandDims", "Squeeze"}) {
    const KernelFn* cpu = KernelRegistry::Global()->Lookup(type, DeviceKind::kCPU);
    CHECK(cpu != nullptr) << type;
    Register(r, type, *cpu);
  }

  Register(r, "Const", [](OpKernelContext& c) -> Status {
    // Copied to the device on the first run, then reused.
    std::lock_guard<std::mutex> l(c.state()->mu);
    if (!c.state()->cached.initialized()) {
      ASSIGN_OR_RETURN(Tensor v, c.GetAttr<Tensor>("value"));
      ASSIGN_OR_RETURN(c.state()->cached, Dev(c)->CopyToDevice(v));
    }
    c.SetOutput(0, c.state()->cached);
    return OkStatus();
  });
  Register(r, "VariableV2", [](OpKernelContext& c) -> Status {
    Backend* dev = Dev(c);
    const std::string& name = c.node().name();
    if (!c.variables()->IsInitialized(name)) return OkStatus();  // the executor reports it to non-ref consumers
    Tensor value;
    RETURN_IF_ERROR(c.variables()->Update(name, [&](Tensor* v) -> Status {
      RETURN_IF_ERROR(ToDeviceLocked(dev, name, v));
      value = *v;
      return OkStatus();
    }));
    c.SetOutput(0, value);
    return OkStatus();
  });
  Register(r, "Assign", [](OpKernelContext& c) -> Status {
    ASSIGN_OR_RETURN(std::string name, RefName(c));
    const PartialShape& declared = c.node().inputs()[0].shape();
    if (!declared.IsCompatibleWith(c.input(1).shape())) {
      return InvalidArgumentError("Assign requires shapes of both tensors to match. lhs shape= ", declared.DebugString(),
                                  " rhs shape= ", c.input(1).shape().DebugString());
    }
    // A private copy, so later in-place updates never touch the source.
    ASSIGN_OR_RETURN(Tensor value, Dev(c)->Duplicate(c.input(1)));
    RETURN_IF_ERROR(c.variables()->Assign(name, value));
    c.SetOutput(0, value);
    return OkStatus();
  });
  Register(r, "AssignAdd", [](OpKernelContext& c) { return AssignUpdate(c, +1); });
  Register(r, "AssignSub", [](OpKernelContext& c) { return AssignUpdate(c, -1); });

  Register(r, "Transpose", [](OpKernelContext& c) -> Status {
    ASSIGN_OR_RETURN(auto perm, c.GetAttr<std::vector<int64_t>>("perm"));
    const Tensor& x = c.input(0);
    const int rank = x.shape().rank();
    if (static_cast<int>(perm.size()) != rank) {
      return InvalidArgumentError("perm has ", perm.size(), " entries for a tensor of rank ", rank);
    }
    std::vector<bool> seen(static_cast<size_t>(rank), false);
    for (int64_t v : perm) {
      if (v < 0 || v >= rank || seen[static_cast<size_t>(v)]) {
        return InvalidArgumentError("perm [", StrJoin(perm, ","), "] is not a permutation of 0..", rank - 1);
      }
      seen[static_cast<size_t>(v)] = true;
    }
    const std::vector<int64_t> in_strides = Strides(x.shape());
    std::vector<int64_t> dims, strides;
    for (int64_t p : perm) {
      dims.push_back(x.shape().dim(static_cast<int>(p)));
      strides.push_back(in_strides[static_cast<size_t>(p)]);
    }
    ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, 0, TensorShape(dims)));
    ASSIGN_OR_RETURN(IndexMap m, MakeMap(dims, strides, 0));
    return MoveByMap(c, x, out, out->num_elements(), m, /*scatter=*/false);
  });

  // Concat and its gradient move [outer, row_i] blocks of each input to or
  // from column offset_i of an [outer, sum row_i] view of the output.
  Register(r, "Concat", [](OpKernelContext& c) -> Status {
    ASSIGN_OR_RETURN(op_util::ConcatLayout layout, op_util::ConcatLayoutOf(c));
    ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, 0, layout.out));
    const int64_t out_row = out->num_elements() / std::max<int64_t>(1, layout.outer);
    int64_t offset = 0;
    for (int i = 0; i < c.num_inputs(); ++i) {
      const Tensor& x = c.input(i);
      const int64_t row = layout.rows[static_cast<size_t>(i)];
      if (x.num_elements() > 0) {
        ASSIGN_OR_RETURN(IndexMap m, MakeMap({layout.outer, row}, {out_row, 1}, offset));
        RETURN_IF_ERROR(MoveByMap(c, x, out, x.num_elements(), m, /*scatter=*/true));
      }
      offset += row;
    }
    return OkStatus();
  });
  Register(r, "ConcatGrad", [](OpKernelContext& c) -> Status {
    ASSIGN_OR_RETURN(int64_t axis, c.GetAttr<int64_t>("axis"));
    const Tensor& g = c.input(0);
    ASSIGN_OR_RETURN(std::vector<int> ax, op_util::NormalizeAxes({axis}, g.shape().rank()));
    int64_t outer = 1;
    for (int d = 0; d < ax[0]; ++d) outer *= g.shape().dim(d);
    const int64_t g_row = g.num_elements() / std::max<int64_t>(1, outer);
    int64_t offset = 0;
    for (int i = 1; i < c.num_inputs(); ++i) {
      ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, i - 1, c.input(i).shape()));
      const int64_t row = out->num_elements() / std::max<int64_t>(1, outer);
      if (out->num_elements() > 0) {
        ASSIGN_OR_RETURN(IndexMap m, MakeMap({outer, row}, {g_row, 1}, offset));
        RETURN_IF_ERROR(MoveByMap(c, g, out, out->num_elements(), m, /*scatter=*/false));
      }
      offset += row;
    }
    return OkStatus();
  });
  Register(r, "Slice", [](OpKernelContext& c) -> Status {
    ASSIGN_OR_RETURN(auto begin, c.GetAttr<std::vector<int64_t>>("begin"));
    ASSIGN_OR_RETURN(auto size, c.GetAttr<std::vector<int64_t>>("size"));
    const Tensor& x = c.input(0);
    if (static_cast<int>(begin.size()) != x.shape().rank() || size.size() != begin.size()) {
      return InvalidArgumentError("Slice begin and size need one entry per dimension of ", x.shape().DebugString());
    }
    const std::vector<int64_t> st = Strides(x.shape());
    std::vector<int64_t> dims;
    int64_t base = 0;
    for (size_t d = 0; d < begin.size(); ++d) {
      const int64_t n = x.shape().dim(static_cast<int>(d));
      const int64_t len = size[d] >= 0 ? size[d] : n - begin[d];
      if (begin[d] < 0 || len < 0 || begin[d] + len > n) {
        return InvalidArgumentError("Slice out of range for dimension ", d, " of ", x.shape().DebugString());
      }
      dims.push_back(len);
      base += begin[d] * st[d];
    }
    ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, 0, TensorShape(dims)));
    ASSIGN_OR_RETURN(IndexMap m, MakeMap(dims, st, base));
    return MoveByMap(c, x, out, out->num_elements(), m, /*scatter=*/false);
  });
  Register(r, "SliceGrad", [](OpKernelContext& c) -> Status {
    ASSIGN_OR_RETURN(auto begin, c.GetAttr<std::vector<int64_t>>("begin"));
    const Tensor& g = c.input(0);
    ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, 0, c.input(1).shape()));
    if (static_cast<int>(begin.size()) != out->shape().rank() || g.shape().rank() != out->shape().rank()) {
      return InvalidArgumentError("SliceGrad: begin [", StrJoin(begin, ","), "] and gradient ", g.shape().DebugString(),
                                  " do not fit ", out->shape().DebugString());
    }
    RETURN_IF_ERROR(Dev(c)->Memset(out->device_data(), 0, out->TotalBytes()));
    const std::vector<int64_t> st = Strides(out->shape());
    int64_t base = 0;
    for (size_t d = 0; d < begin.size(); ++d) {
      if (begin[d] < 0 || begin[d] + g.shape().dim(static_cast<int>(d)) > out->shape().dim(static_cast<int>(d))) {
        return InvalidArgumentError("SliceGrad: gradient ", g.shape().DebugString(), " at [", StrJoin(begin, ","),
                                    "] does not fit ", out->shape().DebugString());
      }
      base += begin[d] * st[d];
    }
    if (g.num_elements() == 0) return OkStatus();
    ASSIGN_OR_RETURN(IndexMap m, MakeMap(g.shape().dims(), st, base));
    return MoveByMap(c, g, out, g.num_elements(), m, /*scatter=*/true);
  });

  // StridedSlice and its gradient: the plan's per-dimension start and step
  // make an index map (negative steps included).
  const auto strided_map = [](const op_util::StridedPlan& p, const TensorShape& full) -> StatusOr<IndexMap> {
    const std::vector<int64_t> st = Strides(full);
    std::vector<int64_t> counts, steps;
    int64_t base = 0;
    for (size_t d = 0; d < p.dims.size(); ++d) {
      counts.push_back(p.dims[d].count);
      steps.push_back(p.dims[d].stride * st[d]);
      base += p.dims[d].start * st[d];
    }
    return MakeMap(counts, steps, base);
  };
  Register(r, "StridedSlice", [strided_map](OpKernelContext& c) -> Status {
    ASSIGN_OR_RETURN(op_util::StridedSliceSpec spec, op_util::ReadStridedSpec(c));
    const Tensor& x = c.input(0);
    ASSIGN_OR_RETURN(op_util::StridedPlan p, op_util::PlanStridedSlice(spec, x.shape().dims()));
    ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, 0, TensorShape(p.out)));
    if (out->num_elements() == 0) return OkStatus();
    ASSIGN_OR_RETURN(IndexMap m, strided_map(p, x.shape()));
    return MoveByMap(c, x, out, out->num_elements(), m, /*scatter=*/false);
  });
  Register(r, "StridedSliceGrad", [strided_map](OpKernelContext& c) -> Status {
    ASSIGN_OR_RETURN(op_util::StridedSliceSpec spec, op_util::ReadStridedSpec(c));
    const Tensor& g = c.input(0);
    const TensorShape& full = c.input(1).shape();
    ASSIGN_OR_RETURN(op_util::StridedPlan p, op_util::PlanStridedSlice(spec, full.dims()));
    if (TensorShape(p.out).num_elements() != g.num_elements()) {
      return InvalidArgumentError("StridedSliceGrad: gradient ", g.shape().DebugString(), " does not match the slice's shape");
    }
    ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, 0, full));
    RETURN_IF_ERROR(Dev(c)->Memset(out->device_data(), 0, out->TotalBytes()));
    if (g.num_elements() == 0) return OkStatus();
    ASSIGN_OR_RETURN(IndexMap m, strided_map(p, full));
    return MoveByMap(c, g, out, g.num_elements(), m, /*scatter=*/true);
  });

  Register(r, "Gather", [](OpKernelContext& c) -> Status {
    const Tensor& params = c.input(0);
    const Tensor& indices = c.input(1);
    if (params.shape().rank() < 1) return InvalidArgumentError("Gather params must have rank >= 1");
    const int64_t rows = params.shape().dim(0);
    int64_t row = 1;  // from the shape: params with no rows still have a row size
    for (int d = 1; d < params.shape().rank(); ++d) row *= params.shape().dim(d);
    std::vector<int64_t> dims = indices.shape().dims();
    for (int d = 1; d < params.shape().rank(); ++d) dims.push_back(params.shape().dim(d));
    ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, 0, TensorShape(dims)));
    if (out->num_elements() == 0) return OkStatus();
    const bool i64 = indices.dtype() == DType::kInt64;
    PSFLOW_GPU_BITS_DISPATCH(params.dtype(), {
      return (i64 ? GatherTyped<E, int64_t>(c, params, indices, out, row, rows)
                  : GatherTyped<E, int32_t>(c, params, indices, out, row, rows));
    });
    return OkStatus();
  });
  Register(r, "ScatterAddLike", [](OpKernelContext& c) -> Status {
    const Tensor& idx = c.input(0);
    const Tensor& values = c.input(1);
    const Tensor& like = c.input(2);
    const int64_t rows = RowsOf(like);
    const int64_t row = rows == 0 ? 0 : like.num_elements() / rows;
    if (values.num_elements() != idx.num_elements() * row) {
      return InvalidArgumentError("ScatterAddLike: ", idx.num_elements(), " indices but values of shape ",
                                  values.shape().DebugString(), " for rows of ", row, " elements");
    }
    ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, 0, like.shape()));
    RETURN_IF_ERROR(Dev(c)->Memset(out->device_data(), 0, out->TotalBytes()));
    if (values.num_elements() == 0) return OkStatus();
    const bool i64 = idx.dtype() == DType::kInt64;
    Status st;
    PSFLOW_NUMERIC_DISPATCH(values.dtype(), st = (i64 ? ScatterAddTyped<T, int64_t>(c, idx, values, out, row, rows)
                                                      : ScatterAddTyped<T, int32_t>(c, idx, values, out, row, rows)));
    return st;
  });
  for (const char* type : {"SparseSegmentSumWithNumSegments", "SparseSegmentMeanWithNumSegments",
                           "SparseSegmentSqrtNWithNumSegments"}) {
    Register(r, type, [type](OpKernelContext& c) -> Status {
      const Tensor& data = c.input(0);
      if (data.shape().rank() < 1) return InvalidArgumentError(type, ": data must have rank >= 1");
      ASSIGN_OR_RETURN(Tensor num, c.input(3).ToHost());  // the output's row count: needed here
      const int64_t segments = num.dtype() == DType::kInt64 ? num.flat<int64_t>()[0] : num.flat<int32_t>()[0];
      if (segments < 0) return InvalidArgumentError(type, ": num_segments must be >= 0, got ", segments);
      std::vector<int64_t> dims = data.shape().dims();
      dims[0] = segments;
      ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, 0, TensorShape(dims)));
      return SegmentOp(c, data, c.input(1), c.input(2), out, data.shape().dim(0), segments, CombinerCode(type), true);
    });
  }
  // Without num_segments: the last segment id + 1 rows (sorted ids), read on
  // the host as TensorFlow's GPU kernel reads it.
  for (const char* type : {"SparseSegmentSum", "SparseSegmentMean", "SparseSegmentSqrtN"}) {
    Register(r, type, [type](OpKernelContext& c) -> Status {
      const Tensor& data = c.input(0);
      if (data.shape().rank() < 1) return InvalidArgumentError(type, ": data must have rank >= 1");
      ASSIGN_OR_RETURN(Tensor seg, c.input(2).ToHost());
      const int64_t n = seg.num_elements();
      const auto at = [&](int64_t j) {
        return seg.dtype() == DType::kInt64 ? seg.flat<int64_t>()[static_cast<size_t>(j)]
                                            : static_cast<int64_t>(seg.flat<int32_t>()[static_cast<size_t>(j)]);
      };
      for (int64_t j = 1; j < n; ++j) {
        if (at(j) < at(j - 1)) {
          return InvalidArgumentError(type, ": segment_ids must be sorted (segment_ids[", j, "] = ", at(j), " < ",
                                      at(j - 1), ")");
        }
      }
      const int64_t segments = n == 0 ? 0 : at(n - 1) + 1;
      std::vector<int64_t> dims = data.shape().dims();
      dims[0] = segments;
      ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, 0, TensorShape(dims)));
      return SegmentOp(c, data, c.input(1), c.input(2), out, data.shape().dim(0), segments, CombinerCode(type), true);
    });
  }
  Register(r, "Bucketize", [](OpKernelContext& c) -> Status {
    ASSIGN_OR_RETURN(std::vector<float> b, c.GetAttr<std::vector<float>>("boundaries"));
    const Tensor& x = c.input(0);
    ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, 0, x.shape()));
    if (x.num_elements() == 0) return OkStatus();
    const int64_t nb = static_cast<int64_t>(b.size());
    if (b.empty()) b.push_back(0);  // a buffer to point at
    ASSIGN_OR_RETURN(Tensor bounds, Dev(c)->CopyToDevice(Tensor::FromVector<float>(b, TensorShape({static_cast<int64_t>(b.size())}))));
    const int64_t n = x.num_elements();
    Status st;
    PSFLOW_NUMERIC_DISPATCH(x.dtype(), st = LaunchN(Dev(c), "BucketizeKernel", n, BucketizeKernel<T>, Ptr<const T>(x),
                                                    Ptr<const float>(bounds), nb, Ptr<int32_t>(*out), n));
    return st;
  });
  Register(r, "SparseSegmentReduceGrad", [](OpKernelContext& c) -> Status {
    const Tensor& grad = c.input(0);
    const Tensor& like = c.input(3);
    ASSIGN_OR_RETURN(std::string comb, c.GetAttr<std::string>("combiner"));
    ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, 0, like.shape()));
    const int64_t segments = grad.shape().rank() < 1 ? 0 : grad.shape().dim(0);
    return SegmentOp(c, grad, c.input(1), c.input(2), out, RowsOf(like), segments, CombinerCode(comb), false);
  });
}

}  // namespace psflow::PSFLOW_GPU_NS
