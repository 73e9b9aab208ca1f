// Gather (embedding lookup) with a row-sparse gradient, and ScatterAddLike,
// which turns row-sparse gradients into dense ones when they must be summed
// with dense gradients.
#include <cstring>
#include <memory>
#include <mutex>

#include "common/core/hash.h"

#include "common/ops/op_util.h"
#include "common/ops/ops.h"

namespace psflow {
namespace {

using op_util::DefineOp;

using op_util::IndexAt;

// id -> position in a dynamic table's keys tensor, built once per keys
// tensor (a restore or a new checkpoint brings a new one) and kept in the
// node's KernelState.  Open addressing over positions + 1.
class KeyIndex {
 public:
  explicit KeyIndex(const Tensor& keys) : keys_(keys) {
    const int64_t n = keys.num_elements();
    size_t cap = 16;
    while (static_cast<double>(n) > 0.6 * static_cast<double>(cap)) cap *= 2;
    slots_.assign(cap, 0);
    const auto k = keys.flat<int64_t>();
    for (int64_t i = 0; i < n; ++i) {
      size_t s = Home(k[static_cast<size_t>(i)]);
      while (slots_[s] != 0 && k[static_cast<size_t>(slots_[s] - 1)] != k[static_cast<size_t>(i)]) s = (s + 1) & (cap - 1);
      if (slots_[s] == 0) slots_[s] = i + 1;  // a repeated key keeps its first row
    }
  }
  bool Indexes(const Tensor& keys) const {
    return keys.raw_data() == keys_.raw_data() && keys.num_elements() == keys_.num_elements();
  }
  int64_t Find(int64_t id) const {
    const auto k = keys_.flat<int64_t>();
    for (size_t s = Home(id);; s = (s + 1) & (slots_.size() - 1)) {
      if (slots_[s] == 0) return -1;
      if (k[static_cast<size_t>(slots_[s] - 1)] == id) return slots_[s] - 1;
    }
  }

 private:
  size_t Home(int64_t id) const { return Mix64(static_cast<uint64_t>(id)) & (slots_.size() - 1); }
  Tensor keys_;  // holds the buffer, so its address identifies it
  std::vector<int64_t> slots_;
};

StatusOr<std::shared_ptr<const KeyIndex>> IndexOf(OpKernelContext& c, const Tensor& keys) {
  if (keys.dtype() != DType::kInt64 || keys.shape().rank() != 1) {
    return InvalidArgumentError("the keys of a dynamic embedding table must be an int64 vector, got ",
                                DTypeName(keys.dtype()), " ", keys.shape().DebugString());
  }
  KernelState* st = c.state();
  std::lock_guard<std::mutex> l(st->mu);
  auto index = std::static_pointer_cast<const KeyIndex>(st->aux);
  if (index == nullptr || !index->Indexes(keys)) {
    index = std::make_shared<const KeyIndex>(keys);
    st->aux = index;
  }
  return index;
}

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
  // DynamicEmbeddingLookup(keys [N], values [N, d], ids [...]) -> [..., d]:
  // the row of each id in a dynamic table's tensors, zeros for ids it
  // lacks (not admitted, evicted, or never seen), as DeepRec's lookups
  // answer.  Its gradient reaches the values of the ids found.
  DefineOp({.type = "DynamicEmbeddingLookup",
            .num_inputs = 3,
            .shape_fn = [](InferenceContext& c) -> Status {
              if (c.input_dtype(0) != DType::kInt64) return InvalidArgumentError("keys must be int64, got ", c.input_dtype(0));
              if (!op_util::IsFloat(c.input_dtype(1))) return InvalidArgumentError("values must be float, got ", c.input_dtype(1));
              if (c.input_dtype(2) != DType::kInt64 && c.input_dtype(2) != DType::kInt32) {
                return InvalidArgumentError("ids must be int32 or int64, got ", c.input_dtype(2));
              }
              const PartialShape& v = c.input_shape(1);
              const PartialShape& ids = c.input_shape(2);
              if (v.unknown_rank() || ids.unknown_rank()) {
                c.AddOutput(c.input_dtype(1), PartialShape::Unknown());
                return OkStatus();
              }
              if (v.rank() != 2) return InvalidArgumentError("values must be [rows, dim], got ", v.DebugString());
              std::vector<int64_t> dims = ids.dims();
              dims.push_back(v.dim(1));
              c.AddOutput(c.input_dtype(1), PartialShape(dims));
              return OkStatus();
            },
            .grad = [](GradContext& g) -> Status {
              const Scope& s = g.scope;
              Output keys = g.node->inputs()[0], values = g.node->inputs()[1], ids = g.node->inputs()[2];
              const PartialShape& vs = values.shape();
              if (vs.unknown_rank() || vs.rank() != 2 || vs.dim(1) < 0) {
                return InvalidArgumentError("the gradient of DynamicEmbeddingLookup needs the width of ", values.name());
              }
              Node* where = ops::MakeNode(s, "DynamicEmbeddingIndex", "DynamicEmbeddingIndex",
                                          {keys, ops::Reshape(s, ids, {-1})});
              RETURN_IF_ERROR(s.status());
              Output rows = ops::Gather(s, ops::Reshape(s, g.grads_out[0], {-1, vs.dim(1)}), where->output(1));
              (*g.sparse_grads_in)[1] = std::make_pair(where->output(0), rows);
              return OkStatus();
            },
            .caches = true},
           [](OpKernelContext& c) -> Status {
             const Tensor& values = c.input(1);
             const Tensor& ids = c.input(2);
             ASSIGN_OR_RETURN(auto index, IndexOf(c, c.input(0)));
             if (values.shape().rank() != 2 || values.shape().dim(0) != c.input(0).num_elements()) {
               return InvalidArgumentError("a dynamic table's values ", values.shape().DebugString(), " do not match its ",
                                           c.input(0).num_elements(), " keys");
             }
             const int64_t d = values.shape().dim(1);
             std::vector<int64_t> dims = ids.shape().dims();
             dims.push_back(d);
             Tensor* out = c.AllocateOutput(0, TensorShape(dims));
             const size_t es = DTypeSize(values.dtype());
             const size_t row = static_cast<size_t>(d) * es;
             const char* src = static_cast<const char*>(values.raw_data());
             char* dst = static_cast<char*>(out->raw_data());
             for (int64_t i = 0; i < ids.num_elements(); ++i) {
               const int64_t r = index->Find(IndexAt(ids, i));
               if (r < 0) {
                 std::memset(dst + static_cast<size_t>(i) * row, 0, row);
               } else {
                 std::memcpy(dst + static_cast<size_t>(i) * row, src + static_cast<size_t>(r) * row, row);
               }
             }
             return OkStatus();
           });
  // DynamicEmbeddingIndex(keys [N], ids [n]) -> (rows [m], which [m]), int64:
  // for the m ids found, their row in keys and their position in ids.
  DefineOp({.type = "DynamicEmbeddingIndex",
            .num_inputs = 2,
            .shape_fn = [](InferenceContext& c) -> Status {
              c.AddOutput(DType::kInt64, PartialShape({kUnknownDim}));
              c.AddOutput(DType::kInt64, PartialShape({kUnknownDim}));
              return OkStatus();
            },
            .caches = true},
           [](OpKernelContext& c) -> Status {
             const Tensor& ids = c.input(1);
             ASSIGN_OR_RETURN(auto index, IndexOf(c, c.input(0)));
             std::vector<int64_t> rows, which;
             for (int64_t i = 0; i < ids.num_elements(); ++i) {
               const int64_t r = index->Find(IndexAt(ids, i));
               if (r < 0) continue;
               rows.push_back(r);
               which.push_back(i);
             }
             const int64_t m = static_cast<int64_t>(rows.size());
             c.SetOutput(0, Tensor::FromVector<int64_t>(rows, TensorShape({m})));
             c.SetOutput(1, Tensor::FromVector<int64_t>(which, TensorShape({m})));
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
Output DynamicEmbeddingLookup(const Scope& s, Output keys, Output values, Output ids, const std::string& name) {
  return MakeOp(s, "DynamicEmbeddingLookup", name, {keys, values, ids});
}
}  // namespace ops
}  // namespace psflow
