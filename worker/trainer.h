// The training loop of a worker or the chief in a parameter-server job.
//
//   Trainer t(options, model_fn, params, std::move(ps_client));
//   RETURN_IF_ERROR(t.Run(input_fn));          // a worker: until global_step reaches train_steps
//   RETURN_IF_ERROR(t.Run(input_fn, &chief));  // the chief (chief/chief.h)
//
// Each step: pull the trainable variables from the PS tasks (one message
// per task, in parallel), run the model's forward and backward pass on the
// local CPU or GPU, push the gradients (one message per task) where the
// optimizer applies them.  An embedding table (a variable the loss reads
// only through Gathers whose ids come from the batch alone) is never pulled
// whole: the step first computes its lookups' ids, pulls only their unique
// rows (deduplicated here), feeds the lookups' outputs from them, and pushes
// the rows' summed gradients row-sparse (TensorFlow's IndexedSlices), so a
// step's traffic grows with the batch, not with the table.  Asynchronous: each worker goes at its own pace.
// With several GPUs (options.gpus) the step is replicated: each GPU gets a
// share of the batch's rows and the variables, computes its gradients, and
// the GPUs all-reduce them (NCCL) into the whole batch's mean gradient,
// which is pushed once.
// What differs between the chief and the workers is a TrainingRole: how the
// PS variables become ready before the first step (a worker waits for the
// chief, saying what it waits for; the chief initializes or restores them)
// and which hooks (common/train/hooks.h) run besides the ones every trainer
// runs (StopAtStep at train_steps, Logging, Profiler).  Not thread-safe: one
// Trainer per thread.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "common/checkpoint/restore.h"
#include "common/core/env.h"
#include "common/train/estimator.h"
#include "common/train/hooks.h"
#include "common/train/run_config.h"
#include "common/distributed/ps_client.h"
#include "common/distributed/job_model.h"
#include "common/gpu/gpu_device.h"

namespace psflow {

struct TrainerOptions {
  // model_dir, the checkpoint, summary, log and profile schedules, the seed:
  // the job's run configuration (the chief's hooks use the schedules).
  RunConfig run;
  std::string task = "worker:0";
  int64_t train_steps = 1000;
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
  Env* env = Env::Default();  // model_dir's file system (profiles; the chief's checkpoints)
  // Report progress (and the chief's checkpoints) as status records on
  // stderr for psflow-launch (common/core/status_record.h).
  bool status_records = false;
};

// The training graph a trainer builds from the model_fn and the first
// batch: the model_fn's graph (its train_op is never run: the PS applies the
// optimizer, but building it creates the slots, so the variable list
// matches a checkpoint) plus the gradients of the loss.
// An embedding table the trainer pulls by rows (see above).
struct RowPulledTable {
  const Variable* var = nullptr;
  std::vector<Output> lookups;  // the Gathers (DynamicEmbeddingLookups) reading it
  std::vector<Output> ids;      // their indices (ids)
  // A dynamic table's, per lookup: when its ids are a Unique's, the
  // Unique's idx (each batch value's position among the ids), which counts
  // each id's occurrences in the batch; else none (each id counts once).
  std::vector<Output> positions;
  bool dynamic() const { return var->embedding != nullptr; }
};

struct TrainingModel {
  ModelGraph g;
  std::vector<const Variable*> trainable;
  std::vector<const Variable*> whole;    // the trainable variables pulled whole
  std::vector<RowPulledTable> by_rows;   // the others
  // One per `whole` variable, then one per lookup of `by_rows` (in order,
  // dense over the lookup's output).
  std::vector<Output> grads;
  Node* init = nullptr;             // initializes every global variable
  std::vector<VariableSpec> specs;  // every global variable: what a checkpoint holds
};

// What differs between the chief and the workers (see above).  A role
// reads the trainer's own options, so the two cannot disagree.
class TrainingRole {
 public:
  virtual ~TrainingRole() = default;
  // Before the first step; returns once the PS variables are ready.
  virtual Status Prepare(const TrainerOptions& options, const TrainingModel& model, PsClient& ps) = 0;
  // The role's hooks; they may keep references to `options`, `model` and
  // `ps`, which outlive the loop.
  virtual StatusOr<std::vector<std::unique_ptr<SessionRunHook>>> Hooks(const TrainerOptions& options,
                                                                       const TrainingModel& model, PsClient& ps) {
    return std::vector<std::unique_ptr<SessionRunHook>>();
  }
  // After the hooks' Begin (the chief's start checkpoint is written), before
  // the first step: the chief lets the workers start here.
  virtual Status AfterBegin(PsClient& ps) { return OkStatus(); }
  // The global step the hooks' End sees: `last_seen` (the last push's
  // answer), or the PS's own count for a role that needs it exact.
  virtual StatusOr<int64_t> StepAtEnd(PsClient& ps, int64_t last_seen) { return last_seen; }
};

// A worker's role: waits (bounded, logging what it waits for) until the
// chief has made the PS variables ready, or the worker is told to stop.
class WorkerRole final : public TrainingRole {
 public:
  Status Prepare(const TrainerOptions& options, const TrainingModel& model, PsClient& ps) override;
};

struct TrainerResult {
  int64_t global_step = 0;
  int64_t local_steps = 0;
  float first_loss = 0, last_loss = 0;
  int64_t sync_timeouts = 0;
  bool stopped_early = false;  // early stopping asked for it
  // Traffic of this trainer's steps: unique embedding rows pulled, tensor
  // bytes pulled and pushed.
  int64_t rows_pulled = 0, bytes_pulled = 0, bytes_pushed = 0;
};

class Trainer {
 public:
  Trainer(TrainerOptions options, ModelFn model_fn, ModelParams params, std::unique_ptr<PsClient> ps);
  // Trains in `role` (null: a worker's); `role` outlives the call.
  StatusOr<TrainerResult> Run(const InputFn& input_fn, TrainingRole* role = nullptr);

 private:
  const TrainerOptions options_;
  const ModelFn model_fn_;
  const ModelParams params_;
  std::unique_ptr<PsClient> ps_;
};

// The variables (name, shape) a model_fn creates for training, with the
// optimizer's slots and global_step: what the PS tasks hold and what a
// checkpoint of the job contains.  Built from the first batch's shapes.
StatusOr<std::vector<VariableSpec>> JobVariables(const ModelFn& fn, const ModelParams& params, const Example& batch);

}  // namespace psflow
