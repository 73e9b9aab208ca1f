#include "worker/trainer.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <cstring>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "common/checkpoint/restore.h"
#include "common/core/logging.h"
#include "common/core/strcat.h"
#include "common/gpu/all_reduce.h"
#include "common/ops/gradients.h"
#include "common/ops/ops.h"

namespace psflow {
namespace {

using Clock = std::chrono::steady_clock;

// The nodes `from` depends on (inputs and control inputs), itself included.
std::unordered_set<const Node*> Ancestors(const std::vector<const Node*>& from) {
  std::unordered_set<const Node*> seen;
  std::vector<const Node*> todo = from;
  while (!todo.empty()) {
    const Node* n = todo.back();
    todo.pop_back();
    if (n == nullptr || !seen.insert(n).second) continue;
    for (const Output& in : n->inputs()) todo.push_back(in.node);
    for (const Node* c : n->control_inputs()) todo.push_back(c);
  }
  return seen;
}

// The Gathers through which the loss reads `v`, if it reads it only so and
// every Gather's ids come from the batch alone (no variable among their
// inputs): then `v` can be pulled by rows.  Empty otherwise.  A dynamic
// table's values are read by DynamicEmbeddingLookups (input 1; ids input 2).
std::vector<Node*> RowLookups(const Graph& graph, const Variable& v, const std::unordered_set<const Node*>& loss_deps) {
  std::vector<Node*> gathers;
  if (v.dtype != DType::kFloat || v.shape.rank() < 1) return {};
  const bool dynamic = v.embedding != nullptr;
  const char* op = dynamic ? "DynamicEmbeddingLookup" : "Gather";
  const size_t table_input = dynamic ? 1 : 0;
  for (const auto& n : graph.nodes()) {
    if (!loss_deps.contains(n.get())) continue;
    for (size_t i = 0; i < n->inputs().size(); ++i) {
      if (n->inputs()[i] != v.value) continue;
      if (n->type() != op || i != table_input) return {};
      gathers.push_back(n.get());
    }
  }
  for (Node* g : gathers) {
    for (const Node* d : Ancestors({g->inputs()[table_input + 1].node})) {
      if (d->type() == "VariableV2") return {};
    }
  }
  return gathers;
}

StatusOr<TrainingModel> BuildModel(const ModelFn& fn, const ModelParams& params, const Example& batch,
                                   std::optional<int64_t> seed, bool row_pulls) {
  TrainingModel m;
  ASSIGN_OR_RETURN(m.g, BuildModelGraph(fn, params, Mode::kTrain, batch, seed));
  Graph* graph = m.g.graph.get();
  Scope root(graph);
  m.trainable = graph->VariablesInCollection(collections::kTrainableVariables);
  const auto loss_deps = Ancestors({m.g.spec.loss.node});
  std::vector<Output> xs;
  std::vector<std::string> x_names;  // the variable behind each of xs
  for (const Variable* v : m.trainable) {
    const std::vector<Node*> lookups = row_pulls ? RowLookups(*graph, *v, loss_deps) : std::vector<Node*>{};
    if (lookups.empty()) {
      if (v->embedding != nullptr) {
        return InvalidArgumentError("dynamic embedding table ", v->name,
                                    row_pulls ? " is read by something other than DynamicEmbeddingLookups of batch ids"
                                              : " cannot train replicated over several GPUs (its rows are pulled by id); "
                                                "use one GPU per trainer");
      }
      m.whole.push_back(v);
      continue;
    }
    RowPulledTable t{.var = v};
    for (Node* g : lookups) {
      t.lookups.push_back(g->output(0));
      const Output ids = g->inputs()[t.dynamic() ? 2 : 1];
      t.ids.push_back(ids);
      // A lookup of a Unique's ids (the feature columns' way): its idx
      // tells how often each id occurs in the batch.
      if (t.dynamic()) t.positions.push_back(ids.node->type() == "Unique" && ids.index == 0 ? ids.node->output(1) : Output{});
    }
    m.by_rows.push_back(std::move(t));
  }
  for (const Variable* v : m.whole) {
    xs.push_back(v->value);
    x_names.push_back(v->name);
  }
  for (const RowPulledTable& t : m.by_rows) {
    for (const Output& o : t.lookups) {
      xs.push_back(o);
      x_names.push_back(t.var->name);
    }
  }
  RETURN_IF_ERROR(AddGradients(root, {m.g.spec.loss}, xs, &m.grads));
  for (size_t i = 0; i < m.grads.size(); ++i) {
    if (!m.grads[i].valid()) {
      return InvalidArgumentError("the loss does not depend on trainable variable ", x_names[i],
                                  "; remove it or mark it non-trainable");
    }
  }
  m.init = GlobalVariablesInitializer(root);
  RETURN_IF_ERROR(root.status());
  for (const Variable* v : graph->VariablesInCollection(collections::kGlobalVariables)) {
    m.specs.push_back({v->name, v->dtype, v->shape.ToShape()});
  }
  return m;
}

// A step's embedding rows: per table the unique ids its lookups ask for
// (in first-seen order) and, per lookup, each id's position among them.
struct StepRows {
  std::vector<PsClient::RowPull> pulls;            // one per table
  std::vector<std::vector<std::vector<int64_t>>> where;  // [table][lookup] -> unique position per id
  int64_t rows = 0;
};

int64_t IdAt(const Tensor& id, int64_t i) {
  return id.dtype() == DType::kInt32 ? id.flat<int32_t>()[static_cast<size_t>(i)] : id.flat<int64_t>()[static_cast<size_t>(i)];
}

// `ids` holds every lookup's ids, table by table, then the dynamic tables'
// valid `positions`, table by table.
StepRows Dedup(const TrainingModel& m, const std::vector<Tensor>& ids) {
  StepRows s;
  size_t next = 0;
  size_t next_positions = 0;
  for (const RowPulledTable& t : m.by_rows) next_positions += t.ids.size();
  for (const RowPulledTable& t : m.by_rows) {
    std::unordered_map<int64_t, int64_t> local;
    std::vector<int64_t> unique;
    auto& where = s.where.emplace_back();
    for (size_t l = 0; l < t.lookups.size(); ++l) {
      const Tensor& id = ids[next++];
      auto& w = where.emplace_back(static_cast<size_t>(id.num_elements()));
      for (int64_t i = 0, end = id.num_elements(); i < end; ++i) {
        auto [it, fresh] = local.try_emplace(IdAt(id, i), static_cast<int64_t>(unique.size()));
        if (fresh) unique.push_back(it->first);
        w[static_cast<size_t>(i)] = it->second;
      }
    }
    s.rows += static_cast<int64_t>(unique.size());
    const int64_t u = static_cast<int64_t>(unique.size());
    PsClient::RowPull pull{.name = t.var->name, .rows = Tensor::FromVector<int64_t>(unique, TensorShape({u}))};
    if (t.dynamic()) {
      // Each id's occurrences in the batch, through `where` (no hashing).
      std::vector<int64_t> counts(unique.size(), 0);
      for (size_t l = 0; l < t.positions.size(); ++l) {
        const std::vector<int64_t>& w = where[l];
        if (!t.positions[l].valid()) {
          for (int64_t k : w) ++counts[static_cast<size_t>(k)];
          continue;
        }
        const Tensor& pos = ids[next_positions++];
        for (int64_t i = 0, end = pos.num_elements(); i < end; ++i) ++counts[static_cast<size_t>(w[static_cast<size_t>(IdAt(pos, i))])];
      }
      pull.counts = Tensor::FromVector<int64_t>(counts, TensorShape({u}));
    }
    s.pulls.push_back(std::move(pull));
  }
  return s;
}

// A lookup's output [ids..., row...] from its table's unique rows.
Tensor ExpandRows(const Tensor& unique, const std::vector<int64_t>& where, const TensorShape& ids_shape) {
  std::vector<int64_t> dims = ids_shape.dims();
  for (int d = 1; d < unique.shape().rank(); ++d) dims.push_back(unique.shape().dim(d));
  Tensor out(unique.dtype(), TensorShape(dims));
  const size_t u = static_cast<size_t>(unique.shape().dim(0));
  const size_t row_bytes = u == 0 ? 0 : unique.TotalBytes() / u;
  const char* src = static_cast<const char*>(unique.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  for (size_t i = 0; i < where.size(); ++i) {
    std::memcpy(dst + i * row_bytes, src + static_cast<size_t>(where[i]) * row_bytes, row_bytes);
  }
  return out;
}

// Adds a lookup's gradient [ids..., row...] into its table's per-unique-row
// sums [u, row...] (TensorFlow's IndexedSlices, duplicates summed).
void FoldRows(const Tensor& grad, const std::vector<int64_t>& where, Tensor* sums) {
  const size_t n = where.size();
  const size_t row = n == 0 ? 0 : static_cast<size_t>(grad.num_elements()) / n;
  const float* g = grad.flat<float>().data();
  float* s = sums->flat<float>().data();
  for (size_t i = 0; i < n; ++i) {
    float* dst = s + static_cast<size_t>(where[i]) * row;
    const float* src = g + i * row;
    for (size_t j = 0; j < row; ++j) dst[j] += src[j];
  }
}

// Runs a step's forward and backward passes on the CPU, one GPU, or
// several GPUs (one session per GPU, each on a share of the batch's rows,
// gradients all-reduced into the whole batch's mean).  Variables come in
// as host values pulled from the PS; the loss and gradients go out as host
// tensors.
class StepRunner {
 public:
  static StatusOr<std::unique_ptr<StepRunner>> Create(const Graph* graph, const std::vector<GpuDevice*>& gpus) {
    auto r = std::unique_ptr<StepRunner>(new StepRunner());
    if (gpus.empty()) {
      r->sessions_.push_back(std::make_unique<Session>(graph));
      return r;
    }
    for (GpuDevice* g : gpus) r->sessions_.push_back(std::make_unique<Session>(graph, SessionOptions{.gpu = g}));
    if (gpus.size() > 1) {
      ASSIGN_OR_RETURN(r->all_reduce_, GpuAllReduce::Create(gpus));
      r->gpus_ = gpus;
    }
    return r;
  }
  Session& first() { return *sessions_[0]; }

  // fetches = {loss, gradients...}; out gets their host values.
  Status Run(const std::map<std::string, Tensor>& vars, const FeedList& feeds, const std::vector<Output>& fetches,
             std::vector<Tensor>* out) {
    if (sessions_.size() == 1) {
      RETURN_IF_ERROR(sessions_[0]->AssignVariables(vars));
      return sessions_[0]->Run(feeds, fetches, out);
    }
    const size_t k = sessions_.size();
    const int64_t rows = feeds.empty() ? 0 : feeds[0].second.shape().dim(0);
    for (const auto& [o, t] : feeds) {
      if (t.shape().rank() < 1 || t.shape().dim(0) != rows) {
        return InvalidArgumentError("a batch split across GPUs needs every input to have ", rows, " rows; ", o.name(),
                                    " has shape ", t.shape().DebugString());
      }
    }
    std::vector<std::vector<Tensor>> outs(k);
    std::vector<double> weights(k);
    std::vector<std::future<Status>> done;
    for (size_t i = 0; i < k; ++i) {
      const int64_t lo = rows * static_cast<int64_t>(i) / static_cast<int64_t>(k);
      const int64_t hi = rows * static_cast<int64_t>(i + 1) / static_cast<int64_t>(k);
      weights[i] = rows == 0 ? 0.0 : static_cast<double>(hi - lo) / static_cast<double>(rows);
      done.push_back(std::async(std::launch::async, [&, i, lo, hi]() -> Status {
        return Replica(i, lo, hi, vars, feeds, fetches, &outs[i]);
      }));
    }
    Status st;
    for (auto& f : done) {
      Status s = f.get();
      if (st.ok() && !s.ok()) st = s;
    }
    RETURN_IF_ERROR(st);
    // Every replica's gradients, summed with its share of the rows as weight.
    std::vector<std::vector<Tensor>> grads(k);
    double loss = 0;
    for (size_t i = 0; i < k; ++i) {
      ASSIGN_OR_RETURN(Tensor l, outs[i][0].ToHost());
      if (weights[i] > 0) loss += weights[i] * static_cast<double>(l.flat<float>()[0]);
      grads[i].assign(outs[i].begin() + 1, outs[i].end());
    }
    RETURN_IF_ERROR(all_reduce_->WeightedSum(grads, weights));
    out->clear();
    out->push_back(Tensor::Scalar<float>(static_cast<float>(loss)));
    for (const Tensor& g : grads[0]) {
      ASSIGN_OR_RETURN(Tensor h, g.ToHost());
      out->push_back(std::move(h));
    }
    return OkStatus();
  }

 private:
  StepRunner() = default;

  // Replica i on rows [lo, hi): its loss and gradients, on its device.
  Status Replica(size_t i, int64_t lo, int64_t hi, const std::map<std::string, Tensor>& vars, const FeedList& feeds,
                 const std::vector<Output>& fetches, std::vector<Tensor>* out) {
    Session& sess = *sessions_[i];
    GpuDevice* gpu = gpus_[i];
    RETURN_IF_ERROR(gpu->MakeCurrent());
    RETURN_IF_ERROR(sess.AssignVariables(vars));
    if (hi == lo) {
      // No rows for this GPU (a batch smaller than the GPU count): zero
      // gradients of weight 0 take its place in the all-reduce.
      out->assign(1, Tensor::Scalar<float>(0.f));
      for (size_t f = 1; f < fetches.size(); ++f) {
        const Output& o = fetches[f];
        ASSIGN_OR_RETURN(Tensor z, gpu->Allocate(o.dtype(), o.shape().ToShape()));
        RETURN_IF_ERROR(gpu->Memset(z.device_data(), 0, z.TotalBytes()));
        out->push_back(std::move(z));
      }
      return OkStatus();
    }
    FeedList part;
    for (const auto& [o, t] : feeds) part.emplace_back(o, t.SliceRows(lo, hi));
    RETURN_IF_ERROR(sess.Run(part, fetches, {}, out, {.fetch_to_host = false}));
    // The all-reduce works in place: each gradient gets a buffer of its own
    // on this GPU (a fetched tensor may share one with a constant).
    for (size_t f = 1; f < out->size(); ++f) {
      Tensor& g = (*out)[f];
      if (g.device().is_host()) {
        ASSIGN_OR_RETURN(g, gpu->CopyToDevice(g));
      } else {
        ASSIGN_OR_RETURN(g, gpu->Duplicate(g));
      }
    }
    return OkStatus();
  }

  std::vector<std::unique_ptr<Session>> sessions_;
  std::vector<GpuDevice*> gpus_;
  std::unique_ptr<GpuAllReduce> all_reduce_;
};

}  // namespace

StatusOr<std::vector<VariableSpec>> JobVariables(const ModelFn& fn, const ModelParams& params, const Example& batch) {
  ASSIGN_OR_RETURN(TrainingModel m, BuildModel(fn, params, batch, std::nullopt, /*row_pulls=*/true));
  return m.specs;
}

Trainer::Trainer(TrainerOptions options, ModelFn model_fn, ModelParams params, std::unique_ptr<PsClient> ps)
    : options_(std::move(options)), model_fn_(std::move(model_fn)), params_(std::move(params)), ps_(std::move(ps)) {}

Status WorkerRole::Prepare(const TrainerOptions& options, const TrainingModel&, PsClient& ps) {
  const auto t0 = Clock::now();
  auto last_log = t0;
  int failures = 0;
  while (!(options.stop && options.stop->load())) {  // told to stop: no step will run
    // Each PS task answers when the chief has marked it ready (no polling);
    // a wait lasts until the next progress line is due.
    const double waited = std::chrono::duration<double>(Clock::now() - t0).count();
    const double left = options.ready_timeout_secs - waited;
    if (left <= 0) {
      return DeadlineExceededError(options.task, " waited ", static_cast<int64_t>(waited),
                                   " s for the chief to initialize the model on the parameter servers; is the chief running?");
    }
    const double wait = std::min(left, std::max(options.wait_log_secs, 0.05));
    auto ready = ps.WaitForReady(static_cast<int64_t>(wait * 1000) + 1);
    if (ready.ok() && *ready) return OkStatus();
    if (std::chrono::duration<double>(Clock::now() - last_log).count() >= options.wait_log_secs) {
      LOG(INFO) << options.task << " waiting for the model to be ready (the chief initializes the " << ps.num_ps()
                << " PS tasks): " << (ready.ok() ? "not yet" : ready.status().ToString());
      last_log = Clock::now();
    }
    if (!ready.ok()) {
      // A PS task not up yet answers at once: back off (to a second) before asking again.
      failures = std::min(failures + 1, 5);
      std::this_thread::sleep_for(std::chrono::milliseconds(int64_t{30} << failures));
    } else {
      failures = 0;
    }
  }
  return OkStatus();
}

StatusOr<TrainerResult> Trainer::Run(const InputFn& input_fn, TrainingRole* role) {
  WorkerRole worker;
  if (role == nullptr) role = &worker;
  ASSIGN_OR_RETURN(std::unique_ptr<Dataset> data, input_fn());
  Example batch;
  ASSIGN_OR_RETURN(bool have, data->Next(&batch));
  if (!have) return InvalidArgumentError("the training input of ", options_.task, " produced no data");
  // Replicas split the batch by rows and all-reduce same-shaped gradients,
  // which row pulls' per-batch shapes are not: with several GPUs every
  // variable is pulled whole.
  const bool row_pulls = options_.gpus.size() <= 1;
  ASSIGN_OR_RETURN(TrainingModel m, BuildModel(model_fn_, params_, batch, options_.run.tf_random_seed, row_pulls));
  ASSIGN_OR_RETURN(std::unique_ptr<StepRunner> runner, StepRunner::Create(m.g.graph.get(), options_.gpus));
  if (!options_.gpus.empty()) {
    std::vector<std::string> names;
    for (GpuDevice* g : options_.gpus) names.push_back(g->Description());
    LOG(INFO) << options_.task << " runs its steps on " << StrJoin(names, ", ")
              << (names.size() > 1 ? " (the batch split between them, gradients all-reduced)" : "");
  }
  std::vector<std::string> names;  // pulled whole
  for (const Variable* v : m.whole) names.push_back(v->name);
  std::vector<Output> ids_fetches;   // every row-pulled lookup's ids, table by table, then positions
  for (const RowPulledTable& t : m.by_rows) ids_fetches.insert(ids_fetches.end(), t.ids.begin(), t.ids.end());
  const size_t num_ids = ids_fetches.size();
  for (const RowPulledTable& t : m.by_rows) {
    for (const Output& p : t.positions) {
      if (p.valid()) ids_fetches.push_back(p);
    }
  }
  if (!m.by_rows.empty()) {
    std::vector<std::string> tables;
    for (const RowPulledTable& t : m.by_rows) tables.push_back(t.var->name);
    LOG(INFO) << options_.task << " pulls " << StrJoin(tables, ", ")
              << " by rows (only the batch's unique ids) and pushes their gradients row-sparse";
  }

  RETURN_IF_ERROR(role->Prepare(options_, m, *ps_));
  ASSIGN_OR_RETURN(int64_t step, ps_->GlobalStep());
  HookList hooks;
  hooks.Add(StopAtStepHook(options_.train_steps));
  hooks.Add(LoggingHook(options_.run.log_step_count_steps, options_.task + ": ", options_.status_records));
  if (options_.run.profile_steps > 0) {
    hooks.Add(ProfilerHook(options_.run.profile_steps, options_.env, JoinPath(options_.run.model_dir, "profile"),
                           options_.task));
  }
  ASSIGN_OR_RETURN(std::vector<std::unique_ptr<SessionRunHook>> role_hooks, role->Hooks(options_, m, *ps_));
  hooks.Add(std::move(role_hooks));
  bool stop = false;
  RETURN_IF_ERROR(hooks.Begin(step, &stop));
  RETURN_IF_ERROR(role->AfterBegin(*ps_));

  TrainerResult result;
  std::vector<Tensor> out;
  std::vector<Output> fetches = {m.g.spec.loss};
  fetches.insert(fetches.end(), m.grads.begin(), m.grads.end());
  std::vector<TraceEvent> trace;
  auto stopping = [&] { return options_.stop && options_.stop->load(); };
  for (int64_t local = 1; !stop && !stopping(); ++local) {
    const StepRequest request = hooks.BeforeRun(local);
    if (request.trace) trace.clear();
    int64_t t0 = request.trace ? TraceNowMicros() : 0;
    FeedList feeds = FeedsFor(m.g, batch);
    StepRows rows;
    if (!ids_fetches.empty()) {
      std::vector<Tensor> ids;
      RETURN_IF_ERROR(runner->first().Run(feeds, ids_fetches, &ids));
      rows = Dedup(m, ids);
      size_t next = 0;
      for (size_t t = 0; t < m.by_rows.size(); ++t) {
        for (size_t l = 0; l < m.by_rows[t].lookups.size(); ++l) feeds.emplace_back(m.by_rows[t].lookups[l], ids[next++]);
      }
    }
    ASSIGN_OR_RETURN(PsClient::PullResult pulled, ps_->PullAll(names, rows.pulls, step));
    // The lookups' outputs, fed in place of the Gathers (the ids' slots in
    // `feeds` get the rows).
    if (!ids_fetches.empty()) {
      size_t f = feeds.size() - num_ids;
      for (size_t t = 0; t < m.by_rows.size(); ++t) {
        for (size_t l = 0; l < m.by_rows[t].lookups.size(); ++l, ++f) {
          feeds[f].second = ExpandRows(pulled.rows[t], rows.where[t][l], feeds[f].second.shape());
        }
      }
    }
    if (request.trace) {
      trace.push_back({"pull", "rpc", t0, TraceNowMicros() - t0});
      runner->first().TraceNextRun(&trace);
    }
    RETURN_IF_ERROR(runner->Run(pulled.whole, feeds, fetches, &out));
    std::vector<PushItem> grads;
    for (size_t i = 0; i < names.size(); ++i) grads.push_back({.name = names[i], .grad = out[i + 1]});
    size_t next = names.size() + 1;
    for (size_t t = 0; t < m.by_rows.size(); ++t) {
      const Tensor& unique = pulled.rows[t];
      Tensor sums(DType::kFloat, unique.shape());
      std::fill(sums.flat<float>().begin(), sums.flat<float>().end(), 0.f);
      for (size_t l = 0; l < m.by_rows[t].lookups.size(); ++l) FoldRows(out[next++], rows.where[t][l], &sums);
      grads.push_back({.name = m.by_rows[t].var->name, .grad = std::move(sums), .rows = rows.pulls[t].rows});
    }
    const int64_t pushed_at = step;
    t0 = request.trace ? TraceNowMicros() : 0;
    int64_t bytes_pushed = 0;
    ASSIGN_OR_RETURN(step, ps_->PushItems(grads, step, &bytes_pushed));
    if (request.trace) trace.push_back({"push", "rpc", t0, TraceNowMicros() - t0});
    result.rows_pulled += rows.rows;
    result.bytes_pulled += pulled.bytes;
    result.bytes_pushed += bytes_pushed;
    if (options_.sync) {
      // Wait for the step to be aggregated and applied (bounded): PS task 0
      // answers when it is; a second at a time, so that a stop is seen.
      const auto w0 = Clock::now();
      while (step <= pushed_at && !stopping() && !ps_->stop_requested()) {
        const double left = options_.sync_wait_secs - std::chrono::duration<double>(Clock::now() - w0).count();
        if (left <= 0) {
          ++result.sync_timeouts;
          LOG(WARNING) << options_.task << " waited " << options_.sync_wait_secs << " s for step " << pushed_at
                       << " to be aggregated (too few live workers for replicas_to_aggregate?); going on";
          break;
        }
        ASSIGN_OR_RETURN(step, ps_->WaitForStep(pushed_at, static_cast<int64_t>(std::min(left, 1.0) * 1000) + 1));
      }
    }
    const float loss = out[0].flat<float>()[0];
    if (local == 1) result.first_loss = loss;
    result.last_loss = loss;
    result.local_steps = local;
    const StepInfo info{.global_step = step, .local_step = local, .loss = loss,
                        .batch_size = batch.begin()->second.shape().dim(0),
                        .trace = request.trace ? &trace : nullptr,
                        .rows_pulled = rows.rows, .bytes_pulled = pulled.bytes, .bytes_pushed = bytes_pushed};
    RETURN_IF_ERROR(hooks.AfterRun(info, &stop));
    if (ps_->stop_requested()) {
      LOG(INFO) << options_.task << ": stopping at step " << step << ": the evaluator asked for it (early stopping)";
      result.stopped_early = true;
      break;
    }
    if (stop) break;
    ASSIGN_OR_RETURN(have, data->Next(&batch));
    if (!have) break;
  }
  ASSIGN_OR_RETURN(step, role->StepAtEnd(*ps_, step));
  RETURN_IF_ERROR(hooks.End(step));
  result.global_step = step;
  return result;
}

}  // namespace psflow
