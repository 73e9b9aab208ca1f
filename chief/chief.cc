#include "chief/chief.h"

#include <regex>
#include <set>

#include "common/checkpoint/checkpoint_state.h"
#include "common/checkpoint/restore.h"
#include "common/checkpoint/tensor_bundle.h"
#include "common/core/fault_point.h"
#include "common/core/logging.h"
#include "common/core/status_record.h"
#include "common/core/strcat.h"
#include "common/ops/graph_io.h"

namespace psflow {

Status WarmStart(Env* env, const WarmStartSpec& ws, const std::vector<const Variable*>& trainable,
                 std::map<std::string, Tensor>* init) {
  std::string prefix = ws.from;
  if (!env->FileExists(ws.from + ".index") && env->GetChildren(ws.from).ok()) {  // a directory
    ASSIGN_OR_RETURN(std::optional<std::string> latest, LatestCheckpoint(env, ws.from));
    if (!latest) return NotFoundError("run.warm_start.from: directory ", ws.from, " has no checkpoint");
    prefix = *latest;
  }
  ASSIGN_OR_RETURN(auto reader, BundleReader::Open(env, prefix));
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
    if (v->embedding != nullptr) {
      LOG(WARNING) << "run.warm_start: dynamic embedding table " << v->name << " starts empty (warm start copies "
                   << "fixed-shape variables only)";
      continue;
    }
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

namespace {

// Every `n` steps: each dynamic embedding table's counters, summed over the
// PS tasks, as TensorBoard scalars (dynamic_tables/<table>/rows, ...), and
// their totals (dynamic_tables/rows, ...).
class TableSummaryHook final : public SessionRunHook {
 public:
  TableSummaryHook(EventWriter* events, int64_t n, PsClient& ps)
      : events_(events), timer_(SecondOrStepTimer::EverySteps(std::max<int64_t>(1, n))), ps_(ps) {}
  Status Begin(int64_t global_step, bool*) override {
    timer_.Update(global_step);
    return OkStatus();
  }
  Status AfterRun(const StepInfo& s, bool*) override {
    if (!timer_.ShouldTrigger(s.global_step)) return OkStatus();
    timer_.Update(s.global_step);
    return Write(s.global_step);
  }
  Status End(int64_t global_step) override { return Write(global_step); }

 private:
  Status Write(int64_t step) {
    auto tables = ps_.TableCounters();
    if (!tables.ok()) {
      LOG(WARNING) << "dynamic table counters not written at step " << step << ": " << tables.status();
      return OkStatus();  // a summary is not worth failing the job for
    }
    if (tables->empty()) return OkStatus();
    std::vector<std::pair<std::string, double>> v;
    DynamicTableStats sum;
    for (const auto& [name, t] : *tables) {
      const std::string tag = "dynamic_tables/" + name;
      v.push_back({tag + "/rows", static_cast<double>(t.rows)});
      v.push_back({tag + "/bytes", static_cast<double>(t.bytes)});
      v.push_back({tag + "/admissions", static_cast<double>(t.admissions)});
      v.push_back({tag + "/evictions", static_cast<double>(t.evictions)});
      sum += t;
    }
    for (const auto& [tag, x] : std::vector<std::pair<std::string, int64_t>>{
             {"rows", sum.rows}, {"bytes", sum.bytes}, {"candidates", sum.candidates}, {"hits", sum.hits},
             {"filtered", sum.filtered}, {"admissions", sum.admissions}, {"evictions", sum.evictions}}) {
      v.push_back({"dynamic_tables/" + tag, static_cast<double>(x)});
    }
    return events_->WriteScalars(step, v);
  }

  EventWriter* const events_;
  SecondOrStepTimer timer_;
  PsClient& ps_;
};

}  // namespace

Chief::Chief(ChiefOptions chief) : chief_(std::move(chief)) {}

Chief::~Chief() {
  {
    std::lock_guard<std::mutex> l(monitor_mu_);
    monitor_stop_ = true;
  }
  monitor_cv_.notify_all();
  if (monitor_.joinable()) monitor_.join();
}

Status Chief::AfterBegin(PsClient& ps) {
  if (!chief_.job_record.empty()) {
    const std::string path = JoinPath(model_dir_, kRecordedJobFile);
    Status s = WriteStringToFileAtomic(env_, path, chief_.job_record);
    if (!s.ok()) LOG(WARNING) << "could not record the job in " << path << " (psflow-export MODEL_DIR needs it): " << s;
  }
  return ps.MarkReady();
}

// Once a second: a PS task that answers but holds no variables has been
// restarted alone; it gets its share of the latest checkpoint.  The other
// tasks are not touched, and the trainers' calls to it wait meanwhile.
void Chief::MonitorPsTasks(PsClient* ps) {
  std::unique_lock<std::mutex> l(monitor_mu_);
  while (!monitor_cv_.wait_for(l, std::chrono::seconds(1), [&] { return monitor_stop_; })) {
    l.unlock();
    const std::vector<int> states = ps->TaskStates(2000);
    for (size_t k = 0; k < states.size(); ++k) {
      if (states[k] != 0) continue;  // serving, or unreachable (not restarted yet)
      auto latest = LatestCheckpoint(env_, model_dir_);
      if (!latest.ok()) {
        LOG(ERROR) << "ps:" << k << " restarted without its variables, and no checkpoint in " << model_dir_
                   << " can restore them (trying again in 1 s): " << latest.status();
        continue;
      }
      // No checkpoint yet (a restart before the start checkpoint): the
      // initial values are the job's state.
      const std::string from = *latest ? **latest : std::string();
      LOG(WARNING) << "ps:" << k << " restarted without its variables; "
                   << (from.empty() ? std::string("initializing them (no checkpoint yet)")
                                    : StrCat("restoring its share of ", from, " (the other PS tasks keep theirs)"));
      Status s = ps->RecoverTask(static_cast<int>(k), init_, tables_, from);
      if (!s.ok()) {
        LOG(WARNING) << "could not restore ps:" << k << " (trying again in 1 s): " << s;
        continue;
      }
      LOG(INFO) << "ps:" << k << " serves again" << (from.empty() ? "" : StrCat(", restored from ", from));
      if (status_records_ && !from.empty()) {
        EmitStatusRecord({"ps_recovered", {{"task", StrCat(k)}, {"step", StrCat(CheckpointStep(from))},
                                           {"path", from}}});
      }
    }
    l.lock();
  }
}

Status Chief::Prepare(const TrainerOptions& options, const TrainingModel& m, PsClient& ps) {
  Env* env = options.env;
  env_ = env;
  model_dir_ = options.run.model_dir;
  failed_on_checkpoint_ = false;
  // Errors while finding, checking and restoring the checkpoint (or the
  // warm-start one) are the checkpoint's unless the transport caused them.
  auto checkpoint_stage = [this](const Status& s) {
    if (!s.ok()) failed_on_checkpoint_ = true;
    return s;
  };
  auto created = CheckpointManager::Create(env, options.run.model_dir,
                                           {.max_to_keep = static_cast<int>(options.run.keep_checkpoint_max),
                                            .keep_checkpoint_every_n_hours = options.run.keep_checkpoint_every_n_hours});
  RETURN_IF_ERROR(checkpoint_stage(created.status()));
  manager_ = std::move(created).value();
  auto latest = LatestCheckpoint(env, options.run.model_dir);
  RETURN_IF_ERROR(checkpoint_stage(latest.status()));
  if (*latest) {
    auto reader = BundleReader::Open(env, **latest);
    RETURN_IF_ERROR(checkpoint_stage(reader.status()));
    RETURN_IF_ERROR(checkpoint_stage(CheckCompatibility(**reader, m.specs)));
  }
  // Initial values come from the CPU kernels whatever the devices, so
  // that a seeded job starts from the same values on any machine.
  Session init_sess(m.g.graph.get());
  std::vector<Tensor> out;
  RETURN_IF_ERROR(init_sess.Run({}, {}, {m.init}, &out));
  std::map<std::string, Tensor> init;
  for (const Variable* v : m.trainable) {
    ASSIGN_OR_RETURN(init[v->name], init_sess.variables()->Read(v->name));
  }
  if (!*latest && chief_.warm_start) {
    RETURN_IF_ERROR(checkpoint_stage(WarmStart(env, *chief_.warm_start, m.trainable, &init)));
  }
  std::map<std::string, DynamicTableInit> tables;
  for (const Variable* v : m.trainable) {
    if (const EmbeddingVariableSpec* e = v->embedding.get()) {
      tables[v->name] = {.dim = e->dim, .zeros_init = e->zeros_init, .stddev = e->stddev, .seed = e->seed,
                         .filter_freq = e->filter_freq, .steps_to_live = e->steps_to_live, .max_rows = e->max_rows,
                         .evict_when_full = e->evict_when_full};
    }
  }
  RETURN_IF_ERROR(ps.Initialize(init, tables));
  if (chief_.recover_ps_tasks) {  // kept to rebuild a PS task restarted alone
    init_ = init;
    tables_ = tables;
  }
  status_records_ = options.status_records;
  if (*latest) {
    RETURN_IF_ERROR(checkpoint_stage(ps.Restore(**latest)));
    LOG(INFO) << "Restoring parameters from " << **latest;
    if (options.status_records) {
      EmitStatusRecord({"restore", {{"step", StrCat(CheckpointStep(**latest))}, {"path", **latest}}});
    }
  }
  // From here every PS task holds its variables: one found without them
  // has restarted (even before the start checkpoint or MarkReady).
  if (chief_.recover_ps_tasks && !monitor_.joinable()) monitor_ = std::thread([this, &ps] { MonitorPsTasks(&ps); });
  return OkStatus();  // ready for the workers after the start checkpoint (AfterBegin)
}

StatusOr<std::vector<std::unique_ptr<SessionRunHook>>> Chief::Hooks(const TrainerOptions& options,
                                                                    const TrainingModel& m, PsClient& ps) {
  std::vector<std::unique_ptr<SessionRunHook>> hooks;
  const RunConfig& run = options.run;
  if (run.save_summary_steps > 0) {
    ASSIGN_OR_RETURN(events_, EventWriter::Create(options.env, run.model_dir));
    hooks.push_back(SummarySaverHook(events_.get(), run.save_summary_steps, chief_.learning_rate));
    bool dynamic = false;
    for (const Variable* v : m.trainable) dynamic |= v->embedding != nullptr;
    if (dynamic) hooks.push_back(std::make_unique<TableSummaryHook>(events_.get(), run.save_summary_steps, ps));
  }
  // A checkpoint of the job: each PS task writes its shard, then the chief
  // the index, the .meta, and last (CheckpointManager::Commit) the state file.
  auto save = [this, &options, &m, &ps](int64_t step) -> StatusOr<std::string> {
    const std::string prefix = manager_->PrefixForStep(step);
    if (options.status_records) EmitStatusRecord({"saving", {{"step", StrCat(step)}}});  // the launcher's lower bound
    ASSIGN_OR_RETURN(std::vector<BundleEntries> parts, ps.Save(prefix));
    FaultPoint("checkpoint.after_shards");
    RETURN_IF_ERROR(WriteBundleIndex(options.env, prefix, ps.num_ps(), parts));
    FaultPoint("checkpoint.after_index");
    RETURN_IF_ERROR(WriteMetaGraph(*m.g.graph, prefix + ".meta",
                                   {.max_to_keep = static_cast<int>(options.run.keep_checkpoint_max),
                                    .keep_checkpoint_every_n_hours = options.run.keep_checkpoint_every_n_hours,
                                    .env = options.env}));
    FaultPoint("checkpoint.after_meta");
    RETURN_IF_ERROR(manager_->Commit(prefix));
    if (options.status_records) EmitStatusRecord({"checkpoint", {{"step", StrCat(step)}, {"path", prefix}}});
    return prefix;
  };
  hooks.push_back(CheckpointSaverHook(run, save, events_.get(), &last_checkpoint_));
  return hooks;
}

}  // namespace psflow
