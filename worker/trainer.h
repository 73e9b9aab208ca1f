// The training loop of a worker or the chief in a parameter-server job.
//
//   Trainer t(options, model_fn, params, std::move(ps_client));
//   RETURN_IF_ERROR(t.Run(input_fn));      // worker: until global_step reaches train_steps
//
// Each step: pull every trainable variable from the PS tasks (one message
// per task, in parallel), run the model's forward and backward pass on the
// local CPU or GPU, push the gradients (one message per task) where the
// optimizer applies them.  Asynchronous: each worker goes at its own pace.
// With several GPUs (options.gpus) the step is replicated: each GPU gets a
// share of the batch's rows and the variables, computes its gradients, and
// the GPUs all-reduce them (NCCL) into the whole batch's mean gradient,
// which is pushed once.
// The chief (options.is_chief) also initializes or restores the PS
// variables before anyone trains (after the strict compatibility check
// against the checkpoint in model_dir), and owns the checkpoint schedule:
// at the start, every save_checkpoints_steps/secs, and at the end; each PS
// task writes its shard, the chief writes the index, the .meta and last the
// `checkpoint` file.  Workers wait for the variables to exist, logging what
// they wait for.  Not thread-safe: one Trainer per thread.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "common/checkpoint/restore.h"
#include "common/cluster/job_config.h"
#include "common/train/estimator.h"
#include "common/distributed/ps_client.h"
#include "common/distributed/job_model.h"
#include "common/gpu/gpu_device.h"

namespace psflow {

struct TrainerOptions {
  bool is_chief = false;
  std::string task = "worker:0";
  std::string model_dir;
  int64_t train_steps = 1000;
  std::optional<int64_t> save_checkpoints_steps;
  std::optional<double> save_checkpoints_secs;  // 600 when neither is set
  int keep_checkpoint_max = 5;
  double keep_checkpoint_every_n_hours = 10000;
  int64_t log_step_count_steps = 100;
  // The chief writes loss, global_step/sec and learning_rate to TensorBoard
  // events in model_dir every this many steps (0: never), and a SessionLog
  // at the start and at each checkpoint.
  int64_t save_summary_steps = 0;
  // Every this many local steps (0: never), one step is traced (pull, each
  // op, push) into model_dir/profile/<task>-step-<global_step>.trace.json,
  // a chrome://tracing timeline.
  int64_t profile_steps = 0;
  std::optional<int64_t> tf_random_seed;
  // Used by the chief when model_dir has no checkpoint yet.
  std::optional<WarmStartSpec> warm_start;
  double wait_log_secs = 5;        // how often a waiting worker says what it waits for
  double ready_timeout_secs = 600; // a worker gives up waiting for the chief after this
  const std::atomic<bool>* stop = nullptr;  // set (e.g. by SIGTERM) to finish early
  // Synchronous training (the PS tasks aggregate replicas_to_aggregate
  // pushes per step): after each push, wait until the step has been applied
  // before pulling again.  The wait is bounded: after sync_wait_secs the
  // trainer logs what it waits for and carries on (no deadlock when workers die).
  bool sync = false;
  double sync_wait_secs = 60;
  // Where the forward and backward passes run: none = the CPU; one = that
  // GPU; several = replicated across them (see above).  Variables are
  // always initialized on the CPU, so a job's initial values do not depend
  // on its devices.
  std::vector<GpuDevice*> gpus;
};

struct TrainerResult {
  int64_t global_step = 0;
  int64_t local_steps = 0;
  float first_loss = 0, last_loss = 0;
  int64_t sync_timeouts = 0;
  std::string last_checkpoint;
  bool stopped_early = false;  // early stopping asked for it
};

class Trainer {
 public:
  Trainer(TrainerOptions options, ModelFn model_fn, ModelParams params, std::unique_ptr<PsClient> ps);
  StatusOr<TrainerResult> Run(const InputFn& input_fn);
  // After Run failed: whether it failed while finding, checking or
  // restoring the checkpoint in model_dir (or the warm-start one).  Unless
  // the error is the transport's, the checkpoint cannot be used and a
  // restart would fail the same way.
  bool failed_on_checkpoint() const { return failed_on_checkpoint_; }

 private:
  const TrainerOptions options_;
  const ModelFn model_fn_;
  const ModelParams params_;
  std::unique_ptr<PsClient> ps_;
  bool failed_on_checkpoint_ = false;
};

// The variables (name, shape) a model_fn creates for training, with the
// optimizer's slots and global_step: what the PS tasks hold and what a
// checkpoint of the job contains.  Built from the first batch's shapes.
StatusOr<std::vector<VariableSpec>> JobVariables(const ModelFn& fn, const ModelParams& params, const Example& batch);

}  // namespace psflow
