#include "worker/trainer.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <thread>

#include "common/checkpoint/restore.h"
#include "common/core/logging.h"
#include "common/core/strcat.h"
#include "common/gpu/all_reduce.h"
#include "common/ops/gradients.h"
#include "common/ops/ops.h"

namespace psflow {
namespace {

using Clock = std::chrono::steady_clock;

StatusOr<TrainingModel> BuildModel(const ModelFn& fn, const ModelParams& params, const Example& batch,
                           std::optional<int64_t> seed) {
  TrainingModel m;
  ASSIGN_OR_RETURN(m.g, BuildModelGraph(fn, params, Mode::kTrain, batch, seed));
  Graph* graph = m.g.graph.get();
  Scope root(graph);
  m.trainable = graph->VariablesInCollection(collections::kTrainableVariables);
  std::vector<Output> xs;
  for (const Variable* v : m.trainable) xs.push_back(v->value);
  RETURN_IF_ERROR(AddGradients(root, {m.g.spec.loss}, xs, &m.grads));
  for (size_t i = 0; i < m.grads.size(); ++i) {
    if (!m.grads[i].valid()) {
      return InvalidArgumentError("the loss does not depend on trainable variable ", m.trainable[i]->name,
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
  ASSIGN_OR_RETURN(TrainingModel m, BuildModel(fn, params, batch, std::nullopt));
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
  ASSIGN_OR_RETURN(TrainingModel m, BuildModel(model_fn_, params_, batch, options_.run.tf_random_seed));
  ASSIGN_OR_RETURN(std::unique_ptr<StepRunner> runner, StepRunner::Create(m.g.graph.get(), options_.gpus));
  if (!options_.gpus.empty()) {
    std::vector<std::string> names;
    for (GpuDevice* g : options_.gpus) names.push_back(g->Description());
    LOG(INFO) << options_.task << " runs its steps on " << StrJoin(names, ", ")
              << (names.size() > 1 ? " (the batch split between them, gradients all-reduced)" : "");
  }
  std::vector<std::string> names;
  for (const Variable* v : m.trainable) names.push_back(v->name);

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
    ASSIGN_OR_RETURN(auto values, ps_->Pull(names));
    if (request.trace) {
      trace.push_back({"pull", "rpc", t0, TraceNowMicros() - t0});
      runner->first().TraceNextRun(&trace);
    }
    RETURN_IF_ERROR(runner->Run(values, FeedsFor(m.g, batch), fetches, &out));
    std::map<std::string, Tensor> grads;
    for (size_t i = 0; i < names.size(); ++i) grads[names[i]] = out[i + 1];
    const int64_t pushed_at = step;
    t0 = request.trace ? TraceNowMicros() : 0;
    ASSIGN_OR_RETURN(step, ps_->Push(grads, step));
    if (request.trace) trace.push_back({"push", "rpc", t0, TraceNowMicros() - t0});
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
                        .trace = request.trace ? &trace : nullptr};
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
