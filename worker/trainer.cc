#include "worker/trainer.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <regex>
#include <set>
#include <thread>

#include "common/checkpoint/checkpoint_manager.h"
#include "common/checkpoint/checkpoint_state.h"
#include "common/checkpoint/restore.h"
#include "common/core/logging.h"
#include "common/core/strcat.h"
#include "common/gpu/all_reduce.h"
#include "common/ops/gradients.h"
#include "common/ops/graph_io.h"
#include "common/ops/ops.h"
#include "common/summary/event_writer.h"

namespace psflow {
namespace {

using Clock = std::chrono::steady_clock;

// The training graph: the model_fn's graph (its train_op is never run: the
// PS applies the optimizer, but building it creates the slots, so the
// variable list matches a checkpoint) plus the gradients of the loss.
struct Model {
  ModelGraph g;
  std::vector<const Variable*> trainable;
  std::vector<Output> grads;
  Node* init = nullptr;
  std::vector<VariableSpec> specs;  // every global variable: what a checkpoint holds
};

StatusOr<Model> BuildModel(const ModelFn& fn, const ModelParams& params, const Example& batch,
                           std::optional<int64_t> seed) {
  Model m;
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

// Replaces the initial values of the trainable variables that `ws.vars`
// matches with their values in the warm-start checkpoint.
Status WarmStart(const WarmStartSpec& ws, const std::vector<const Variable*>& trainable,
                 std::map<std::string, Tensor>* init) {
  std::string prefix = ws.from;
  if (!Env::Default()->FileExists(ws.from + ".index") && Env::Default()->GetChildren(ws.from).ok()) {  // a directory
    ASSIGN_OR_RETURN(std::optional<std::string> latest, LatestCheckpoint(Env::Default(), ws.from));
    if (!latest) return NotFoundError("run.warm_start.from: directory ", ws.from, " has no checkpoint");
    prefix = *latest;
  }
  ASSIGN_OR_RETURN(auto reader, BundleReader::Open(Env::Default(), prefix));
  std::regex pattern;
  try {
    pattern = std::regex(ws.vars);
  } catch (const std::regex_error& e) {
    return InvalidArgumentError("run.warm_start.vars '", ws.vars, "' is not a valid regular expression: ", e.what());
  }
  std::set<std::string> names;
  for (const Variable* v : trainable) names.insert(v->name);
  for (const auto& [name, prev] : ws.prev_names) {
    if (!names.count(name)) {
      return InvalidArgumentError("run.warm_start.prev_names names ", name, ", which is not a trainable variable of the model");
    }
  }
  std::vector<std::string> problems;
  int warmed = 0;
  for (const Variable* v : trainable) {
    if (!std::regex_match(v->name, pattern)) continue;
    auto it = ws.prev_names.find(v->name);
    const std::string old = it == ws.prev_names.end() ? v->name : it->second;
    if (!reader->Contains(old)) {
      problems.push_back(StrCat(v->name, (old == v->name ? "" : StrCat(" (as ", old, ")")), " is not in the checkpoint"));
      continue;
    }
    ASSIGN_OR_RETURN(BundleTensorInfo info, reader->GetInfo(old));
    const Tensor& want = init->at(v->name);
    if (info.dtype != want.dtype() || !(info.shape == want.shape())) {
      problems.push_back(StrCat(v->name, ": the checkpoint has ", DTypeName(info.dtype), " ", info.shape.DebugString(),
                                ", the model ", DTypeName(want.dtype()), " ", want.shape().DebugString()));
      continue;
    }
    ASSIGN_OR_RETURN((*init)[v->name], reader->Lookup(old));
    ++warmed;
  }
  if (!problems.empty()) {
    return FailedPreconditionError("cannot warm-start from ", prefix, ": ", StrJoin(problems, "; "),
                                   ". Narrow run.warm_start.vars or map names with run.warm_start.prev_names");
  }
  if (warmed == 0) {
    return InvalidArgumentError("run.warm_start.vars '", ws.vars, "' matches no trainable variable of the model");
  }
  LOG(INFO) << "Warm-started " << warmed << " of " << trainable.size() << " trainable variables from " << prefix;
  return OkStatus();
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
  ASSIGN_OR_RETURN(Model m, BuildModel(fn, params, batch, std::nullopt));
  return m.specs;
}

Trainer::Trainer(TrainerOptions options, ModelFn model_fn, ModelParams params, std::unique_ptr<PsClient> ps)
    : options_(std::move(options)), model_fn_(std::move(model_fn)), params_(std::move(params)), ps_(std::move(ps)) {}

StatusOr<TrainerResult> Trainer::Run(const InputFn& input_fn) {
  ASSIGN_OR_RETURN(std::unique_ptr<Dataset> data, input_fn());
  Example batch;
  ASSIGN_OR_RETURN(bool have, data->Next(&batch));
  if (!have) return InvalidArgumentError("the training input of ", options_.task, " produced no data");
  ASSIGN_OR_RETURN(Model m, BuildModel(model_fn_, params_, batch, options_.tf_random_seed));
  ASSIGN_OR_RETURN(std::unique_ptr<StepRunner> runner, StepRunner::Create(m.g.graph.get(), options_.gpus));
  if (!options_.gpus.empty()) {
    std::vector<std::string> names;
    for (GpuDevice* g : options_.gpus) names.push_back(g->Description());
    LOG(INFO) << options_.task << " runs its steps on " << StrJoin(names, ", ")
              << (names.size() > 1 ? " (the batch split between them, gradients all-reduced)" : "");
  }
  std::vector<Tensor> out;
  std::vector<std::string> names;
  for (const Variable* v : m.trainable) names.push_back(v->name);

  std::unique_ptr<CheckpointManager> mgr;
  std::unique_ptr<EventWriter> events;
  TrainerResult result;
  int64_t last_saved = -1;
  auto last_save_time = Clock::now();
  auto save = [&](int64_t step) -> Status {
    const std::string prefix = mgr->PrefixForStep(step);
    ASSIGN_OR_RETURN(std::vector<BundleEntries> parts, ps_->Save(prefix));
    RETURN_IF_ERROR(WriteBundleIndex(Env::Default(), prefix, ps_->num_ps(), parts));
    RETURN_IF_ERROR(WriteMetaGraph(*m.g.graph, prefix + ".meta",
                                   {.max_to_keep = options_.keep_checkpoint_max,
                                    .keep_checkpoint_every_n_hours = options_.keep_checkpoint_every_n_hours}));
    RETURN_IF_ERROR(mgr->Commit(prefix));
    LOG(INFO) << "Saving checkpoints for " << step << " into " << prefix;
    if (events) RETURN_IF_ERROR(events->WriteSessionLog(tensorflow::SessionLog::CHECKPOINT, step, prefix));
    last_saved = step;
    last_save_time = Clock::now();
    result.last_checkpoint = prefix;
    return OkStatus();
  };

  if (options_.is_chief) {
    // Errors while finding, checking and restoring the checkpoint (or the
    // warm-start one) are the checkpoint's unless the transport caused them.
    auto checkpoint_stage = [this](const Status& s) {
      if (!s.ok()) failed_on_checkpoint_ = true;
      return s;
    };
    auto created = CheckpointManager::Create(Env::Default(), options_.model_dir,
                                             {.max_to_keep = options_.keep_checkpoint_max,
                                              .keep_checkpoint_every_n_hours = options_.keep_checkpoint_every_n_hours});
    RETURN_IF_ERROR(checkpoint_stage(created.status()));
    mgr = std::move(created).value();
    auto latest = LatestCheckpoint(Env::Default(), options_.model_dir);
    RETURN_IF_ERROR(checkpoint_stage(latest.status()));
    if (*latest) {
      auto reader = BundleReader::Open(Env::Default(), **latest);
      RETURN_IF_ERROR(checkpoint_stage(reader.status()));
      RETURN_IF_ERROR(checkpoint_stage(CheckCompatibility(**reader, m.specs)));
    }
    // Initial values come from the CPU kernels whatever the devices, so
    // that a seeded job starts from the same values on any machine.
    Session init_sess(m.g.graph.get());
    RETURN_IF_ERROR(init_sess.Run({}, {}, {m.init}, &out));
    std::map<std::string, Tensor> init;
    for (const Variable* v : m.trainable) {
      ASSIGN_OR_RETURN(init[v->name], init_sess.variables()->Read(v->name));
    }
    if (!*latest && options_.warm_start) {
      RETURN_IF_ERROR(checkpoint_stage(WarmStart(*options_.warm_start, m.trainable, &init)));
    }
    RETURN_IF_ERROR(ps_->Initialize(init));
    if (*latest) {
      RETURN_IF_ERROR(checkpoint_stage(ps_->Restore(**latest)));
      LOG(INFO) << "Restoring parameters from " << **latest;
    }
    RETURN_IF_ERROR(ps_->MarkReady());
  } else {
    const auto t0 = Clock::now();
    auto last_log = t0;
    while (true) {
      auto ready = ps_->Ready();
      if (ready.ok() && *ready) break;
      const double waited = std::chrono::duration<double>(Clock::now() - t0).count();
      if (waited > options_.ready_timeout_secs) {
        return DeadlineExceededError(options_.task, " waited ", static_cast<int64_t>(waited),
                                     " s for the chief to initialize the model on the parameter servers; is the chief running?");
      }
      if (std::chrono::duration<double>(Clock::now() - last_log).count() >= options_.wait_log_secs) {
        LOG(INFO) << options_.task << " waiting for the model to be ready (the chief initializes the "
                  << ps_->num_ps() << " PS tasks): " << (ready.ok() ? "not yet" : ready.status().ToString());
        last_log = Clock::now();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  ASSIGN_OR_RETURN(int64_t step, ps_->GlobalStep());
  if (options_.is_chief && options_.save_summary_steps > 0) {
    ASSIGN_OR_RETURN(events, EventWriter::Create(Env::Default(), options_.model_dir));
    RETURN_IF_ERROR(events->WriteSessionLog(tensorflow::SessionLog::START, step, ""));
  }
  int64_t summary_step = step;
  auto summary_time = Clock::now();
  if (options_.is_chief) RETURN_IF_ERROR(save(step));
  std::vector<Output> fetches = {m.g.spec.loss};
  fetches.insert(fetches.end(), m.grads.begin(), m.grads.end());
  auto t_log = Clock::now();
  int64_t log_examples = 0, log_start_step = step;
  while (step < options_.train_steps && !(options_.stop && options_.stop->load())) {
    const bool profile = options_.profile_steps > 0 && (result.local_steps + 1) % options_.profile_steps == 0;
    std::vector<TraceEvent> trace;
    int64_t t0 = profile ? TraceNowMicros() : 0;
    ASSIGN_OR_RETURN(auto values, ps_->Pull(names));
    if (profile) {
      trace.push_back({"pull", "rpc", t0, TraceNowMicros() - t0});
      runner->first().TraceNextRun(&trace);
    }
    RETURN_IF_ERROR(runner->Run(values, FeedsFor(m.g, batch), fetches, &out));
    std::map<std::string, Tensor> grads;
    for (size_t i = 0; i < names.size(); ++i) grads[names[i]] = out[i + 1];
    const int64_t pushed_at = step;
    t0 = profile ? TraceNowMicros() : 0;
    ASSIGN_OR_RETURN(step, ps_->Push(grads, step));
    if (profile) {
      trace.push_back({"push", "rpc", t0, TraceNowMicros() - t0});
      const std::string dir = JoinPath(options_.model_dir, "profile");
      std::string file = options_.task;
      std::replace(file.begin(), file.end(), ':', '-');
      file = JoinPath(dir, StrCat(file, "-step-", pushed_at, ".trace.json"));
      Status s = Env::Default()->CreateDirs(dir);
      if (s.ok()) s = WriteStringToFileAtomic(Env::Default(), file, ChromeTraceJson(trace, options_.task));
      if (s.ok()) {
        LOG(INFO) << options_.task << ": timeline of step " << pushed_at << " in " << file << " (open in chrome://tracing)";
      } else {
        LOG(WARNING) << "cannot write the profile " << file << ": " << s;
      }
    }
    if (options_.sync) {
      // Wait for the step to be aggregated and applied (bounded): PS task 0
      // answers when it is; a second at a time, so that a stop is seen.
      const auto t0 = Clock::now();
      while (step <= pushed_at && !(options_.stop && options_.stop->load()) && !ps_->stop_requested()) {
        const double left = options_.sync_wait_secs - std::chrono::duration<double>(Clock::now() - t0).count();
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
    if (result.local_steps == 0) result.first_loss = loss;
    result.last_loss = loss;
    ++result.local_steps;
    log_examples += batch.begin()->second.shape().dim(0);
    if (result.local_steps == 1 || result.local_steps % options_.log_step_count_steps == 0) {
      const double secs = std::chrono::duration<double>(Clock::now() - t_log).count();
      LOG(INFO) << options_.task << ": loss = " << loss << ", step = " << step
                << " (global_step/sec: " << static_cast<double>(step - log_start_step) / secs
                << ", examples/sec: " << static_cast<int64_t>(static_cast<double>(log_examples) / secs) << ")";
      t_log = Clock::now();
      log_examples = 0;
      log_start_step = step;
    }
    if (events && step - summary_step >= options_.save_summary_steps) {
      const double secs = std::chrono::duration<double>(Clock::now() - summary_time).count();
      RETURN_IF_ERROR(events->WriteScalars(step, {{"loss", loss},
                                                  {"global_step/sec", static_cast<double>(step - summary_step) / secs},
                                                  {"learning_rate", params_.optimizer.hyper.lr}}));
      summary_step = step;
      summary_time = Clock::now();
    }
    if (options_.is_chief) {
      const bool due = options_.save_checkpoints_steps
                           ? step - last_saved >= *options_.save_checkpoints_steps
                           : std::chrono::duration<double>(Clock::now() - last_save_time).count() >=
                                 options_.save_checkpoints_secs.value_or(600.0);
      if (due) RETURN_IF_ERROR(save(step));
    }
    if (ps_->stop_requested()) {
      LOG(INFO) << options_.task << ": stopping at step " << step << ": the evaluator asked for it (early stopping)";
      result.stopped_early = true;
      break;
    }
    ASSIGN_OR_RETURN(have, data->Next(&batch));
    if (!have) break;
  }
  if (options_.is_chief) {
    ASSIGN_OR_RETURN(step, ps_->GlobalStep());
    if (step != last_saved) RETURN_IF_ERROR(save(step));
  }
  result.global_step = step;
  return result;
}

}  // namespace psflow
