#include "worker/training_task.h"

#include "common/core/logging.h"
#include "common/distributed/job_input.h"
#include "common/distributed/job_model.h"
#include "common/distributed/ps_client.h"
#include "common/distributed/task_main.h"

namespace psflow {

std::optional<TrainingTask> SetUpTrainingTask(const TaskSetup& s, bool is_chief, int* exit_code) {
  TrainingTask t;
  t.name = TaskName(s.task);
  auto fail = [&](const Status& st, int bad_input) -> std::optional<TrainingTask> {
    *exit_code = ExitFor(st, t.name, bad_input);
    return std::nullopt;
  };
  auto fn = ModelFnFor(s.job.model);
  if (!fn.ok()) return fail(fn.status(), kExitBadInput);
  // Training tasks: the chief is shard 0, worker k is shard k + 1.
  const int64_t shards = static_cast<int64_t>(s.job.cluster.chief.size() + s.job.cluster.worker.size());
  const int64_t shard = is_chief ? 0 : s.task.index + static_cast<int64_t>(s.job.cluster.chief.size());
  // A missing file or key is named before any reading starts.
  if (Status in = CheckInputFiles(s.job.data.train, "data.train"); !in.ok()) return fail(in, kExitBadInput);
  t.input = TrainInput(s.job, shard, shards);
  t.params = ParamsFrom(s.job.model);
  // Placement needs the model's variables: build the graph once from a batch.
  auto first = t.input();
  if (!first.ok()) return fail(first.status().WithContext("data.train"), kExitBadInput);
  Example batch;
  auto have = (*first)->Next(&batch);
  if (!have.ok()) return fail(have.status().WithContext("data.train"), kExitBadInput);
  auto vars = JobVariables(*fn, t.params, batch);
  if (!vars.ok()) return fail(vars.status(), kExitBadInput);
  std::map<std::string, TensorShape> shapes;
  for (const auto& v : *vars) shapes[v.name] = v.shape;
  t.transport = rpc::NewTcpTransport();
  const PlacementSpec& pl = s.job.run.placement;
  Placement placement = PlaceVariables(shapes, static_cast<int>(s.job.cluster.ps.size()),
                                       {.round_robin = pl.strategy == "round_robin", .partitions = pl.partitions,
                                        .min_slice_bytes = pl.min_slice_bytes, .max_partitions = pl.max_partitions});
  for (const auto& [name, shape] : shapes) {
    if (placement.Partitioned(name)) {
      LOG(INFO) << "variable " << name << " " << shape.DebugString() << " is partitioned into "
                << placement.Parts(name)->size() << " parts";
    }
  }
  auto gpus = TaskGpus(s, shard);
  if (!gpus) {
    *exit_code = kExitBadInput;
    return std::nullopt;
  }
  if (gpus->empty()) LOG(INFO) << t.name << " runs its steps on the CPU (" << GpuDescription() << ")";
  auto client = std::make_unique<PsClient>(PsChannels(t.transport.get(), s), std::move(placement));
  // A PS task that is down or restarting is waited for, up to 5 minutes
  // (launch.ps_recovery: task restores it meanwhile; with job, the launcher
  // restarts everyone sooner).
  client->WaitForUnavailableTasks(300000, &StopRequested());
  t.options = TrainerOptions{.run = s.job.run, .task = t.name, .train_steps = s.job.run.train_steps,
                             .stop = &StopRequested(), .sync = s.job.run.sync.has_value(), .gpus = *gpus,
                             .status_records = true};
  t.trainer = std::make_unique<Trainer>(t.options, *fn, t.params, std::move(client));
  return t;
}

void LogTrainingDone(const TrainingTask& t, const StatusOr<TrainerResult>& r) {
  if (r.ok()) {
    LOG(INFO) << t.name << " done at global_step " << r->global_step << " after " << r->local_steps << " local steps";
  }
}

int RunWorkerTask(const TaskSetup& s) {
  int code = kExitError;
  auto t = SetUpTrainingTask(s, false, &code);
  if (!t) return code;
  auto r = t->trainer->Run(t->input);
  LogTrainingDone(*t, r);
  return ExitFor(r.status(), t->name);
}

}  // namespace psflow
