// Gather (embedding lookup) with a row-sparse gradient, and ScatterAddLike,
// which turns row-sparse gradients into dense ones when they must be summed
// with dense gradients.
#include <cstring>

#include "common/ops/op_util.h"
#include "common/ops/ops.h"

namespace psflow {
namespace {

using op_util::DefineOp;

using op_util::IndexAt;

}  // namespace

void RegisterEmbeddingOpsOnce() {
  DefineOp({.type = "Gather",
            .num_inputs = 2,
            .shape_fn = [](InferenceContext& c) -> Status {
              if (c.input_dtype(1) != DType::kInt32 && c.input_dtype(1) != DType::kInt64) {
                return InvalidArgumentError("Gather indices must be int32 or int64, got ", c.input_dtype(1));
              }
              const PartialShape& p = c.input_shape(0);
              const PartialShape& i = c.input_shape(1);
              if (!p.unknown_rank() && p.rank() < 1) return InvalidArgumentError("Gather params must have rank >= 1");
              if (p.unknown_rank() || i.unknown_rank()) {
                c.AddOutput(c.input_dtype(0), PartialShape::Unknown());
                return OkStatus();
              }
              std::vector<int64_t> dims = i.dims();
              for (int d = 1; d < p.rank(); ++d) dims.push_back(p.dim(d));
              c.AddOutput(c.input_dtype(0), PartialShape(dims));
              return OkStatus();
            },
            .grad = [](GradContext& g) -> Status {
              const Scope& s = g.scope;
              Output params = g.node->inputs()[0], indices = g.node->inputs()[1];
              const PartialShape& ps = params.shape();
              std::vector<int64_t> row = {-1};
              for (int d = 1; !ps.unknown_rank() && d < ps.rank(); ++d) {
                if (ps.dim(d) < 0) {
                  return InvalidArgumentError("the gradient of Gather needs the row shape of ", params.name(),
                                              " to be known, got ", ps.DebugString());
                }
                row.push_back(ps.dim(d));
              }
              Output idx = ops::Cast(s, ops::Reshape(s, indices, {-1}), DType::kInt64);
              Output values = ops::Reshape(s, g.grads_out[0], row);
              (*g.sparse_grads_in)[0] = std::make_pair(idx, values);
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             const Tensor& params = c.input(0);
             const Tensor& indices = c.input(1);
             if (params.shape().rank() < 1) return InvalidArgumentError("Gather params must have rank >= 1");
             const int64_t rows = params.shape().dim(0);
             const int64_t row = rows == 0 ? 0 : params.num_elements() / rows;
             std::vector<int64_t> dims = indices.shape().dims();
             for (int d = 1; d < params.shape().rank(); ++d) dims.push_back(params.shape().dim(d));
             Tensor* out = c.AllocateOutput(0, TensorShape(dims));
             const size_t es = DTypeSize(params.dtype());
             for (int64_t i = 0; i < indices.num_elements(); ++i) {
               const int64_t r = IndexAt(indices, i);
               if (r < 0 || r >= rows) {
                 return InvalidArgumentError("indices[", i, "] = ", r, " is not in [0, ", rows, ")");
               }
               if (params.dtype() == DType::kString) {
                 for (int64_t k = 0; k < row; ++k) {
                   out->flat<std::string>()[static_cast<size_t>(i * row + k)] =
                       params.flat<std::string>()[static_cast<size_t>(r * row + k)];
                 }
               } else {
                 std::memcpy(static_cast<char*>(out->raw_data()) + static_cast<size_t>(i * row) * es,
                             static_cast<const char*>(params.raw_data()) + static_cast<size_t>(r * row) * es,
                             static_cast<size_t>(row) * es);
               }
             }
             return OkStatus();
           });
  // (indices [n], values [n, row...], like [N, row...]) -> zeros like `like`
  // with values[i] added to row indices[i].
  DefineOp({.type = "ScatterAddLike",
            .num_inputs = 3,
            .shape_fn = [](InferenceContext& c) -> Status {
              c.AddOutput(c.input_dtype(1), c.input_shape(2));
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             const Tensor& idx = c.input(0);
             const Tensor& values = c.input(1);
             const Tensor& like = c.input(2);
             const int64_t rows = like.shape().dim(0);
             const int64_t row = rows == 0 ? 0 : like.num_elements() / rows;
             if (values.num_elements() != idx.num_elements() * row) {
               return InvalidArgumentError("ScatterAddLike: ", idx.num_elements(), " indices but values of shape ",
                                           values.shape().DebugString(), " for rows of ", row, " elements");
             }
             Tensor* out = c.AllocateOutput(0, like.shape());
             std::memset(out->raw_data(), 0, out->TotalBytes());
             PSFLOW_NUMERIC_DISPATCH(values.dtype(), {
               auto o = out->flat<T>();
               auto v = values.flat<T>();
               for (int64_t i = 0; i < idx.num_elements(); ++i) {
                 const int64_t r = IndexAt(idx, i);
                 if (r < 0 || r >= rows) return InvalidArgumentError("index ", r, " is not in [0, ", rows, ")");
                 for (int64_t k = 0; k < row; ++k) o[static_cast<size_t>(r * row + k)] += v[static_cast<size_t>(i * row + k)];
               }
             });
             return OkStatus();
           });
}

namespace ops {
Output Gather(const Scope& s, Output params, Output indices, const std::string& name) {
  return MakeOp(s, "Gather", name, {params, indices});
}
}  // namespace ops
}  // namespace psflow
