// What only the chief of a parameter-server job does, as the TrainingRole
// its trainer (worker/trainer.h) runs in:
//
//   Chief chief({.warm_start = job.run.warm_start, .learning_rate = lr});
//   auto r = Trainer(options, model_fn, params, std::move(ps)).Run(input_fn, &chief);
//   if (!r.ok() && chief.failed_on_checkpoint()) ...  // a restart would fail the same way
//
// Before anyone trains: the strict compatibility check of model_dir's
// latest checkpoint against the model (common/checkpoint/restore.h), the
// variables' initial values (computed on the CPU, so a seeded job starts
// from the same values on any machine; warm-started when model_dir has no
// checkpoint), the restore on the PS tasks, the start checkpoint, and last
// MarkReady, which lets the workers start (so the start checkpoint is the
// initial state, named after the step training starts from).  While training: the checkpoint schedule (at the start,
// every save_checkpoints_steps/secs, at the end; each PS task writes its
// shard, the chief the index, the .meta and last the `checkpoint` file) and
// the job's TensorBoard summaries, both through the hooks of
// common/train/hooks.h.  Not thread-safe.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/checkpoint/checkpoint_manager.h"
#include "common/cluster/job_config.h"
#include "common/summary/event_writer.h"
#include "worker/trainer.h"

namespace psflow {

struct ChiefOptions {
  // Used when model_dir has no checkpoint yet.
  std::optional<WarmStartSpec> warm_start;
  double learning_rate = 0;  // the learning_rate scalar of the summaries
  // When set, written as <model_dir>/job.yaml once the model_dir's
  // checkpoint is restored (or absent) and the start checkpoint is written:
  // the job that trained it, for psflow-export MODEL_DIR (no token in it).
  std::string job_record;
  // launch.ps_recovery: task: a PS task found without its variables while
  // the job runs (it was restarted alone) is restored from the latest
  // checkpoint by a thread of the chief, which checks every second.
  bool recover_ps_tasks = false;
};

class Chief final : public TrainingRole {
 public:
  explicit Chief(ChiefOptions chief = {});
  ~Chief() override;  // stops the PS monitor

  Status Prepare(const TrainerOptions& options, const TrainingModel& model, PsClient& ps) override;
  StatusOr<std::vector<std::unique_ptr<SessionRunHook>>> Hooks(const TrainerOptions& options,
                                                               const TrainingModel& model, PsClient& ps) override;
  // MarkReady: the workers start once the start checkpoint holds the
  // initial (or restored) values.
  Status AfterBegin(PsClient& ps) override;
  // The final checkpoint holds the PS's step, all workers' pushes counted.
  StatusOr<int64_t> StepAtEnd(PsClient& ps, int64_t last_seen) override { return ps.GlobalStep(); }

  // After a failed run: whether it failed while finding, checking or
  // restoring the checkpoint in model_dir (or the warm-start one).  Unless
  // the error is the transport's, the checkpoint cannot be used and a
  // restart would fail the same way.
  bool failed_on_checkpoint() const { return failed_on_checkpoint_; }
  // The prefix of the last checkpoint written ("" before the first).
  const std::string& last_checkpoint() const { return last_checkpoint_; }

 private:
  const ChiefOptions chief_;
  Env* env_ = nullptr;
  std::string model_dir_;
  std::unique_ptr<CheckpointManager> manager_;
  std::unique_ptr<EventWriter> events_;
  bool failed_on_checkpoint_ = false;
  std::string last_checkpoint_;
  // The PS monitor (recover_ps_tasks): what a restarted task is rebuilt from.
  void MonitorPsTasks(PsClient* ps);
  std::map<std::string, Tensor> init_;
  std::map<std::string, DynamicTableInit> tables_;
  bool status_records_ = false;
  std::mutex monitor_mu_;
  std::condition_variable monitor_cv_;
  bool monitor_stop_ = false;  // GUARDED_BY(monitor_mu_)
  std::thread monitor_;
};

// Replaces the initial values of the trainable variables that `ws.vars`
// matches with their values in the warm-start checkpoint (a prefix, or a
// directory whose latest checkpoint is used).
Status WarmStart(Env* env, const WarmStartSpec& ws, const std::vector<const Variable*>& trainable,
                 std::map<std::string, Tensor>* init);

}  // namespace psflow
