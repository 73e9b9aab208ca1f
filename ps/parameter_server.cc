#include "ps/parameter_server.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/checkpoint/tensor_slice.h"
#include "common/core/fault_point.h"
#include "common/core/logging.h"
#include "common/core/strcat.h"
#include "common/distributed/placement.h"

namespace psflow {
namespace {

// The slice of the full variable that a part holds: its rows, every column.
TensorSlice RowSlice(const SaveSliceInfo& si, const Tensor& part) {
  std::vector<int64_t> starts(static_cast<size_t>(si.full_shape.rank()), 0);
  std::vector<int64_t> lengths(starts.size(), TensorSlice::kFullExtent);
  starts[0] = si.row_begin;
  lengths[0] = part.shape().dim(0);
  return TensorSlice::FromExtents(starts, lengths).value();
}

// One optimizer as the PS applies it: TensorFlow's slot names, their
// initial values, and the update (dense, or row-sparse when g.rows is set).
struct OptimizerDef {
  const char* name;
  std::vector<std::string> slots;
  bool slot0_is_accumulator;  // its first slot starts at initial_accumulator_value
  std::vector<float> init;    // the slots' initial values otherwise
  Status (*apply)(Tensor* var, std::vector<Tensor>& s, const apply::Hyper& h, double b1p, double b2p, const PushItem& g);
};

const std::vector<OptimizerDef>& Optimizers() {
  using H = apply::Hyper;
  static const std::vector<OptimizerDef> defs = {
      {"sgd", {}, false, {}, [](Tensor* v, std::vector<Tensor>&, const H& h, double, double, const PushItem& g) {
         return g.rows.initialized() ? apply::SparseGradientDescent(v, h, g.rows, g.grad) : apply::GradientDescent(v, h, g.grad);
       }},
      {"momentum", {"Momentum"}, false, {0.f}, [](Tensor* v, std::vector<Tensor>& s, const H& h, double, double, const PushItem& g) {
         return g.rows.initialized() ? apply::SparseMomentum(v, &s[0], h, g.rows, g.grad) : apply::Momentum(v, &s[0], h, g.grad);
       }},
      {"adagrad", {"Adagrad"}, true, {0.f}, [](Tensor* v, std::vector<Tensor>& s, const H& h, double, double, const PushItem& g) {
         return g.rows.initialized() ? apply::SparseAdagrad(v, &s[0], h, g.rows, g.grad) : apply::Adagrad(v, &s[0], h, g.grad);
       }},
      {"adam", {"Adam", "Adam_1"}, false, {0.f, 0.f},
       [](Tensor* v, std::vector<Tensor>& s, const H& h, double b1p, double b2p, const PushItem& g) {
         return g.rows.initialized() ? apply::AdamWithSparseGradient(v, &s[0], &s[1], h, b1p, b2p, g.rows, g.grad)
                                     : apply::Adam(v, &s[0], &s[1], h, b1p, b2p, g.grad);
       }},
      // tf.contrib.opt.LazyAdamOptimizer: a sparse gradient updates its rows only.
      {"lazy_adam", {"Adam", "Adam_1"}, false, {0.f, 0.f},
       [](Tensor* v, std::vector<Tensor>& s, const H& h, double b1p, double b2p, const PushItem& g) {
         return g.rows.initialized() ? apply::SparseAdam(v, &s[0], &s[1], h, b1p, b2p, g.rows, g.grad)
                                     : apply::Adam(v, &s[0], &s[1], h, b1p, b2p, g.grad);
       }},
      {"rmsprop", {"RMSProp", "RMSProp_1"}, false, {1.f, 0.f},
       [](Tensor* v, std::vector<Tensor>& s, const H& h, double, double, const PushItem& g) {
         return g.rows.initialized() ? apply::SparseRMSProp(v, &s[0], &s[1], h, g.rows, g.grad)
                                     : apply::RMSProp(v, &s[0], &s[1], h, g.grad);
       }},
      {"ftrl", {"Ftrl", "Ftrl_1"}, true, {0.f, 0.f},
       [](Tensor* v, std::vector<Tensor>& s, const H& h, double, double, const PushItem& g) {
         return g.rows.initialized() ? apply::SparseFtrl(v, &s[0], &s[1], h, g.rows, g.grad) : apply::Ftrl(v, &s[0], &s[1], h, g.grad);
       }},
  };
  return defs;
}

StatusOr<const OptimizerDef*> FindOptimizer(const std::string& name) {
  const std::string n = name == "gradient_descent" ? "sgd" : name;
  for (const OptimizerDef& d : Optimizers()) {
    if (n == d.name) return &d;
  }
  return InvalidArgumentError("unknown optimizer '", name, "'; choose sgd, momentum, adagrad, adam, lazy_adam, rmsprop, ftrl");
}

// A dynamic table <base>-values: its checkpoint keys start with <base>.
constexpr std::string_view kValuesSuffix = "-values";
std::string TableBase(const std::string& name) {
  return name.size() > kValuesSuffix.size() && name.ends_with(kValuesSuffix)
             ? name.substr(0, name.size() - kValuesSuffix.size())
             : name;
}

// Whether `g` may be applied to `v`: the dtype, the shape (rows: int64
// indices in range and a gradient row each), before anything is changed.
// A dynamic table takes any ids.
Status CheckGradient(const Tensor& v, const PushItem& g, bool dynamic) {
  const bool sparse = g.rows.initialized();
  if (dynamic) {
    if (!sparse) return InvalidArgumentError("a dynamic embedding table takes row-sparse gradients by id only");
    return apply::CheckShapes("push", &v, {}, g.grad, &g.rows);
  }
  RETURN_IF_ERROR(apply::CheckShapes("push", &v, {}, g.grad, sparse ? &g.rows : nullptr));
  if (!sparse) return OkStatus();
  const int64_t rows = v.shape().dim(0);
  for (int64_t r : g.rows.flat<int64_t>()) {
    if (r < 0 || r >= rows) return InvalidArgumentError("push: row ", r, " is out of range [0, ", rows, ")");
  }
  return OkStatus();
}

}  // namespace

StatusOr<std::pair<std::vector<std::string>, std::vector<float>>> OptimizerSlots(const std::string& optimizer,
                                                                                float initial_accumulator_value) {
  ASSIGN_OR_RETURN(const OptimizerDef* d, FindOptimizer(optimizer));
  std::vector<float> init = d->init;
  if (d->slot0_is_accumulator) init[0] = initial_accumulator_value;
  return std::make_pair(d->slots, init);
}

StatusOr<std::unique_ptr<ParameterServer>> ParameterServer::Create(ParameterServerOptions options) {
  if (options.replicas_to_aggregate < 0) {
    return InvalidArgumentError("replicas_to_aggregate must be >= 0 (0: asynchronous), got ", options.replicas_to_aggregate);
  }
  std::vector<Opt> opts;
  auto add = [&](const std::string& type, const apply::Hyper& h, float accum, const std::string& what) -> Status {
    auto slots = OptimizerSlots(type, accum);
    if (!slots.ok()) return slots.status().WithContext(what);
    const std::string canonical = type == "gradient_descent" ? "sgd" : type;
    opts.push_back({.type = canonical, .hyper = h, .slot_names = std::move(slots->first),
                    .slot_init = std::move(slots->second), .apply = FindOptimizer(type).value()->apply});
    return OkStatus();
  };
  for (const auto& r : options.scoped_optimizers) {
    RETURN_IF_ERROR(add(r.optimizer, r.hyper, r.initial_accumulator_value, "the optimizer of scope " + r.scope));
  }
  RETURN_IF_ERROR(add(options.optimizer, options.hyper, options.initial_accumulator_value, "the optimizer"));
  std::unique_ptr<ParameterServer> ps(new ParameterServer(std::move(options)));
  ps->opts_ = std::move(opts);
  // Checkpoints hold Adam's beta powers when the trainers' graphs have them:
  // a scoped Adam, or (no scopes) an Adam for everything.
  const size_t candidates = ps->opts_.size() == 1 ? 1 : ps->opts_.size() - 1;
  for (size_t i = 0; i < candidates && ps->adam_ == nullptr; ++i) {
    if (ps->opts_[i].type == "adam" || ps->opts_[i].type == "lazy_adam") ps->adam_ = &ps->opts_[i];
  }
  return ps;
}

const ParameterServer::Opt* ParameterServer::OptFor(const std::string& full_name) const {
  for (size_t i = 0; i < options_.scoped_optimizers.size(); ++i) {
    if (full_name.rfind(options_.scoped_optimizers[i].scope, 0) == 0) return &opts_[i];
  }
  return &opts_.back();
}

ParameterServer::ParameterServer(ParameterServerOptions options)
    : options_(std::move(options)), sync_(options_.replicas_to_aggregate) {}

Status ParameterServer::Initialize(const std::map<std::string, Tensor>& values,
                                   const std::map<std::string, SaveSliceInfo>& slices,
                                   const std::map<std::string, DynamicTableInit>& tables) {
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& [name, value] : values) {
    if (vars_.count(name)) continue;
    if (value.dtype() != DType::kFloat && value.dtype() != DType::kDouble) {
      return InvalidArgumentError("variable ", name, " is ", DTypeName(value.dtype()),
                                  "; parameter servers hold float or double variables");
    }
    auto v = std::make_unique<Var>();
    v->value = value.DeepCopy();
    if (auto t = tables.find(name); t != tables.end()) {
      const DynamicTableInit& o = t->second;
      if (value.dtype() != DType::kFloat || value.shape().rank() != 2 || value.shape().dim(0) != 0 ||
          value.shape().dim(1) != o.dim) {
        return InvalidArgumentError("dynamic table ", name, " starts as an empty float [0, ", o.dim, "], not ",
                                    DTypeName(value.dtype()), " ", value.shape().DebugString());
      }
      v->opt = OptFor(name);
      auto table = DynamicTable::Create(o, v->opt->slot_init);
      if (!table.ok()) return table.status().WithContext("dynamic table ", name);
      v->table = std::move(table).value();
      vars_[name] = std::move(v);
      continue;
    }
    if (auto it = slices.find(name); it != slices.end()) {
      const SaveSliceInfo& si = it->second;
      const TensorShape& full = si.full_shape;
      bool fits = full.rank() == value.shape().rank() && full.rank() >= 1 && si.row_begin >= 0 &&
                  si.row_begin <= full.dim(0) && value.shape().dim(0) <= full.dim(0) - si.row_begin;
      for (int d = 1; fits && d < full.rank(); ++d) fits = full.dim(d) == value.shape().dim(d);
      if (!fits) {
        return InvalidArgumentError("part ", name, " of ", si.full_name, " (shape ", value.shape().DebugString(),
                                    " from row ", si.row_begin, ") does not fit in its full shape ", full.DebugString());
      }
      v->slice = si;
    }
    v->opt = OptFor(v->slice ? v->slice->full_name : name);
    for (float init : v->opt->slot_init) {
      Tensor s(value.dtype(), value.shape());
      if (value.dtype() == DType::kFloat) {
        for (float& x : s.flat<float>()) x = init;
      } else {
        for (double& x : s.flat<double>()) x = init;
      }
      v->slots.push_back(s);
    }
    vars_[name] = std::move(v);
  }
  return OkStatus();
}

bool ParameterServer::has_variables() const {
  std::lock_guard<std::mutex> l(mu_);
  return !vars_.empty();
}

std::vector<std::string> ParameterServer::VariableNames() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<std::string> out;
  for (const auto& [k, v] : vars_) out.push_back(k);
  return out;
}

StatusOr<ParameterServer::Var*> ParameterServer::Find(const std::string& name) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = vars_.find(name);
  if (it == vars_.end()) {
    return NotFoundError("variable ", name, " is not held by ps task ", options_.task_index,
                         vars_.empty() ? " (the PS has no variables yet: is the chief up?)" : "");
  }
  return it->second.get();
}

StatusOr<std::vector<Tensor>> ParameterServer::Pull(const std::vector<std::string>& names) {
  std::vector<Tensor> out;
  for (const std::string& n : names) {
    ASSIGN_OR_RETURN(Var* v, Find(n));
    if (v->table) return InvalidArgumentError("dynamic embedding table ", n, " is pulled by ids, not whole");
    std::lock_guard<std::mutex> l(v->mu);
    out.push_back(v->value.DeepCopy());
    ++v->stats.pulls;
    v->stats.bytes_out += static_cast<int64_t>(v->value.TotalBytes());
  }
  return out;
}

StatusOr<Tensor> ParameterServer::PullRows(const std::string& name, const Tensor& rows, uint64_t max_bytes) {
  ASSIGN_OR_RETURN(Var* v, Find(name));
  if (rows.dtype() != DType::kInt64 || rows.shape().rank() != 1) {
    return InvalidArgumentError("rows of ", name, " must be an int64 vector");
  }
  if (v->table) return PullDynamicRows(name, rows, nullptr, global_step(), max_bytes);
  std::lock_guard<std::mutex> l(v->mu);
  const TensorShape& s = v->value.shape();
  if (s.rank() < 1) return InvalidArgumentError("variable ", name, " is a scalar; it has no rows");
  for (int64_t r : rows.flat<int64_t>()) {
    if (r < 0 || r >= s.dim(0)) {
      return InvalidArgumentError("row ", r, " of ", name, " is out of range [0, ", s.dim(0), ")");
    }
  }
  const size_t row_bytes = s.dim(0) == 0 ? 0 : v->value.TotalBytes() / static_cast<size_t>(s.dim(0));
  const uint64_t n = static_cast<uint64_t>(rows.num_elements());
  if (row_bytes > 0 && n > max_bytes / row_bytes) {
    return ResourceExhaustedError("pulling ", n, " rows of ", name, " (", row_bytes, " bytes each) would take more than ",
                                  max_bytes, " bytes, what one answer may carry; pull fewer rows at a time");
  }
  std::vector<int64_t> dims = s.dims();
  dims[0] = rows.num_elements();
  Tensor out(v->value.dtype(), TensorShape(dims));
  const auto ids = rows.flat<int64_t>();
  const char* table = static_cast<const char*>(v->value.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  // Random rows of a large table miss every cache: ask for the rows a few
  // places ahead while copying this one, so the misses overlap.
  constexpr size_t kAhead = 8;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i + kAhead < ids.size()) {
      const char* next = table + static_cast<size_t>(ids[i + kAhead]) * row_bytes;
      for (size_t b = 0; b < row_bytes; b += 64) __builtin_prefetch(next + b);
    }
    std::memcpy(dst + i * row_bytes, table + static_cast<size_t>(ids[i]) * row_bytes, row_bytes);
  }
  ++v->stats.pulls;
  v->stats.bytes_out += static_cast<int64_t>(out.TotalBytes());
  return out;
}

StatusOr<Tensor> ParameterServer::PullDynamicRows(const std::string& name, const Tensor& ids, const Tensor* counts,
                                                  int64_t step, uint64_t max_bytes) {
  ASSIGN_OR_RETURN(Var* v, Find(name));
  if (!v->table) return InvalidArgumentError("variable ", name, " is not a dynamic embedding table");
  if (ids.dtype() != DType::kInt64 || ids.shape().rank() != 1) {
    return InvalidArgumentError("ids of ", name, " must be an int64 vector");
  }
  if (counts != nullptr && (counts->dtype() != DType::kInt64 || counts->num_elements() != ids.num_elements())) {
    return InvalidArgumentError("counts of ", name, " must be int64, one per id");
  }
  std::lock_guard<std::mutex> l(v->mu);
  const int64_t dim = v->table->dim();
  const uint64_t n = static_cast<uint64_t>(ids.num_elements());
  const uint64_t row_bytes = static_cast<uint64_t>(dim) * sizeof(float);
  if (n > max_bytes / row_bytes) {
    return ResourceExhaustedError("pulling ", n, " rows of ", name, " (", row_bytes, " bytes each) would take more than ",
                                  max_bytes, " bytes, what one answer may carry; pull fewer rows at a time");
  }
  Tensor out(DType::kFloat, TensorShape({ids.num_elements(), dim}));
  if (counts != nullptr) {
    Status st = v->table->Lookup(ids.flat<int64_t>().data(), counts->flat<int64_t>().data(), n, step,
                                 out.flat<float>().data());
    if (!st.ok()) return st.WithContext("dynamic table ", name, " on ps task ", options_.task_index);
  } else {
    v->table->Find(ids.flat<int64_t>().data(), n, out.flat<float>().data());
  }
  ++v->stats.pulls;
  v->stats.bytes_out += static_cast<int64_t>(out.TotalBytes());
  return out;
}

Status ParameterServer::ApplyLocked(Var* v, const PushItem& g, int64_t step) {
  const Opt& o = *v->opt;
  // Adam's bias correction: beta^(step+1), as TensorFlow's beta powers hold.
  const double b1p = std::pow(static_cast<double>(o.hyper.beta1), static_cast<double>(step + 1));
  const double b2p = std::pow(static_cast<double>(o.hyper.beta2), static_cast<double>(step + 1));
  if (!g.rows.initialized()) return o.apply(&v->value, v->slots, o.hyper, b1p, b2p, g);
  // As TensorFlow's optimizers do: repeated rows' gradients summed, then one
  // update per row.
  ASSIGN_OR_RETURN(apply::RowSparse u, apply::SumDuplicateRows(g.rows, g.grad));
  if (v->table) {
    // The rows that exist, gathered, updated densely (every optimizer,
    // Adam included, moves only the pushed rows of a dynamic table, as
    // DeepRec's do), and stored back.
    return v->table->Apply(u.indices.flat<int64_t>().data(), u.grad.flat<float>().data(),
                           static_cast<size_t>(u.indices.num_elements()),
                           [&](Tensor* value, std::vector<Tensor>& slots, const Tensor& grad) {
                             return o.apply(value, slots, o.hyper, b1p, b2p, {.name = g.name, .grad = grad});
                           });
  }
  return o.apply(&v->value, v->slots, o.hyper, b1p, b2p, {.name = g.name, .grad = u.grad, .rows = u.indices});
}

StatusOr<std::vector<ParameterServer::Var*>> ParameterServer::CheckPush(const std::vector<PushItem>& grads) const {
  std::vector<Var*> vars;
  vars.reserve(grads.size());
  for (const PushItem& g : grads) {
    ASSIGN_OR_RETURN(Var* v, Find(g.name));
    // A variable's dtype and shape never change once it exists: no lock.
    RETURN_IF_ERROR(CheckGradient(v->value, g, v->table != nullptr)
                        .WithContext("push to ", g.name, " (nothing of this push was applied)"));
    vars.push_back(v);
  }
  return vars;
}

StatusOr<int64_t> ParameterServer::Push(const std::vector<PushItem>& grads, int64_t step, bool increment) {
  if (options_.replicas_to_aggregate > 0) return SyncPush(grads, step);
  ASSIGN_OR_RETURN(std::vector<Var*> vars, CheckPush(grads));
  for (size_t i = 0; i < grads.size(); ++i) {
    const PushItem& g = grads[i];
    Var* v = vars[i];
    std::lock_guard<std::mutex> l(v->mu);
    RETURN_IF_ERROR(ApplyLocked(v, g, step).WithContext("push to ", g.name));
    ++v->stats.pushes;
    v->stats.bytes_in += static_cast<int64_t>(g.grad.TotalBytes());
  }
  if (options_.task_index != 0) return int64_t{-1};
  if (!increment) return global_step_.load();
  std::lock_guard<std::mutex> l(step_mu_);
  return ++global_step_;
}

StatusOr<int64_t> ParameterServer::SyncPush(const std::vector<PushItem>& grads, int64_t step) {
  std::lock_guard<std::mutex> l(sync_mu_);
  auto current = [&]() -> int64_t { return options_.task_index == 0 ? global_step_.load() : -1; };
  if (step >= sync_.step()) RETURN_IF_ERROR(CheckPush(grads).status());  // what is aggregated fits the variables
  const SyncAggregator::Outcome added = sync_.Add(grads, step);
  if (added == SyncAggregator::kStale) ++stale_dropped_;  // as SyncReplicasOptimizer drops them
  if (added != SyncAggregator::kComplete) return current();
  const int64_t applied = sync_.step();
  ASSIGN_OR_RETURN(SyncAggregator::Mean mean, sync_.TakeMean());
  for (const PushItem& g : mean.items) {
    ASSIGN_OR_RETURN(Var* v, Find(g.name));
    std::lock_guard<std::mutex> vl(v->mu);
    RETURN_IF_ERROR(ApplyLocked(v, g, applied).WithContext("push to ", g.name));
  }
  for (const auto& [name, in] : mean.received) {
    ASSIGN_OR_RETURN(Var* v, Find(name));
    std::lock_guard<std::mutex> vl(v->mu);
    v->stats.pushes += in.pushes;
    v->stats.bytes_in += in.bytes_in;
  }
  if (options_.task_index == 0) {
    std::lock_guard<std::mutex> sl(step_mu_);
    global_step_ = sync_.step();
  }
  return current();
}

StatusOr<BundleEntries> ParameterServer::SaveShard(const std::string& prefix, int shard_id, int num_shards) {
  // Snapshot under each variable's lock, write without holding any.
  struct Item {
    std::string key;  // the full variable's name for a part
    Tensor value;
    std::optional<SaveSliceInfo> slice;
  };
  std::vector<Item> snap;
  for (const std::string& name : VariableNames()) {
    ASSIGN_OR_RETURN(Var* v, Find(name));
    std::lock_guard<std::mutex> l(v->mu);
    if (v->table) {
      const std::string base = TableBase(name);
      DynamicTable::Snapshot t = v->table->Export();
      snap.push_back({base + "-keys", std::move(t.keys), std::nullopt});
      snap.push_back({name, std::move(t.values), std::nullopt});
      for (size_t i = 0; i < t.slots.size(); ++i) {
        snap.push_back({name + "/" + v->opt->slot_names[i], std::move(t.slots[i]), std::nullopt});
      }
      snap.push_back({base + "-freqs", std::move(t.freqs), std::nullopt});
      snap.push_back({base + "-versions", std::move(t.versions), std::nullopt});
      continue;
    }
    const std::string key = v->slice ? v->slice->full_name : name;
    snap.push_back({key, v->value.DeepCopy(), v->slice});
    for (size_t i = 0; i < v->slots.size(); ++i) {
      snap.push_back({key + "/" + v->opt->slot_names[i], v->slots[i].DeepCopy(), v->slice});
    }
  }
  BundleShardWriter w(options_.env, prefix, shard_id, num_shards);
  if (options_.task_index == 0) {
    int64_t step;
    {
      std::lock_guard<std::mutex> l(step_mu_);
      step = global_step_.load();
    }
    RETURN_IF_ERROR(w.Add("global_step", Tensor::Scalar<int64_t>(step)));
    if (const Opt* adam = adam_) {
      RETURN_IF_ERROR(w.Add("beta1_power", Tensor::Scalar<float>(std::pow(adam->hyper.beta1, static_cast<float>(step + 1)))));
      RETURN_IF_ERROR(w.Add("beta2_power", Tensor::Scalar<float>(std::pow(adam->hyper.beta2, static_cast<float>(step + 1)))));
    }
  }
  for (const Item& it : snap) {
    if (&it == &snap[snap.size() / 2]) FaultPoint("checkpoint.shard_partial");
    if (it.slice) {
      RETURN_IF_ERROR(w.AddSlice(it.key, it.slice->full_shape, RowSlice(*it.slice, it.value), it.value));
    } else {
      RETURN_IF_ERROR(w.Add(it.key, it.value));
    }
  }
  ASSIGN_OR_RETURN(BundleEntries entries, w.Finish());
  FaultPoint("checkpoint.after_shard");
  return entries;
}

std::vector<std::string> ParameterServer::StackedKeys() const {
  std::vector<std::string> out;
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& [name, v] : vars_) {
    if (!v->table) continue;
    const std::string base = TableBase(name);
    out.push_back(base + "-keys");
    out.push_back(name);
    for (const std::string& slot : v->opt->slot_names) out.push_back(name + "/" + slot);
    out.push_back(base + "-freqs");
    out.push_back(base + "-versions");
  }
  return out;
}

namespace {

// A dynamic table's tensor from a checkpoint, checked against what the
// table needs: dtype, rank, rows, and (values, slots) the width.
StatusOr<Tensor> ReadTableTensor(const BundleReader& reader, const std::string& key, DType dtype, int64_t rows,
                                 int64_t width) {
  ASSIGN_OR_RETURN(Tensor t, reader.Lookup(key));
  const bool fits = t.dtype() == dtype && t.shape().rank() == (width < 0 ? 1 : 2) &&
                    (rows < 0 || t.shape().dim(0) == rows) && (width < 0 || t.shape().dim(1) == width);
  if (!fits) {
    return FailedPreconditionError(key, " in ", reader.prefix(), " is ", DTypeName(t.dtype()), " ",
                                   t.shape().DebugString(), "; the dynamic table needs ", DTypeName(dtype), " [",
                                   rows < 0 ? std::string("N") : StrCat(rows), width < 0 ? "" : StrCat(", ", width), "]");
  }
  return t;
}

}  // namespace

Status ParameterServer::Restore(const BundleReader& reader, int num_tasks) {
  for (const std::string& name : VariableNames()) {
    ASSIGN_OR_RETURN(Var* v, Find(name));
    std::lock_guard<std::mutex> l(v->mu);
    if (v->table) {
      // Every saved row whose id hashes to this task, whichever tasks saved it.
      const std::string base = TableBase(name);
      const int64_t dim = v->table->dim();
      ASSIGN_OR_RETURN(Tensor keys, ReadTableTensor(reader, base + "-keys", DType::kInt64, -1, -1));
      const int64_t n = keys.num_elements();
      ASSIGN_OR_RETURN(Tensor values, ReadTableTensor(reader, name, DType::kFloat, n, dim));
      ASSIGN_OR_RETURN(Tensor freqs, ReadTableTensor(reader, base + "-freqs", DType::kInt64, n, -1));
      ASSIGN_OR_RETURN(Tensor versions, ReadTableTensor(reader, base + "-versions", DType::kInt64, n, -1));
      std::vector<Tensor> slots;
      for (const std::string& slot : v->opt->slot_names) {
        ASSIGN_OR_RETURN(Tensor t, ReadTableTensor(reader, name + "/" + slot, DType::kFloat, n, dim));
        slots.push_back(std::move(t));
      }
      // The saved rows this task holds now; more than its cap (another
      // number of tasks, a lower max_rows) keeps the most recently seen,
      // or, with on_full: error, is refused before anything changes.
      std::vector<int64_t> mine;
      for (int64_t i = 0; i < n; ++i) {
        if (DynamicRowTask(keys.flat<int64_t>()[static_cast<size_t>(i)], std::max(1, num_tasks)) == options_.task_index) {
          mine.push_back(i);
        }
      }
      const DynamicTableInit& to = v->table->options();
      if (to.max_rows > 0 && static_cast<int64_t>(mine.size()) > to.max_rows) {
        if (!to.evict_when_full) {
          return FailedPreconditionError("dynamic table ", name, ": ", reader.prefix(), " gives ps task ",
                                         options_.task_index, " ", mine.size(), " rows, more than its max_rows share of ",
                                         to.max_rows, " (on_full: error); raise max_rows or use more PS tasks");
        }
        const auto ver = versions.flat<int64_t>();
        std::nth_element(mine.begin(), mine.begin() + to.max_rows, mine.end(),
                         [&](int64_t a, int64_t b) { return ver[static_cast<size_t>(a)] > ver[static_cast<size_t>(b)]; });
        LOG(WARNING) << "dynamic table " << name << ": ps task " << options_.task_index << " restores the "
                     << to.max_rows << " most recently seen of its " << mine.size() << " saved rows (its max_rows share)";
        mine.resize(static_cast<size_t>(to.max_rows));
        std::sort(mine.begin(), mine.end());
      }
      v->table->Clear();
      const size_t d = static_cast<size_t>(dim);
      std::vector<const float*> slot_rows(slots.size());
      for (int64_t i : mine) {
        const int64_t key = keys.flat<int64_t>()[static_cast<size_t>(i)];
        const size_t o = static_cast<size_t>(i) * d;
        for (size_t k = 0; k < slots.size(); ++k) slot_rows[k] = slots[k].flat<float>().data() + o;
        Status st = v->table->Insert(key, values.flat<float>().data() + o, slot_rows,
                                     freqs.flat<int64_t>()[static_cast<size_t>(i)],
                                     versions.flat<int64_t>()[static_cast<size_t>(i)]);
        if (!st.ok()) return st.WithContext("restoring dynamic table ", name, " from ", reader.prefix());
      }
      continue;
    }
    if (v->slice) {
      // Whatever partitioning (or none) wrote the checkpoint.
      const TensorSlice rows = RowSlice(*v->slice, v->value);
      auto read = [&](const std::string& key, Tensor* into) -> Status {
        ASSIGN_OR_RETURN(Tensor t, reader.LookupSlice(key, rows));
        if (t.dtype() != into->dtype() || !(t.shape() == into->shape())) {
          return FailedPreconditionError(key, " in ", reader.prefix(), " gives ", DTypeName(t.dtype()), " ",
                                         t.shape().DebugString(), " for rows ", rows.DebugString(), ", not ",
                                         DTypeName(into->dtype()), " ", into->shape().DebugString());
        }
        std::memcpy(into->raw_data(), t.raw_data(), into->TotalBytes());
        return OkStatus();
      };
      RETURN_IF_ERROR(read(v->slice->full_name, &v->value));
      for (size_t i = 0; i < v->slots.size(); ++i) {
        RETURN_IF_ERROR(read(v->slice->full_name + "/" + v->opt->slot_names[i], &v->slots[i]));
      }
      continue;
    }
    RETURN_IF_ERROR(reader.LookupInto(name, &v->value));
    for (size_t i = 0; i < v->slots.size(); ++i) {
      RETURN_IF_ERROR(reader.LookupInto(name + "/" + v->opt->slot_names[i], &v->slots[i]));
    }
  }
  ASSIGN_OR_RETURN(Tensor gs, reader.Lookup("global_step"));
  if (gs.dtype() != DType::kInt64 || gs.num_elements() != 1) {
    return DataLossError("global_step in ", reader.prefix(), " is not an int64 scalar");
  }
  {
    std::lock_guard<std::mutex> l(sync_mu_);
    sync_.Reset(gs.flat<int64_t>()[0]);  // every task aggregates for the restored step
  }
  if (options_.task_index == 0) {
    std::lock_guard<std::mutex> l(step_mu_);
    global_step_ = gs.flat<int64_t>()[0];
  }
  return OkStatus();
}

std::map<std::string, DynamicTableStats> ParameterServer::TableStats() const {
  std::map<std::string, DynamicTableStats> out;
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& [k, v] : vars_) {
    if (!v->table) continue;
    std::lock_guard<std::mutex> vl(v->mu);
    out[k] = v->table->stats();
  }
  return out;
}

std::map<std::string, VariableStats> ParameterServer::Stats() const {
  std::map<std::string, VariableStats> out;
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& [k, v] : vars_) {
    std::lock_guard<std::mutex> vl(v->mu);
    out[k] = v->stats;
  }
  return out;
}

}  // namespace psflow
