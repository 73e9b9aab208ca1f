// Ops of categorical features, with TensorFlow's names and results:
// AsString (integers as decimal text) and StringToHashBucketFast
// (Fingerprint64(s) % num_buckets), which categorical_column_with_hash_bucket
// composes for int and string ids; Bucketize (bucketized_column); Unique and
// the SparseSegment reductions
// (sum, mean, sqrtn) that embedding_column's lookup is made of.
#include <farmhash.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <unordered_map>

#include "common/ops/fingerprint.h"
#include "common/ops/op_util.h"
#include "common/ops/ops.h"

namespace psflow {

uint64_t Fingerprint64(std::string_view s) { return util::Fingerprint64(s.data(), s.size()); }

uint64_t FingerprintCat64(uint64_t fp1, uint64_t fp2) {
  // The multiplier and shifts of TensorFlow's FingerprintCat64.
  constexpr uint64_t kMul = 0xc6a4a7935bd1e995ULL;
  auto shift_mix = [](uint64_t v) { return v ^ (v >> 47); };
  uint64_t r = fp1 ^ kMul;
  r ^= shift_mix(fp2 * kMul) * kMul;
  r *= kMul;
  r = shift_mix(r) * kMul;
  return shift_mix(r);
}

namespace {

using op_util::DefineOp;

using op_util::IndexAt;

bool IsIndex(DType t) { return t == DType::kInt32 || t == DType::kInt64; }

enum class Combiner { kSum, kMean, kSqrtN };

Combiner CombinerOf(const std::string& type) {
  if (type.find("Mean") != std::string::npos) return Combiner::kMean;
  if (type.find("SqrtN") != std::string::npos) return Combiner::kSqrtN;
  return Combiner::kSum;
}

// "Sum", "Mean" or "SqrtN" of a SparseSegment op type.
std::string CombinerName(const std::string& type) {
  switch (CombinerOf(type)) {
    case Combiner::kMean: return "Mean";
    case Combiner::kSqrtN: return "SqrtN";
    default: return "Sum";
  }
}

// The weight of each entry of a segment: 1, 1/count or 1/sqrt(count).
std::vector<double> SegmentWeights(Combiner comb, const Tensor& segment_ids, int64_t num_segments) {
  std::vector<int64_t> count(static_cast<size_t>(num_segments));
  for (int64_t j = 0; j < segment_ids.num_elements(); ++j) ++count[static_cast<size_t>(IndexAt(segment_ids, j))];
  std::vector<double> w(count.size());
  for (size_t k = 0; k < count.size(); ++k) {
    const double c = static_cast<double>(count[k]);
    w[k] = comb == Combiner::kSum || c == 0 ? 1.0 : (comb == Combiner::kMean ? 1.0 / c : 1.0 / std::sqrt(c));
  }
  return w;
}

// Checks indices (into `rows` rows) and segment ids (in [0, num_segments)).
Status CheckSegments(const char* op, const Tensor& indices, const Tensor& segment_ids, int64_t rows,
                     int64_t num_segments) {
  if (indices.shape().rank() != 1 || !(indices.shape() == segment_ids.shape())) {
    return InvalidArgumentError(op, ": indices ", indices.shape().DebugString(), " and segment_ids ",
                                segment_ids.shape().DebugString(), " must be vectors of one length");
  }
  for (int64_t j = 0; j < indices.num_elements(); ++j) {
    const int64_t i = IndexAt(indices, j), g = IndexAt(segment_ids, j);
    if (i < 0 || i >= rows) return InvalidArgumentError(op, ": indices[", j, "] = ", i, " is not in [0, ", rows, ")");
    if (g < 0 || g >= num_segments) {
      return InvalidArgumentError(op, ": segment_ids[", j, "] = ", g, " is not in [0, ", num_segments, ")");
    }
  }
  return OkStatus();
}

// out[segment_ids[j]] += w * data[indices[j]] (forward), or
// out[indices[j]] += w * data[segment_ids[j]] (the gradient).
template <typename T>
void ScaledRowSum(const Tensor& data, const Tensor& from, const Tensor& to, const std::vector<double>& w,
                  const Tensor& segment_ids, int64_t row, Tensor* out) {
  const T* d = static_cast<const T*>(data.raw_data());
  T* o = static_cast<T*>(out->raw_data());
  for (int64_t j = 0; j < from.num_elements(); ++j) {
    const T* src = d + IndexAt(from, j) * row;
    T* dst = o + IndexAt(to, j) * row;
    const T scale = static_cast<T>(w[static_cast<size_t>(IndexAt(segment_ids, j))]);
    for (int64_t k = 0; k < row; ++k) dst[k] += scale * src[k];
  }
}

}  // namespace

void RegisterFeatureOpsOnce() {
  DefineOp({.type = "AsString",
            .num_inputs = 1,
            .shape_fn = [](InferenceContext& c) -> Status {
              if (c.input_dtype(0) != DType::kInt32 && c.input_dtype(0) != DType::kInt64) {
                return InvalidArgumentError("AsString takes int32 or int64 here, got ", c.input_dtype(0));
              }
              c.AddOutput(DType::kString, c.input_shape(0));
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             const Tensor& in = c.input(0);
             Tensor* out = c.AllocateOutput(0, in.shape());
             auto o = out->flat<std::string>();
             for (size_t i = 0; i < o.size(); ++i) {
               o[i] = in.dtype() == DType::kInt64 ? std::to_string(in.flat<int64_t>()[i])
                                                  : std::to_string(in.flat<int32_t>()[i]);
             }
             return OkStatus();
           });
  DefineOp({.type = "StringToHashBucketFast",
            .num_inputs = 1,
            .shape_fn = [](InferenceContext& c) -> Status {
              if (c.input_dtype(0) != DType::kString) {
                return InvalidArgumentError("StringToHashBucketFast takes strings, got ", c.input_dtype(0),
                                            " (AsString first for integer ids)");
              }
              ASSIGN_OR_RETURN(int64_t n, c.GetAttr<int64_t>("num_buckets"));
              if (n < 1) return InvalidArgumentError("StringToHashBucketFast: num_buckets must be >= 1, got ", n);
              c.AddOutput(DType::kInt64, c.input_shape(0));
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             ASSIGN_OR_RETURN(int64_t n, c.GetAttr<int64_t>("num_buckets"));
             const Tensor& in = c.input(0);
             Tensor* out = c.AllocateOutput(0, in.shape());
             auto s = in.flat<std::string>();
             auto o = out->flat<int64_t>();
             for (size_t i = 0; i < s.size(); ++i) o[i] = static_cast<int64_t>(Fingerprint64(s[i]) % static_cast<uint64_t>(n));
             return OkStatus();
           });
  // Bucketize(x; boundaries): int32 per element, the number of boundaries
  // <= x (TensorFlow's, so bucketized_column's buckets).
  DefineOp({.type = "Bucketize",
            .num_inputs = 1,
            .shape_fn = [](InferenceContext& c) -> Status {
              const DType t = c.input_dtype(0);
              if (!op_util::IsFloat(t) && !IsIndex(t)) return InvalidArgumentError("Bucketize takes numbers, got ", t);
              ASSIGN_OR_RETURN(std::vector<float> b, c.GetAttr<std::vector<float>>("boundaries"));
              if (!std::is_sorted(b.begin(), b.end())) return InvalidArgumentError("Bucketize: boundaries must be sorted");
              c.AddOutput(DType::kInt32, c.input_shape(0));
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             ASSIGN_OR_RETURN(std::vector<float> b, c.GetAttr<std::vector<float>>("boundaries"));
             const Tensor& x = c.input(0);
             Tensor* out = c.AllocateOutput(0, x.shape());
             auto o = out->flat<int32_t>();
             PSFLOW_NUMERIC_DISPATCH(x.dtype(), {
               auto v = x.flat<T>();
               for (size_t i = 0; i < v.size(); ++i) {
                 const double xv = static_cast<double>(v[i]);
                 o[i] = static_cast<int32_t>(std::upper_bound(b.begin(), b.end(), xv,
                                                              [](double a, float e) { return a < static_cast<double>(e); }) -
                                             b.begin());
               }
             });
             return OkStatus();
           });
  // Unique(x) -> (y, idx): the distinct values in order of first
  // appearance, and each element's position in y (int32), as TensorFlow's.
  DefineOp({.type = "Unique",
            .num_inputs = 1,
            .shape_fn = [](InferenceContext& c) -> Status {
              if (!IsIndex(c.input_dtype(0))) return InvalidArgumentError("Unique takes int32 or int64 here, got ", c.input_dtype(0));
              c.AddOutput(c.input_dtype(0), PartialShape({kUnknownDim}));
              c.AddOutput(DType::kInt32, c.input_shape(0));
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             const Tensor& x = c.input(0);
             if (x.shape().rank() != 1) return InvalidArgumentError("Unique: x must be a vector, got ", x.shape().DebugString());
             std::unordered_map<int64_t, int32_t> pos;
             std::vector<int64_t> y;
             Tensor* idx = c.AllocateOutput(1, x.shape());
             for (int64_t i = 0; i < x.num_elements(); ++i) {
               auto [it, fresh] = pos.try_emplace(IndexAt(x, i), static_cast<int32_t>(y.size()));
               if (fresh) y.push_back(it->first);
               idx->flat<int32_t>()[static_cast<size_t>(i)] = it->second;
             }
             Tensor* out = c.AllocateOutput(0, TensorShape({static_cast<int64_t>(y.size())}));
             for (size_t i = 0; i < y.size(); ++i) {
               if (x.dtype() == DType::kInt64) out->flat<int64_t>()[i] = y[i];
               else out->flat<int32_t>()[i] = static_cast<int32_t>(y[i]);
             }
             return OkStatus();
           });
  // SparseSegment{Sum,Mean,SqrtN}WithNumSegments(data, indices, segment_ids,
  // num_segments): output[k] = the combination of data[indices[j]] over the
  // j with segment_ids[j] == k; an empty segment is zeros.
  // The forms without num_segments (what tf.nn.embedding_lookup_sparse
  // writes) give segment_ids' last value + 1 rows (sorted ids, as
  // TensorFlow requires there).
  for (const char* type : {"SparseSegmentSumWithNumSegments", "SparseSegmentMeanWithNumSegments",
                           "SparseSegmentSqrtNWithNumSegments", "SparseSegmentSum", "SparseSegmentMean",
                           "SparseSegmentSqrtN"}) {
    const bool with_num = std::string_view(type).ends_with("WithNumSegments");
    DefineOp({.type = type,
              .num_inputs = with_num ? 4 : 3,
              .shape_fn = [](InferenceContext& c) -> Status {
                if (!op_util::IsFloat(c.input_dtype(0))) {
                  return InvalidArgumentError("SparseSegment reductions take float data, got ", c.input_dtype(0));
                }
                for (int i = 1; i < c.num_inputs(); ++i) {
                  if (!IsIndex(c.input_dtype(i))) return InvalidArgumentError("input ", i, " must be int32 or int64, got ", c.input_dtype(i));
                }
                const PartialShape& d = c.input_shape(0);
                if (d.unknown_rank()) {
                  c.AddOutput(c.input_dtype(0), PartialShape::Unknown());
                  return OkStatus();
                }
                if (d.rank() < 1) return InvalidArgumentError("SparseSegment data must have rank >= 1");
                std::vector<int64_t> dims = d.dims();
                dims[0] = kUnknownDim;
                c.AddOutput(c.input_dtype(0), PartialShape(dims));
                return OkStatus();
              },
              .grad = [](GradContext& g) -> Status {
                const Node* n = g.node;
                (*g.grads_in)[0] = ops::MakeOp(g.scope, "SparseSegmentReduceGrad", "SparseSegmentReduceGrad",
                                               {g.grads_out[0], n->inputs()[1], n->inputs()[2], n->inputs()[0]},
                                               {{"combiner", CombinerName(n->type())}});
                return OkStatus();
              }},
             [type](OpKernelContext& c) -> Status {
               const Tensor& data = c.input(0);
               const Tensor& indices = c.input(1);
               const Tensor& seg = c.input(2);
               if (c.num_inputs() == 3) {
                 for (int64_t j = 1; j < seg.num_elements(); ++j) {
                   if (IndexAt(seg, j) < IndexAt(seg, j - 1)) {
                     return InvalidArgumentError(type, ": segment_ids must be sorted (segment_ids[", j, "] = ",
                                                 IndexAt(seg, j), " < ", IndexAt(seg, j - 1), ")");
                   }
                 }
               }
               const int64_t num = c.num_inputs() == 4 ? IndexAt(c.input(3), 0)
                                   : seg.num_elements() == 0 ? 0
                                                             : IndexAt(seg, seg.num_elements() - 1) + 1;
               if (data.shape().rank() < 1) return InvalidArgumentError(type, ": data must have rank >= 1");
               if (num < 0) return InvalidArgumentError(type, ": num_segments must be >= 0, got ", num);
               RETURN_IF_ERROR(CheckSegments(type, indices, seg, data.shape().dim(0), num));
               std::vector<int64_t> dims = data.shape().dims();
               dims[0] = num;
               Tensor* out = c.AllocateOutput(0, TensorShape(dims));
               std::memset(out->raw_data(), 0, out->TotalBytes());
               const int64_t row = data.shape().dim(0) == 0 ? 0 : data.num_elements() / data.shape().dim(0);
               const auto w = SegmentWeights(CombinerOf(type), seg, num);
               if (data.dtype() == DType::kFloat) ScaledRowSum<float>(data, indices, seg, w, seg, row, out);
               else ScaledRowSum<double>(data, indices, seg, w, seg, row, out);
               return OkStatus();
             });
  }
  // The gradient for `data` of a SparseSegment reduction: (grad [segments,
  // row...], indices, segment_ids, data) -> zeros like data with each
  // entry's weighted segment gradient added to its row (psflow's; TensorFlow
  // has one op per combiner, taking data's row count).
  DefineOp({.type = "SparseSegmentReduceGrad",
            .num_inputs = 4,
            .shape_fn = [](InferenceContext& c) -> Status {
              c.AddOutput(c.input_dtype(0), c.input_shape(3));
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             const Tensor& grad = c.input(0);
             const Tensor& indices = c.input(1);
             const Tensor& seg = c.input(2);
             const Tensor& like = c.input(3);
             ASSIGN_OR_RETURN(std::string comb, c.GetAttr<std::string>("combiner"));
             const int64_t num = grad.shape().rank() < 1 ? 0 : grad.shape().dim(0);
             RETURN_IF_ERROR(CheckSegments("SparseSegmentReduceGrad", indices, seg, like.shape().dim(0), num));
             Tensor* out = c.AllocateOutput(0, like.shape());
             std::memset(out->raw_data(), 0, out->TotalBytes());
             const int64_t row = num == 0 ? 0 : grad.num_elements() / num;
             const auto w = SegmentWeights(CombinerOf(comb), seg, num);
             if (grad.dtype() == DType::kFloat) ScaledRowSum<float>(grad, seg, indices, w, seg, row, out);
             else ScaledRowSum<double>(grad, seg, indices, w, seg, row, out);
             return OkStatus();
           });
  // DenseToSparse(x) -> (indices [n, 2], values [n], dense_shape [2]): the
  // SparseTensor of a dense [batch, k] (or [batch]) categorical input, as
  // feature columns convert one: entries equal to the missing value (-1 for
  // integers, "" for strings) dropped when drop_missing; integer values
  // become int64, plus column * column_offset (bucketized_column's ids).
  DefineOp({.type = "DenseToSparse",
            .num_inputs = 1,
            .shape_fn = [](InferenceContext& c) -> Status {
              const DType t = c.input_dtype(0);
              if (!IsIndex(t) && t != DType::kString) {
                return InvalidArgumentError("DenseToSparse takes int32, int64 or string ids, got ", t);
              }
              c.AddOutput(DType::kInt64, PartialShape({kUnknownDim, 2}));
              c.AddOutput(t == DType::kString ? t : DType::kInt64, PartialShape({kUnknownDim}));
              c.AddOutput(DType::kInt64, PartialShape({2}));
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             const Tensor& x = c.input(0);
             ASSIGN_OR_RETURN(bool drop, c.GetAttr<bool>("drop_missing"));
             ASSIGN_OR_RETURN(int64_t offset, c.GetAttr<int64_t>("column_offset"));
             if (x.shape().rank() < 1 || x.shape().rank() > 2) {
               return InvalidArgumentError("DenseToSparse: ids must be [batch] or [batch, k], got ", x.shape().DebugString());
             }
             const int64_t b = x.shape().dim(0), k = x.shape().rank() == 2 ? x.shape().dim(1) : 1;
             const bool str = x.dtype() == DType::kString;
             std::vector<int64_t> keep;
             keep.reserve(static_cast<size_t>(b * k));
             for (int64_t i = 0; i < b * k; ++i) {
               const bool missing = str ? x.flat<std::string>()[static_cast<size_t>(i)].empty() : IndexAt(x, i) == -1;
               if (!(drop && missing)) keep.push_back(i);
             }
             const int64_t n = static_cast<int64_t>(keep.size());
             Tensor* ind = c.AllocateOutput(0, TensorShape({n, 2}));
             Tensor* val = c.AllocateOutput(1, TensorShape({n}));
             Tensor* shape = c.AllocateOutput(2, TensorShape({2}));
             shape->flat<int64_t>()[0] = b;
             shape->flat<int64_t>()[1] = k;
             auto id = ind->flat<int64_t>();
             for (size_t j = 0; j < keep.size(); ++j) {
               const int64_t i = keep[j];
               id[2 * j] = i / k;
               id[2 * j + 1] = i % k;
               if (str) val->flat<std::string>()[j] = x.flat<std::string>()[static_cast<size_t>(i)];
               else val->flat<int64_t>()[j] = IndexAt(x, i) + (i % k) * offset;
             }
             return OkStatus();
           });
  // SparseCrossHashed(indices x N, values x N, dense_shapes x N): TensorFlow's
  // SparseCross with hashed_output (crossed_column): per example the
  // cartesian product of the N features' values, the last feature varying
  // fastest, each cross FingerprintCat64(...FingerprintCat64(hash_key, h0)..., hN-1)
  // % num_buckets, where h is an int64 value itself or a string's
  // Fingerprint64.  Output: the crosses as a SparseTensor [batch, max crosses].
  DefineOp({.type = "SparseCrossHashed",
            .shape_fn = [](InferenceContext& c) -> Status {
              if (c.num_inputs() == 0 || c.num_inputs() % 3 != 0) {
                return InvalidArgumentError("SparseCrossHashed takes N indices, N values and N dense_shapes, got ",
                                            c.num_inputs(), " inputs");
              }
              const int n = c.num_inputs() / 3;
              for (int i = 0; i < n; ++i) {
                const DType v = c.input_dtype(n + i);
                if (c.input_dtype(i) != DType::kInt64 || c.input_dtype(2 * n + i) != DType::kInt64 ||
                    (v != DType::kInt64 && v != DType::kString)) {
                  return InvalidArgumentError("SparseCrossHashed: feature ", i, " must be int64 indices and shape with int64 or "
                                              "string values, got values of ", v);
                }
              }
              ASSIGN_OR_RETURN(int64_t nb, c.GetAttr<int64_t>("num_buckets"));
              if (nb < 0) return InvalidArgumentError("SparseCrossHashed: num_buckets must be >= 0, got ", nb);
              c.AddOutput(DType::kInt64, PartialShape({kUnknownDim, 2}));
              c.AddOutput(DType::kInt64, PartialShape({kUnknownDim}));
              c.AddOutput(DType::kInt64, PartialShape({2}));
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             const int n = c.num_inputs() / 3;
             ASSIGN_OR_RETURN(int64_t nb, c.GetAttr<int64_t>("num_buckets"));
             ASSIGN_OR_RETURN(int64_t key, c.GetAttr<int64_t>("hash_key"));
             // Each feature's hashes, and where each example's start (indices are row-major sorted).
             std::vector<std::vector<uint64_t>> h(static_cast<size_t>(n));
             std::vector<std::vector<int64_t>> start(static_cast<size_t>(n));
             int64_t batch = -1;
             for (int f = 0; f < n; ++f) {
               const Tensor& ind = c.input(f);
               const Tensor& val = c.input(n + f);
               const Tensor& shp = c.input(2 * n + f);
               if (ind.shape().rank() != 2 || ind.shape().dim(1) != 2 || val.shape().rank() != 1 ||
                   val.shape().dim(0) != ind.shape().dim(0) || shp.num_elements() != 2) {
                 return InvalidArgumentError("SparseCrossHashed: feature ", f, " is not a 2-D SparseTensor (indices ",
                                             ind.shape().DebugString(), ", values ", val.shape().DebugString(), ")");
               }
               const int64_t b = shp.flat<int64_t>()[0];
               if (batch >= 0 && b != batch) {
                 return InvalidArgumentError("SparseCrossHashed: feature ", f, " has batch ", b, ", feature 0 has ", batch);
               }
               batch = b;
               auto& hf = h[static_cast<size_t>(f)];
               auto& sf = start[static_cast<size_t>(f)];
               const int64_t m = val.num_elements();
               hf.resize(static_cast<size_t>(m));
               for (int64_t j = 0; j < m; ++j) {
                 hf[static_cast<size_t>(j)] = val.dtype() == DType::kString
                                                  ? Fingerprint64(val.flat<std::string>()[static_cast<size_t>(j)])
                                                  : static_cast<uint64_t>(val.flat<int64_t>()[static_cast<size_t>(j)]);
               }
               sf.assign(static_cast<size_t>(b + 1), 0);
               auto rows = ind.flat<int64_t>();
               int64_t prev = 0;
               for (int64_t j = 0; j < m; ++j) {
                 const int64_t r = rows[static_cast<size_t>(2 * j)];
                 if (r < prev || r >= b) {
                   return InvalidArgumentError("SparseCrossHashed: feature ", f, " row ", r, " at entry ", j,
                                               " is out of order or not in [0, ", b, ")");
                 }
                 prev = r;
                 ++sf[static_cast<size_t>(r + 1)];
               }
               for (int64_t r = 0; r < b; ++r) sf[static_cast<size_t>(r + 1)] += sf[static_cast<size_t>(r)];
             }
             std::vector<int64_t> count(static_cast<size_t>(batch), 1);
             int64_t total = 0, widest = 0;
             for (int64_t r = 0; r < batch; ++r) {
               for (int f = 0; f < n; ++f) {
                 count[static_cast<size_t>(r)] *= start[static_cast<size_t>(f)][static_cast<size_t>(r + 1)] -
                                                  start[static_cast<size_t>(f)][static_cast<size_t>(r)];
               }
               total += count[static_cast<size_t>(r)];
               widest = std::max(widest, count[static_cast<size_t>(r)]);
             }
             Tensor* ind = c.AllocateOutput(0, TensorShape({total, 2}));
             Tensor* val = c.AllocateOutput(1, TensorShape({total}));
             Tensor* shp = c.AllocateOutput(2, TensorShape({2}));
             shp->flat<int64_t>()[0] = batch;
             shp->flat<int64_t>()[1] = widest;
             auto oi = ind->flat<int64_t>();
             auto ov = val->flat<int64_t>();
             size_t out = 0;
             std::vector<int64_t> pos(static_cast<size_t>(n));
             for (int64_t r = 0; r < batch; ++r) {
               for (int64_t k = 0; k < count[static_cast<size_t>(r)]; ++k) {
                 // k as a mixed-radix number, the last feature the fastest digit.
                 int64_t rest = k;
                 for (int f = n - 1; f >= 0; --f) {
                   const int64_t lo = start[static_cast<size_t>(f)][static_cast<size_t>(r)];
                   const int64_t len = start[static_cast<size_t>(f)][static_cast<size_t>(r + 1)] - lo;
                   pos[static_cast<size_t>(f)] = lo + rest % len;
                   rest /= len;
                 }
                 uint64_t x = static_cast<uint64_t>(key);
                 for (int f = 0; f < n; ++f) x = FingerprintCat64(x, h[static_cast<size_t>(f)][static_cast<size_t>(pos[static_cast<size_t>(f)])]);
                 const uint64_t mod = nb > 0 ? static_cast<uint64_t>(nb) : static_cast<uint64_t>(INT64_MAX);
                 oi[2 * out] = r;
                 oi[2 * out + 1] = k;
                 ov[out++] = static_cast<int64_t>(x % mod);
               }
             }
             return OkStatus();
           });
  // VocabularyLookup(values) -> ids: each value's position in the
  // vocabulary (strings, or integers for int64 values), else
  // size + Fingerprint64(as string) % num_oov_buckets, else default_value
  // (categorical_column_with_vocabulary_list's ids).
  DefineOp({.type = "VocabularyLookup",
            .num_inputs = 1,
            .shape_fn = [](InferenceContext& c) -> Status {
              const DType v = c.input_dtype(0);
              if (v != DType::kInt64 && v != DType::kString) {
                return InvalidArgumentError("VocabularyLookup takes int64 or string values, got ", v);
              }
              c.AddOutput(DType::kInt64, c.input_shape(0));
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             ASSIGN_OR_RETURN(std::vector<std::string> vocab, c.GetAttr<std::vector<std::string>>("vocabulary"));
             ASSIGN_OR_RETURN(int64_t oov, c.GetAttr<int64_t>("num_oov_buckets"));
             ASSIGN_OR_RETURN(int64_t dflt, c.GetAttr<int64_t>("default_value"));
             const Tensor& val = c.input(0);
             std::unordered_map<std::string, int64_t> pos;
             for (size_t i = 0; i < vocab.size(); ++i) pos.emplace(vocab[i], static_cast<int64_t>(i));
             Tensor* out = c.AllocateOutput(0, val.shape());
             auto o = out->flat<int64_t>();
             for (size_t j = 0; j < o.size(); ++j) {
               const std::string s = val.dtype() == DType::kString ? val.flat<std::string>()[j] : std::to_string(val.flat<int64_t>()[j]);
               auto it = pos.find(s);
               if (it != pos.end()) o[j] = it->second;
               else if (oov > 0) o[j] = static_cast<int64_t>(vocab.size()) + static_cast<int64_t>(Fingerprint64(s) % static_cast<uint64_t>(oov));
               else o[j] = dflt;
             }
             return OkStatus();
           });
  // SparseDropNegative(indices, values) -> (indices, values): the entries
  // with values >= 0, as TensorFlow's safe embedding lookup prunes ids
  // (a vocabulary's -1 for values it does not know).
  DefineOp({.type = "SparseDropNegative",
            .num_inputs = 2,
            .shape_fn = [](InferenceContext& c) -> Status {
              if (c.input_dtype(0) != DType::kInt64 || c.input_dtype(1) != DType::kInt64) {
                return InvalidArgumentError("SparseDropNegative takes int64 indices and values");
              }
              c.AddOutput(DType::kInt64, PartialShape({kUnknownDim, 2}));
              c.AddOutput(DType::kInt64, PartialShape({kUnknownDim}));
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             const Tensor& ind = c.input(0);
             const Tensor& val = c.input(1);
             if (ind.shape().rank() != 2 || ind.shape().dim(1) != 2 || val.num_elements() != ind.shape().dim(0)) {
               return InvalidArgumentError("SparseDropNegative: indices ", ind.shape().DebugString(), " and values ",
                                           val.shape().DebugString(), " are not one SparseTensor");
             }
             auto v = val.flat<int64_t>();
             const int64_t kept = std::count_if(v.begin(), v.end(), [](int64_t x) { return x >= 0; });
             Tensor* oi = c.AllocateOutput(0, TensorShape({kept, 2}));
             Tensor* ov = c.AllocateOutput(1, TensorShape({kept}));
             size_t o = 0;
             for (size_t j = 0; j < v.size(); ++j) {
               if (v[j] < 0) continue;
               oi->flat<int64_t>()[2 * o] = ind.flat<int64_t>()[2 * j];
               oi->flat<int64_t>()[2 * o + 1] = ind.flat<int64_t>()[2 * j + 1];
               ov->flat<int64_t>()[o++] = v[j];
             }
             return OkStatus();
           });
}

namespace ops {
Output AsString(const Scope& s, Output x, const std::string& name) { return MakeOp(s, "AsString", name, {x}); }
Output StringToHashBucketFast(const Scope& s, Output input, int64_t num_buckets, const std::string& name) {
  return MakeOp(s, "StringToHashBucketFast", name, {input}, {{"num_buckets", num_buckets}});
}
Output Bucketize(const Scope& s, Output x, std::vector<float> boundaries, const std::string& name) {
  return MakeOp(s, "Bucketize", name, {x}, {{"boundaries", std::move(boundaries)}});
}
std::pair<Output, Output> Unique(const Scope& s, Output x, const std::string& name) {
  Node* n = MakeNode(s, "Unique", name, {x});
  if (n == nullptr) return {};
  return {n->output(0), n->output(1)};
}
Output SparseSegmentReduce(const Scope& s, const std::string& combiner, Output data, Output indices, Output segment_ids,
                           Output num_segments, const std::string& name) {
  const std::string kind = combiner == "mean" ? "Mean" : (combiner == "sqrtn" ? "SqrtN" : "Sum");
  const std::string type = StrCat("SparseSegment", kind, "WithNumSegments");
  return MakeOp(s, type, name.empty() ? type : name, {data, indices, segment_ids, num_segments});
}
SparseIds DenseToSparse(const Scope& s, Output x, bool drop_missing, int64_t column_offset, const std::string& name) {
  Node* n = MakeNode(s, "DenseToSparse", name, {x}, {{"drop_missing", drop_missing}, {"column_offset", column_offset}});
  if (n == nullptr) return {};
  return {n->output(0), n->output(1), n->output(2)};
}
SparseIds SparseCrossHashed(const Scope& s, const std::vector<SparseIds>& features, int64_t num_buckets, uint64_t hash_key,
                            const std::string& name) {
  std::vector<Output> in;
  for (const SparseIds& f : features) in.push_back(f.indices);
  for (const SparseIds& f : features) in.push_back(f.values);
  for (const SparseIds& f : features) in.push_back(f.dense_shape);
  Node* n = MakeNode(s, "SparseCrossHashed", name, in,
                     {{"num_buckets", num_buckets}, {"hash_key", static_cast<int64_t>(hash_key)}});
  if (n == nullptr) return {};
  return {n->output(0), n->output(1), n->output(2)};
}
Output VocabularyLookup(const Scope& s, Output values, std::vector<std::string> vocabulary, int64_t num_oov_buckets,
                        int64_t default_value, const std::string& name) {
  return MakeOp(s, "VocabularyLookup", name, {values},
                {{"vocabulary", std::move(vocabulary)}, {"num_oov_buckets", num_oov_buckets}, {"default_value", default_value}});
}
SparseIds SparseDropNegative(const Scope& s, const SparseIds& x, const std::string& name) {
  Node* n = MakeNode(s, "SparseDropNegative", name, {x.indices, x.values});
  if (n == nullptr) return {};
  return {n->output(0), n->output(1), x.dense_shape};
}
}  // namespace ops
}  // namespace psflow
