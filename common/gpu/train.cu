// GPU kernels of the training ops: the optimizer applies (dense and
// row-sparse, TensorFlow's formulas as in common/ops/apply.cc), the
// learning-rate schedule, and the AUC metric's threshold counts.
#include <cmath>

#include "common/gpu/gpu_kernel.h"
#include "common/ops/apply.h"

namespace psflow::PSFLOW_GPU_NS {
namespace {

enum Kind : int { kGD, kMomentum, kAdagrad, kAdam, kRMSProp, kFtrl };

// A scalar input on the device (float or double).
struct DeviceScalar {
  const void* p = nullptr;
  bool is_double = false;
};
__device__ __forceinline__ double Read(DeviceScalar s) {
  return s.is_double ? *static_cast<const double*>(s.p) : static_cast<double>(*static_cast<const float*>(s.p));
}

struct Hyper {
  float momentum, beta1, beta2, epsilon, rho, l1, l2, lr_power;
  bool nesterov;
};

// What every element's update needs, computed once per thread.
template <typename T>
struct Params {
  T lr, mom, b1, b2, eps, rho, l1, l2, p;
  bool nesterov;
};
template <typename T, int kKind>
__device__ Params<T> MakeParams(DeviceScalar lr, DeviceScalar b1p, DeviceScalar b2p, Hyper h) {
  Params<T> q;
  // The CPU applies take the learning rate as a float (apply::Hyper::lr).
  const float lr_f = static_cast<float>(Read(lr));
  if (kKind == kAdam) {
    const double b1 = Read(b1p), b2 = Read(b2p);
    q.lr = static_cast<T>(static_cast<double>(lr_f) * Sqrt(1.0 - b2) / (1.0 - b1));
  } else {
    q.lr = static_cast<T>(lr_f);
  }
  q.mom = static_cast<T>(h.momentum);
  q.b1 = static_cast<T>(h.beta1);
  q.b2 = static_cast<T>(h.beta2);
  q.eps = static_cast<T>(h.epsilon);
  q.rho = static_cast<T>(h.rho);
  q.l1 = static_cast<T>(h.l1);
  q.l2 = static_cast<T>(h.l2);
  q.p = static_cast<T>(-h.lr_power);
  q.nesterov = h.nesterov;
  return q;
}

// One element's update: var w, slots a and b, gradient g.
template <typename T, int kKind>
__device__ __forceinline__ void Update(T* w, T* a, T* b, int64_t e, T g, const Params<T>& q) {
  if (kKind == kGD) {
    w[e] -= q.lr * g;
  } else if (kKind == kMomentum) {
    a[e] = a[e] * q.mom + g;
    w[e] -= q.nesterov ? q.lr * (g + q.mom * a[e]) : q.lr * a[e];
  } else if (kKind == kAdagrad) {
    a[e] += g * g;
    w[e] -= q.lr * g / Sqrt(a[e]);
  } else if (kKind == kAdam) {
    a[e] += (g - a[e]) * (T(1) - q.b1);
    b[e] += (g * g - b[e]) * (T(1) - q.b2);
    w[e] -= q.lr * a[e] / (Sqrt(b[e]) + q.eps);
  } else if (kKind == kRMSProp) {
    a[e] += (g * g - a[e]) * (T(1) - q.rho);
    b[e] = b[e] * q.mom + q.lr * g / Sqrt(a[e] + q.eps);
    w[e] -= b[e];
  } else {  // Ftrl: a = accumulator, b = linear
    const T a_new = a[e] + g * g;
    b[e] += g - (Pow(a_new, q.p) - Pow(a[e], q.p)) / q.lr * w[e];
    const T quadratic = Pow(a_new, q.p) / q.lr + T(2) * q.l2;
    w[e] = Abs(b[e]) > q.l1 ? ((b[e] > T(0) ? q.l1 : -q.l1) - b[e]) / quadratic : T(0);
    a[e] = a_new;
  }
}

template <typename T, int kKind>
__global__ void DenseApplyKernel(T* w, T* a, T* b, const T* grad, int64_t n, DeviceScalar lr, DeviceScalar b1p,
                                 DeviceScalar b2p, Hyper h) {
  const Params<T> q = MakeParams<T, kKind>(lr, b1p, b2p, h);
  PSFLOW_GRID_LOOP(e, n) Update<T, kKind>(w, a, b, e, grad[e], q);
}

// Rows idx[i] get grad row i, in order (a repeated row is updated twice, as
// TensorFlow's sparse applies do): one thread per column walks the indices.
template <typename T, int kKind>
__global__ void SparseApplyKernel(T* w, T* a, T* b, const T* grad, const int64_t* idx, int64_t nidx, int64_t row,
                                  int64_t rows, DeviceScalar lr, DeviceScalar b1p, DeviceScalar b2p, Hyper h,
                                  KernelError* err, int32_t tag) {
  const Params<T> q = MakeParams<T, kKind>(lr, b1p, b2p, h);
  PSFLOW_GRID_LOOP(k, row) {
    for (int64_t i = 0; i < nidx; ++i) {
      const int64_t r = idx[i];
      if (r < 0 || r >= rows) {
        if (k == 0) ReportError(err, KernelError::kIndexOutOfRange, tag, i, r, rows);
        continue;
      }
      Update<T, kKind>(w, a, b, r * row + k, grad[i * row + k], q);
    }
  }
}

struct KindInfo {
  const char* op;
  Kind kind;
  int nrefs;
};
const KindInfo kKinds[] = {{"ApplyGradientDescent", kGD, 1}, {"ApplyMomentum", kMomentum, 2}, {"ApplyAdagrad", kAdagrad, 2},
                           {"ApplyAdam", kAdam, 3},           {"ApplyRMSProp", kRMSProp, 3},  {"ApplyFtrl", kFtrl, 3}};

DeviceScalar ScalarOf(const Tensor& t) { return {t.device_data(), t.dtype() == DType::kDouble}; }

StatusOr<Hyper> HyperOf(const OpKernelContext& c) {
  Hyper h;
  ASSIGN_OR_RETURN(h.momentum, c.GetAttr<float>("momentum"));
  ASSIGN_OR_RETURN(h.nesterov, c.GetAttr<bool>("nesterov"));
  ASSIGN_OR_RETURN(h.beta1, c.GetAttr<float>("beta1"));
  ASSIGN_OR_RETURN(h.beta2, c.GetAttr<float>("beta2"));
  ASSIGN_OR_RETURN(h.epsilon, c.GetAttr<float>("epsilon"));
  ASSIGN_OR_RETURN(h.rho, c.GetAttr<float>("rho"));
  ASSIGN_OR_RETURN(h.l1, c.GetAttr<float>("l1"));
  ASSIGN_OR_RETURN(h.l2, c.GetAttr<float>("l2"));
  ASSIGN_OR_RETURN(h.lr_power, c.GetAttr<float>("lr_power"));
  return h;
}

// Moves a variable's host value (initialized or restored on the CPU) to the device.
Status OnDevice(Backend* dev, const std::string& name, Tensor* v) {
  if (v->device() == dev->device()) return OkStatus();
  if (!v->device().is_host()) {
    return InvalidArgumentError("variable ", name, " lives on ", v->device().ToString(), ", not on ", dev->device().ToString());
  }
  ASSIGN_OR_RETURN(*v, dev->CopyToDevice(*v));
  return OkStatus();
}

// Locks var and its slots (input order) and runs fn on them.
Status WithRefs(OpKernelContext& c, int i, int nrefs, std::vector<Tensor*>* held,
                const std::function<Status(std::vector<Tensor*>&)>& fn) {
  if (i == nrefs) return fn(*held);
  const std::string& name = c.node().inputs()[static_cast<size_t>(i)].node->name();
  return c.variables()->Update(name, [&](Tensor* t) {
    RETURN_IF_ERROR(OnDevice(Dev(c), name, t));
    held->push_back(t);
    Status s = WithRefs(c, i + 1, nrefs, held, fn);
    held->pop_back();
    return s;
  });
}

template <typename T, int kKind>
Status LaunchApply(OpKernelContext& c, std::vector<Tensor*>& t, const Tensor& grad, const Tensor* idx, DeviceScalar lr,
                   DeviceScalar b1p, DeviceScalar b2p, const Hyper& h) {
  Backend* dev = Dev(c);
  T* w = Ptr<T>(*t[0]);
  T* a = t.size() > 1 ? Ptr<T>(*t[1]) : nullptr;
  T* b = t.size() > 2 ? Ptr<T>(*t[2]) : nullptr;
  if (idx == nullptr) {
    const int64_t n = t[0]->num_elements();
    return LaunchN(dev, "DenseApplyKernel", n, DenseApplyKernel<T, kKind>, w, a, b, Ptr<const T>(grad), n, lr, b1p, b2p, h);
  }
  const int64_t rows = t[0]->shape().dim(0);
  const int64_t row = rows == 0 ? 0 : t[0]->num_elements() / rows;
  return LaunchN(dev, "SparseApplyKernel", row, SparseApplyKernel<T, kKind>, w, a, b, Ptr<const T>(grad), Ptr<const int64_t>(*idx),
                 idx->num_elements(), row, rows, lr, b1p, b2p, h, dev->kernel_error(), c.error_tag());
}

template <int kKind>
KernelFn ApplyFn(int nrefs, bool sparse) {
  return [nrefs, sparse](OpKernelContext& c) -> Status {
    for (int i = 0; i < nrefs; ++i) {
      if (c.node().inputs()[static_cast<size_t>(i)].node->type() != "VariableV2") {
        return InvalidArgumentError("input ", i, " of ", c.node().name(), " must be a variable");
      }
    }
    ASSIGN_OR_RETURN(Hyper h, HyperOf(c));
    const DeviceScalar lr = ScalarOf(c.input(nrefs));
    const Tensor& grad = c.input(nrefs + 1);
    const Tensor* idx = sparse ? &c.input(nrefs + 2) : nullptr;
    const int extra = nrefs + (sparse ? 3 : 2);
    const DeviceScalar b1p = kKind == kAdam ? ScalarOf(c.input(extra)) : DeviceScalar{};
    const DeviceScalar b2p = kKind == kAdam ? ScalarOf(c.input(extra + 1)) : DeviceScalar{};
    std::vector<Tensor*> held;
    Tensor updated;
    RETURN_IF_ERROR(WithRefs(c, 0, nrefs, &held, [&](std::vector<Tensor*>& t) -> Status {
      std::vector<const Tensor*> slots(t.begin() + 1, t.end());
      const char* name = c.node().type().c_str() + (sparse ? 6 : 0) + 5;  // "[Sparse]ApplyAdam" -> "Adam"
      Status s;
      if (slots.empty()) s = apply::CheckShapes(name, t[0], {}, grad, idx);
      else if (slots.size() == 1) s = apply::CheckShapes(name, t[0], {slots[0]}, grad, idx);
      else s = apply::CheckShapes(name, t[0], {slots[0], slots[1]}, grad, idx);
      RETURN_IF_ERROR(s);
      if (t[0]->dtype() == DType::kFloat) {
        RETURN_IF_ERROR((LaunchApply<float, kKind>(c, t, grad, idx, lr, b1p, b2p, h)));
      } else {
        RETURN_IF_ERROR((LaunchApply<double, kKind>(c, t, grad, idx, lr, b1p, b2p, h)));
      }
      updated = *t[0];
      return OkStatus();
    }));
    c.SetOutput(0, updated);
    return OkStatus();
  };
}

// LearningRateSchedule: exponential decay, or piecewise constant over the
// `table` of boundaries then values.
__global__ void LearningRateKernel(const int64_t* step, float* out, bool exponential, float base, int64_t decay_steps,
                                   float rate, bool staircase, const double* table, int64_t nbounds) {
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  const double s = static_cast<double>(*step);
  double lr;
  if (exponential) {
    double p = s / static_cast<double>(decay_steps);
    if (staircase) p = floor(p);
    lr = base * pow(static_cast<double>(rate), p);
  } else {
    int64_t i = 0;
    while (i < nbounds && s > table[i]) ++i;
    lr = table[nbounds + i];
  }
  *out = static_cast<float>(lr);
}

// ThresholdCounts: for threshold i, the counts of (positive, above) = tp,
// (negative, above) = fp, (negative, below) = tn, (positive, below) = fn.
// One thread per threshold walks every prediction: no atomics, exact
// float counts below 2^24.
template <typename L, typename P>
__global__ void ThresholdCountsKernel(const L* labels, const P* pred, int64_t n, int64_t nth, float* tp, float* fp,
                                      float* tn, float* fn) {
  PSFLOW_GRID_LOOP(i, nth) {
    const double eps = 1e-7;
    const double th = i == 0 ? -eps : (i == nth - 1 ? 1.0 + eps : static_cast<double>(i) / static_cast<double>(nth - 1));
    float c_tp = 0, c_fp = 0, c_tn = 0, c_fn = 0;
    for (int64_t j = 0; j < n; ++j) {
      const bool positive = labels[j] > L(0);
      const bool above = static_cast<double>(pred[j]) > th;
      if (positive) (above ? c_tp : c_fn) += 1.f;
      else (above ? c_fp : c_tn) += 1.f;
    }
    tp[i] = c_tp;
    fp[i] = c_fp;
    tn[i] = c_tn;
    fn[i] = c_fn;
  }
}

__global__ void AucKernel(const float* tp, const float* fp, const float* tn, const float* fn, int64_t n, float* out) {
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  const double eps = 1e-7;
  double auc = 0;
  for (int64_t i = 0; i + 1 < n; ++i) {
    const double tpr0 = (tp[i] + eps) / (tp[i] + fn[i] + eps), tpr1 = (tp[i + 1] + eps) / (tp[i + 1] + fn[i + 1] + eps);
    const double fpr0 = fp[i] / (fp[i] + tn[i] + eps), fpr1 = fp[i + 1] / (fp[i + 1] + tn[i + 1] + eps);
    auc += (fpr0 - fpr1) * (tpr0 + tpr1) / 2;
  }
  *out = static_cast<float>(auc);
}

template <typename L, typename P>
Status CountsTyped(OpKernelContext& c, int64_t nth, std::vector<Tensor*>& outs) {
  const int64_t n = c.input(1).num_elements();
  return LaunchN(Dev(c), "ThresholdCountsKernel", nth, ThresholdCountsKernel<L, P>, Ptr<const L>(c.input(0)),
                 Ptr<const P>(c.input(1)), n, nth, Ptr<float>(*outs[0]), Ptr<float>(*outs[1]), Ptr<float>(*outs[2]),
                 Ptr<float>(*outs[3]));
}
template <typename L>
Status CountsByPrediction(OpKernelContext& c, int64_t nth, std::vector<Tensor*>& outs) {
  Status st;
  PSFLOW_NUMERIC_DISPATCH(c.input(1).dtype(), st = (CountsTyped<L, T>(c, nth, outs)));
  return st;
}

}  // namespace

void RegisterTrainKernels(KernelRegistry* r) {
  for (const KindInfo& k : kKinds) {
    for (bool sparse : {false, true}) {
      const std::string type = sparse ? StrCat("Sparse", k.op) : std::string(k.op);
      KernelFn fn;
      switch (k.kind) {
        case kGD: fn = ApplyFn<kGD>(k.nrefs, sparse); break;
        case kMomentum: fn = ApplyFn<kMomentum>(k.nrefs, sparse); break;
        case kAdagrad: fn = ApplyFn<kAdagrad>(k.nrefs, sparse); break;
        case kAdam: fn = ApplyFn<kAdam>(k.nrefs, sparse); break;
        case kRMSProp: fn = ApplyFn<kRMSProp>(k.nrefs, sparse); break;
        case kFtrl: fn = ApplyFn<kFtrl>(k.nrefs, sparse); break;
      }
      Register(r, type, std::move(fn));
    }
  }

  Register(r, "LearningRateSchedule", [](OpKernelContext& c) -> Status {
    ASSIGN_OR_RETURN(std::string kind, c.GetAttr<std::string>("kind"));
    ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, 0, TensorShape({})));
    Backend* dev = Dev(c);
    const bool exponential = kind == "exponential";
    float base = 0, rate = 0;
    int64_t decay_steps = 1, nbounds = 0;
    bool staircase = false;
    const double* table = nullptr;
    if (exponential) {
      ASSIGN_OR_RETURN(base, c.GetAttr<float>("lr"));
      ASSIGN_OR_RETURN(decay_steps, c.GetAttr<int64_t>("decay_steps"));
      ASSIGN_OR_RETURN(rate, c.GetAttr<float>("decay_rate"));
      ASSIGN_OR_RETURN(staircase, c.GetAttr<bool>("staircase"));
    } else {
      ASSIGN_OR_RETURN(auto bounds, c.GetAttr<std::vector<int64_t>>("boundaries"));
      ASSIGN_OR_RETURN(auto values, c.GetAttr<std::vector<float>>("values"));
      if (values.size() != bounds.size() + 1) {
        return InvalidArgumentError("piecewise learning rate: ", values.size(), " values for ", bounds.size(), " boundaries");
      }
      nbounds = static_cast<int64_t>(bounds.size());
      // The table goes to the device once (boundaries, then values).
      std::lock_guard<std::mutex> l(c.state()->mu);
      if (!c.state()->cached.initialized()) {
        Tensor h(DType::kDouble, TensorShape({2 * nbounds + 1}));
        for (int64_t i = 0; i < nbounds; ++i) h.flat<double>()[static_cast<size_t>(i)] = static_cast<double>(bounds[static_cast<size_t>(i)]);
        for (int64_t i = 0; i <= nbounds; ++i) h.flat<double>()[static_cast<size_t>(nbounds + i)] = values[static_cast<size_t>(i)];
        ASSIGN_OR_RETURN(c.state()->cached, dev->CopyToDevice(h));
      }
      table = Ptr<const double>(c.state()->cached);
    }
    return LaunchStatus(Launch(LearningRateKernel, dim3(1), dim3(32), 0, dev->stream(), Ptr<const int64_t>(c.input(0)),
                               Ptr<float>(*out), exponential, base, decay_steps, rate, staircase, table, nbounds),
                        "LearningRateKernel");
  });

  Register(r, "ThresholdCounts", [](OpKernelContext& c) -> Status {
    ASSIGN_OR_RETURN(int64_t nth, c.GetAttr<int64_t>("num_thresholds"));
    const Tensor& labels = c.input(0);
    const Tensor& pred = c.input(1);
    if (labels.num_elements() != pred.num_elements()) {
      return InvalidArgumentError("AUC labels ", labels.shape().DebugString(), " and predictions ", pred.shape().DebugString(),
                                  " differ in size");
    }
    std::vector<Tensor*> outs;
    for (int k = 0; k < 4; ++k) {
      ASSIGN_OR_RETURN(Tensor * o, AllocateOutput(c, k, TensorShape({nth})));
      outs.push_back(o);
    }
    if (labels.dtype() == DType::kBool) return CountsByPrediction<bool>(c, nth, outs);
    Status st;
    PSFLOW_NUMERIC_DISPATCH(labels.dtype(), st = CountsByPrediction<T>(c, nth, outs));
    return st;
  });
  Register(r, "AUCFromCounts", [](OpKernelContext& c) -> Status {
    ASSIGN_OR_RETURN(Tensor * out, AllocateOutput(c, 0, TensorShape({})));
    Backend* dev = Dev(c);
    return LaunchStatus(Launch(AucKernel, dim3(1), dim3(32), 0, dev->stream(), Ptr<const float>(c.input(0)),
                               Ptr<const float>(c.input(1)), Ptr<const float>(c.input(2)), Ptr<const float>(c.input(3)),
                               c.input(0).num_elements(), Ptr<float>(*out)),
                        "AucKernel");
  });
}

}  // namespace psflow::PSFLOW_GPU_NS
