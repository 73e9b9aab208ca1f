#include "common/ops/apply.h"

#include "common/core/fork_join.h"
#include "common/ops/cpu_simd.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <unordered_map>
#include <vector>

namespace psflow::apply {

Status CheckShapes(const char* op, const Tensor* var, std::initializer_list<const Tensor*> slots, const Tensor& grad,
                   const Tensor* indices) {
  if (var->dtype() != DType::kFloat && var->dtype() != DType::kDouble) {
    return InvalidArgumentError(op, ": variables must be float or double, got ", var->dtype());
  }
  for (const Tensor* s : slots) {
    if (s->dtype() != var->dtype() || !(s->shape() == var->shape())) {
      return InvalidArgumentError(op, ": a slot has ", DTypeName(s->dtype()), " ", s->shape().DebugString(),
                                  " but the variable has ", DTypeName(var->dtype()), " ",
                                  var->shape().DebugString());
    }
  }
  if (grad.dtype() != var->dtype()) {
    return InvalidArgumentError(op, ": gradient dtype ", grad.dtype(), " differs from variable dtype ", var->dtype());
  }
  if (indices == nullptr) {
    if (!(grad.shape() == var->shape())) {
      return InvalidArgumentError(op, ": gradient shape ", grad.shape().DebugString(),
                                  " differs from variable shape ", var->shape().DebugString());
    }
    return OkStatus();
  }
  if (indices->dtype() != DType::kInt64 || indices->shape().rank() != 1) {
    return InvalidArgumentError(op, ": indices must be an int64 vector");
  }
  const int64_t n = indices->shape().dim(0);
  if (var->shape().rank() < 1 || grad.shape().rank() != var->shape().rank() || grad.shape().dim(0) != n) {
    return InvalidArgumentError(op, ": gradient rows ", grad.shape().DebugString(), " do not match ", n,
                                " indices into a variable of shape ", var->shape().DebugString());
  }
  for (int d = 1; d < var->shape().rank(); ++d) {
    if (grad.shape().dim(d) != var->shape().dim(d)) {
      return InvalidArgumentError(op, ": gradient row shape ", grad.shape().DebugString(),
                                  " does not match variable ", var->shape().DebugString());
    }
  }
  return OkStatus();
}

namespace {

// Shapes and dtypes, then (on the host) the row indices.
Status Check(const char* op, const Tensor* var, std::initializer_list<const Tensor*> slots,
             const Tensor& grad, bool sparse, const Tensor* indices) {
  RETURN_IF_ERROR(CheckShapes(op, var, slots, grad, sparse ? indices : nullptr));
  if (!sparse) return OkStatus();
  const int64_t rows = var->shape().dim(0);
  for (int64_t r : indices->flat<int64_t>()) {
    if (r < 0 || r >= rows) {
      return InvalidArgumentError(op, ": index ", r, " is out of range for a variable with ", rows, " rows");
    }
  }
  return OkStatus();
}

// Runs f(offset_in_var, offset_in_grad, count) for each updated region.
// Rows of a large table are random accesses that miss every cache: the
// rows of `var` and its `slots` a few indices ahead are prefetched while
// this one is updated, so the misses overlap.
template <typename F>
void ForRows(const Tensor* var, std::initializer_list<const Tensor*> slots, const Tensor& grad, const Tensor* indices,
             F f) {
  if (indices == nullptr) {
    f(0, 0, var->num_elements());
    return;
  }
  const int64_t row = var->shape().dim(0) == 0 ? 0 : var->num_elements() / var->shape().dim(0);
  const size_t row_bytes = static_cast<size_t>(row) * (var->dtype() == DType::kFloat ? 4 : 8);
  auto prefetch = [&](const Tensor* t, int64_t r) {
    const char* p = static_cast<const char*>(t->raw_data()) + static_cast<size_t>(r) * row_bytes;
    for (size_t b = 0; b < row_bytes; b += 64) __builtin_prefetch(p + b, 1);
  };
  constexpr size_t kAhead = 8;
  auto idx = indices->flat<int64_t>();
  for (size_t i = 0; i < idx.size(); ++i) {
    if (i + kAhead < idx.size()) {
      prefetch(var, idx[i + kAhead]);
      for (const Tensor* s : slots) prefetch(s, idx[i + kAhead]);
    }
    f(idx[i] * row, static_cast<int64_t>(i) * row, row);
  }
}

template <typename T>
T* P(Tensor* t) { return static_cast<T*>(t->raw_data()); }
template <typename T>
const T* P(const Tensor& t) { return static_cast<const T*>(t.raw_data()); }

#define PSFLOW_APPLY_DISPATCH(var, BODY)                                   \
  if ((var)->dtype() == DType::kFloat) {                                   \
    using T = float;                                                       \
    BODY;                                                                  \
  } else {                                                                 \
    using T = double;                                                      \
    BODY;                                                                  \
  }                                                                        \
  return OkStatus()

// fn(begin, end) over [0, n): large dense applies (a layer's kernel, a
// whole table) in parts on the process's intra-op pool, the rest inline.
template <typename F>
void SplitRange(int64_t n, F fn) {
  constexpr int64_t kMinPart = int64_t{1} << 17;
  if (n < 2 * kMinPart) return fn(int64_t{0}, n);  // a sparse apply's row: no pool lookup per row
  ForkJoinPool& pool = ForkJoinPool::Shared(0);
  const int parts = static_cast<int>(std::min<int64_t>(pool.size(), n / kMinPart));
  if (parts <= 1) return fn(int64_t{0}, n);
  const int64_t chunk = (n + parts - 1) / parts;
  pool.Run(parts, [&](int p) { fn(p * chunk, std::min(n, (p + 1) * chunk)); });
}

// The dense loops: float through the vectorized table (cpu_simd.h), in
// parts when large; double as written.
void SgdLoop(float* w, const float* g, int64_t n, float lr) {
  SplitRange(n, [&](int64_t b, int64_t e) { simd::Get().sgd(w + b, g + b, e - b, lr); });
}
void SgdLoop(double* w, const double* g, int64_t n, double lr) {
  for (int64_t i = 0; i < n; ++i) w[i] -= lr * g[i];
}
void AdagradLoop(float* w, float* a, const float* g, int64_t n, float lr) {
  SplitRange(n, [&](int64_t b, int64_t e) { simd::Get().adagrad(w + b, a + b, g + b, e - b, lr); });
}
void AdagradLoop(double* w, double* a, const double* g, int64_t n, double lr) {
  for (int64_t i = 0; i < n; ++i) {
    a[i] += g[i] * g[i];
    w[i] -= lr * g[i] / std::sqrt(a[i]);
  }
}
void AdamLoop(float* w, float* m, float* v, const float* g, int64_t n, float lr, float b1, float b2, float eps) {
  SplitRange(n, [&](int64_t b, int64_t e) { simd::Get().adam(w + b, m + b, v + b, g + b, e - b, lr, b1, b2, eps); });
}
void AdamLoop(double* w, double* m, double* v, const double* g, int64_t n, double lr, double b1, double b2,
              double eps) {
  for (int64_t i = 0; i < n; ++i) {
    m[i] += (g[i] - m[i]) * (1 - b1);
    v[i] += (g[i] * g[i] - v[i]) * (1 - b2);
    w[i] -= lr * m[i] / (std::sqrt(v[i]) + eps);
  }
}

void MomentumLoop(float* w, float* a, const float* g, int64_t n, float lr, float mom, bool nesterov) {
  SplitRange(n, [&](int64_t b, int64_t e) { simd::Get().momentum(w + b, a + b, g + b, e - b, lr, mom, nesterov); });
}
void MomentumLoop(double* w, double* a, const double* g, int64_t n, double lr, double mom, bool nesterov) {
  for (int64_t i = 0; i < n; ++i) {
    a[i] = a[i] * mom + g[i];
    w[i] -= nesterov ? lr * (g[i] + mom * a[i]) : lr * a[i];
  }
}
void RmsPropLoop(float* w, float* s, float* mo, const float* g, int64_t n, float lr, float rho, float mm, float eps) {
  SplitRange(n, [&](int64_t b, int64_t e) {
    simd::Get().rmsprop(w + b, s + b, mo + b, g + b, e - b, lr, rho, mm, eps);
  });
}
void RmsPropLoop(double* w, double* s, double* mo, const double* g, int64_t n, double lr, double rho, double mm,
                 double eps) {
  for (int64_t i = 0; i < n; ++i) {
    s[i] += (g[i] * g[i] - s[i]) * (1 - rho);
    mo[i] = mo[i] * mm + lr * g[i] / std::sqrt(s[i] + eps);
    w[i] -= mo[i];
  }
}

// FTRL-Proximal as TensorFlow's ApplyFtrl: lr_power -0.5 (the default) by
// square roots, as its kernel special-cases it; float through the per-ISA
// loops.
void FtrlLoop(float* w, float* a, float* l, const float* g, int64_t n, float lr, float l1, float l2, float lr_power) {
  SplitRange(n, [&](int64_t b, int64_t e) {
    simd::Get().ftrl(w + b, a + b, l + b, g + b, e - b, lr, l1, l2, lr_power);
  });
}
void FtrlLoop(double* w, double* a, double* l, const double* g, int64_t n, double lr, double l1, double l2,
              double lr_power) {
  const bool root = lr_power == -0.5;
  auto power = [&](double x) { return root ? std::sqrt(x) : std::pow(x, -lr_power); };
  for (int64_t i = 0; i < n; ++i) {
    const double a_new = a[i] + g[i] * g[i];
    l[i] += g[i] - (power(a_new) - power(a[i])) / lr * w[i];
    const double quadratic = power(a_new) / lr + 2 * l2;
    w[i] = (l[i] > l1 || l[i] < -l1) ? ((l[i] > 0 ? l1 : -l1) - l[i]) / quadratic : 0.0;
    a[i] = a_new;
  }
}

Status DoGD(Tensor* var, const Hyper& h, const Tensor* indices, const Tensor& grad) {
  RETURN_IF_ERROR(Check("GradientDescent", var, {}, grad, indices != nullptr, indices));
  PSFLOW_APPLY_DISPATCH(var, ForRows(var, {}, grad, indices, [&](int64_t vo, int64_t go, int64_t n) {
    T* w = P<T>(var) + vo;
    const T* g = P<T>(grad) + go;
    const T lr = static_cast<T>(h.lr);
    SgdLoop(w, g, n, lr);
  }));
}

Status DoMomentum(Tensor* var, Tensor* accum, const Hyper& h, const Tensor* indices, const Tensor& grad) {
  RETURN_IF_ERROR(Check("Momentum", var, {accum}, grad, indices != nullptr, indices));
  PSFLOW_APPLY_DISPATCH(var, ForRows(var, {accum}, grad, indices, [&](int64_t vo, int64_t go, int64_t n) {
    T* w = P<T>(var) + vo;
    T* a = P<T>(accum) + vo;
    const T* g = P<T>(grad) + go;
    const T lr = static_cast<T>(h.lr), mom = static_cast<T>(h.momentum);
    MomentumLoop(w, a, g, n, lr, mom, h.nesterov);
  }));
}

Status DoAdagrad(Tensor* var, Tensor* accum, const Hyper& h, const Tensor* indices, const Tensor& grad) {
  RETURN_IF_ERROR(Check("Adagrad", var, {accum}, grad, indices != nullptr, indices));
  PSFLOW_APPLY_DISPATCH(var, ForRows(var, {accum}, grad, indices, [&](int64_t vo, int64_t go, int64_t n) {
    T* w = P<T>(var) + vo;
    T* a = P<T>(accum) + vo;
    const T* g = P<T>(grad) + go;
    const T lr = static_cast<T>(h.lr);
    AdagradLoop(w, a, g, n, lr);
  }));
}

Status DoAdam(Tensor* var, Tensor* m, Tensor* v, const Hyper& h, double b1p, double b2p,
              const Tensor* indices, const Tensor& grad) {
  RETURN_IF_ERROR(Check("Adam", var, {m, v}, grad, indices != nullptr, indices));
  const double lr_t = h.lr * std::sqrt(1 - b2p) / (1 - b1p);
  PSFLOW_APPLY_DISPATCH(var, ForRows(var, {m, v}, grad, indices, [&](int64_t vo, int64_t go, int64_t n) {
    T* w = P<T>(var) + vo;
    T* mm = P<T>(m) + vo;
    T* vv = P<T>(v) + vo;
    const T* g = P<T>(grad) + go;
    const T b1 = static_cast<T>(h.beta1), b2 = static_cast<T>(h.beta2), eps = static_cast<T>(h.epsilon);
    const T lr = static_cast<T>(lr_t);
    AdamLoop(w, mm, vv, g, n, lr, b1, b2, eps);
  }));
}

// TensorFlow's AdamOptimizer._apply_sparse: m and v of every row decay,
// the rows' scaled gradients are added, and every row of var moves by
// lr * m / (sqrt(v) + epsilon), touched or not.
template <typename T>
void DenseDecayAdamT(Tensor* var, Tensor* m, Tensor* v, const Hyper& h, double lr_t, const Tensor& indices,
                     const Tensor& grad) {
  const T b1 = static_cast<T>(h.beta1);
  const T b2 = static_cast<T>(h.beta2);
  const T eps = static_cast<T>(h.epsilon);
  const T lr = static_cast<T>(lr_t);
  T* mm = P<T>(m);
  T* vv = P<T>(v);
  T* w = P<T>(var);
  const int64_t all = var->num_elements();
  for (int64_t i = 0; i < all; ++i) {
    mm[i] *= b1;
    vv[i] *= b2;
  }
  ForRows(var, {m, v}, grad, &indices, [&](int64_t vo, int64_t go, int64_t n) {
    const T* g = P<T>(grad) + go;
    for (int64_t i = 0; i < n; ++i) {
      mm[vo + i] += g[i] * (T(1) - b1);
      vv[vo + i] += g[i] * g[i] * (T(1) - b2);
    }
  });
  for (int64_t i = 0; i < all; ++i) w[i] -= lr * mm[i] / (std::sqrt(vv[i]) + eps);
}

Status DoDenseDecayAdam(Tensor* var, Tensor* m, Tensor* v, const Hyper& h, double b1p, double b2p,
                        const Tensor& indices, const Tensor& grad) {
  RETURN_IF_ERROR(Check("Adam", var, {m, v}, grad, true, &indices));
  const double lr_t = h.lr * std::sqrt(1 - b2p) / (1 - b1p);
  PSFLOW_APPLY_DISPATCH(var, DenseDecayAdamT<T>(var, m, v, h, lr_t, indices, grad));
}

Status DoRMSProp(Tensor* var, Tensor* ms, Tensor* mom, const Hyper& h, const Tensor* indices, const Tensor& grad) {
  RETURN_IF_ERROR(Check("RMSProp", var, {ms, mom}, grad, indices != nullptr, indices));
  PSFLOW_APPLY_DISPATCH(var, ForRows(var, {ms, mom}, grad, indices, [&](int64_t vo, int64_t go, int64_t n) {
    T* w = P<T>(var) + vo;
    T* s = P<T>(ms) + vo;
    T* mo = P<T>(mom) + vo;
    const T* g = P<T>(grad) + go;
    const T rho = static_cast<T>(h.rho), lr = static_cast<T>(h.lr), eps = static_cast<T>(h.epsilon),
            mm = static_cast<T>(h.momentum);
    RmsPropLoop(w, s, mo, g, n, lr, rho, mm, eps);
  }));
}

Status DoFtrl(Tensor* var, Tensor* accum, Tensor* linear, const Hyper& h, const Tensor* indices, const Tensor& grad) {
  RETURN_IF_ERROR(Check("Ftrl", var, {accum, linear}, grad, indices != nullptr, indices));
  PSFLOW_APPLY_DISPATCH(var, ForRows(var, {accum, linear}, grad, indices, [&](int64_t vo, int64_t go, int64_t n) {
    T* w = P<T>(var) + vo;
    T* a = P<T>(accum) + vo;
    T* l = P<T>(linear) + vo;
    const T* g = P<T>(grad) + go;
    const T lr = static_cast<T>(h.lr), l1 = static_cast<T>(h.l1), l2 = static_cast<T>(h.l2),
            lr_power = static_cast<T>(h.lr_power);
    FtrlLoop(w, a, l, g, n, lr, l1, l2, lr_power);
  }));
}

}  // namespace

Status GradientDescent(Tensor* var, const Hyper& h, const Tensor& grad) { return DoGD(var, h, nullptr, grad); }
Status Momentum(Tensor* var, Tensor* accum, const Hyper& h, const Tensor& grad) {
  return DoMomentum(var, accum, h, nullptr, grad);
}
Status Adagrad(Tensor* var, Tensor* accum, const Hyper& h, const Tensor& grad) {
  return DoAdagrad(var, accum, h, nullptr, grad);
}
Status Adam(Tensor* var, Tensor* m, Tensor* v, const Hyper& h, double b1p, double b2p, const Tensor& grad) {
  return DoAdam(var, m, v, h, b1p, b2p, nullptr, grad);
}
Status RMSProp(Tensor* var, Tensor* ms, Tensor* mom, const Hyper& h, const Tensor& grad) {
  return DoRMSProp(var, ms, mom, h, nullptr, grad);
}
Status Ftrl(Tensor* var, Tensor* accum, Tensor* linear, const Hyper& h, const Tensor& grad) {
  return DoFtrl(var, accum, linear, h, nullptr, grad);
}
namespace {

// TensorFlow's optimizers sum the gradients of repeated rows before a
// sparse apply (Optimizer._apply_sparse_duplicate_indices).  Indices that
// are unique already (a psflow trainer's pushes) are used as they are.
struct UniqueRows {
  const Tensor* indices;
  const Tensor* grad;
  Tensor own_indices, own_grad;
};

template <typename T>
void AddRows(const Tensor& grad, const std::vector<int64_t>& slot, Tensor* out) {
  const size_t row = slot.empty() ? 0 : static_cast<size_t>(grad.num_elements()) / slot.size();
  const T* g = P<T>(grad);
  T* o = P<T>(out);
  for (size_t i = 0; i < slot.size(); ++i) {
    T* dst = o + static_cast<size_t>(slot[i]) * row;
    for (size_t j = 0; j < row; ++j) dst[j] += g[i * row + j];
  }
}

Status SumDuplicates(const Tensor& idx, const Tensor& grad, UniqueRows* u) {
  u->indices = &idx;
  u->grad = &grad;
  if (idx.dtype() != DType::kInt64 || idx.shape().rank() != 1 || grad.shape().rank() < 1 ||
      grad.shape().dim(0) != idx.num_elements() || (grad.dtype() != DType::kFloat && grad.dtype() != DType::kDouble)) {
    return OkStatus();  // the apply's own checks say what is wrong
  }
  const auto ids = idx.flat<int64_t>();
  std::unordered_map<int64_t, int64_t> first;
  first.reserve(ids.size());
  std::vector<int64_t> slot(ids.size());
  std::vector<int64_t> unique;
  for (size_t i = 0; i < ids.size(); ++i) {
    auto [it, fresh] = first.try_emplace(ids[i], static_cast<int64_t>(unique.size()));
    if (fresh) unique.push_back(ids[i]);
    slot[i] = it->second;
  }
  if (unique.size() == ids.size()) return OkStatus();
  const int64_t n = static_cast<int64_t>(unique.size());
  std::vector<int64_t> dims = grad.shape().dims();
  dims[0] = n;
  u->own_indices = Tensor::FromVector<int64_t>(unique, TensorShape({n}));
  u->own_grad = Tensor(grad.dtype(), TensorShape(dims));
  std::memset(u->own_grad.raw_data(), 0, u->own_grad.TotalBytes());
  u->indices = &u->own_indices;
  u->grad = &u->own_grad;
  PSFLOW_APPLY_DISPATCH(&grad, AddRows<T>(grad, slot, &u->own_grad));
}

}  // namespace

StatusOr<RowSparse> SumDuplicateRows(const Tensor& indices, const Tensor& grad) {
  UniqueRows u;
  RETURN_IF_ERROR(SumDuplicates(indices, grad, &u));
  if (u.indices == &indices) return RowSparse{.indices = indices, .grad = grad};
  return RowSparse{.indices = std::move(u.own_indices), .grad = std::move(u.own_grad)};
}

Status SparseGradientDescent(Tensor* var, const Hyper& h, const Tensor& idx, const Tensor& grad) {
  return DoGD(var, h, &idx, grad);
}
Status SparseMomentum(Tensor* var, Tensor* accum, const Hyper& h, const Tensor& idx, const Tensor& grad) {
  return DoMomentum(var, accum, h, &idx, grad);
}
Status SparseAdagrad(Tensor* var, Tensor* accum, const Hyper& h, const Tensor& idx, const Tensor& grad) {
  return DoAdagrad(var, accum, h, &idx, grad);
}
Status SparseAdam(Tensor* var, Tensor* m, Tensor* v, const Hyper& h, double b1p, double b2p,
                  const Tensor& idx, const Tensor& grad) {
  return DoAdam(var, m, v, h, b1p, b2p, &idx, grad);
}
Status AdamWithSparseGradient(Tensor* var, Tensor* m, Tensor* v, const Hyper& h, double b1p, double b2p,
                              const Tensor& idx, const Tensor& grad) {
  return DoDenseDecayAdam(var, m, v, h, b1p, b2p, idx, grad);
}
Status SparseRMSProp(Tensor* var, Tensor* ms, Tensor* mom, const Hyper& h, const Tensor& idx, const Tensor& grad) {
  return DoRMSProp(var, ms, mom, h, &idx, grad);
}
Status SparseFtrl(Tensor* var, Tensor* accum, Tensor* linear, const Hyper& h, const Tensor& idx,
                  const Tensor& grad) {
  return DoFtrl(var, accum, linear, h, &idx, grad);
}

}  // namespace psflow::apply
