#include "worker/training_task.h"

#include "common/core/logging.h"
#include "common/distributed/job_input.h"
#include "common/distributed/job_model.h"
#include "common/distributed/ps_client.h"
#include "common/distributed/task_main.h"
#include "worker/trainer.h"

namespace psflow {

int RunTrainingTask(const TaskSetup& s, bool is_chief) {
  const std::string task = TaskName(s.task);
  auto fn = ModelFnFor(s.job.model);
  if (!fn.ok()) return ExitFor(fn.status(), task, kExitBadInput);
  // Training tasks: the chief is shard 0, worker k is shard k + 1.
  const int64_t shards = static_cast<int64_t>(s.job.cluster.chief.size() + s.job.cluster.worker.size());
  const int64_t shard = is_chief ? 0 : s.task.index + static_cast<int64_t>(s.job.cluster.chief.size());
  const InputFn input = TrainInput(s.job, shard, shards);
  const ModelParams params = ParamsFrom(s.job.model);
  // Placement needs the model's variables: build the graph once from a batch.
  auto first = input();
  if (!first.ok()) return ExitFor(first.status().WithContext("data.train"), task, kExitBadInput);
  Example batch;
  auto have = (*first)->Next(&batch);
  if (!have.ok()) return ExitFor(have.status().WithContext("data.train"), task, kExitBadInput);
  auto vars = JobVariables(*fn, params, batch);
  if (!vars.ok()) return ExitFor(vars.status(), task, kExitBadInput);
  std::map<std::string, TensorShape> shapes;
  for (const auto& v : *vars) shapes[v.name] = v.shape;
  auto transport = rpc::NewTcpTransport();
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
  if (!gpus) return kExitBadInput;
  if (gpus->empty()) LOG(INFO) << task << " runs its steps on the CPU (" << GpuDescription() << ")";
  auto client = std::make_unique<PsClient>(PsChannels(transport.get(), s), std::move(placement));
  TrainerOptions o{.is_chief = is_chief, .task = task, .model_dir = s.job.run.model_dir, .train_steps = s.job.run.train_steps,
                   .save_checkpoints_steps = s.job.run.save_checkpoints_steps, .save_checkpoints_secs = s.job.run.save_checkpoints_secs,
                   .keep_checkpoint_max = static_cast<int>(s.job.run.keep_checkpoint_max),
                   .keep_checkpoint_every_n_hours = s.job.run.keep_checkpoint_every_n_hours,
                   .log_step_count_steps = s.job.run.log_step_count_steps,
                   .save_summary_steps = s.job.run.save_summary_steps, .profile_steps = s.job.run.profile_steps,
                   .tf_random_seed = s.job.run.tf_random_seed,
                   .warm_start = s.job.run.warm_start, .stop = &StopRequested(), .sync = s.job.run.sync.has_value(),
                   .gpus = *gpus};
  Trainer trainer(o, *fn, params, std::move(client));
  auto r = trainer.Run(input);
  if (r.ok()) {
    LOG(INFO) << task << " done at global_step " << r->global_step << " after " << r->local_steps << " local steps";
  }
  if (is_chief) {
    // Every PS task is told the job is over (also after an error: nothing else will stop them).
    std::vector<std::unique_ptr<rpc::Channel>> chans = PsChannels(transport.get(), s);
    for (auto& ch : chans) ch->Call("Shutdown", rpc::Message{}, {.timeout_ms = 5000}).status().IgnoreError();
  }
  return ExitFor(r.status(), task, trainer.failed_on_checkpoint() ? kExitUnusableCheckpoint : kExitError);
}

}  // namespace psflow
