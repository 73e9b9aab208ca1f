// The hooks around a training loop, one set for the Estimator and the
// distributed trainers (worker/, chief/): TensorFlow's SessionRunHook and
// its standard hooks, under their names.
//
//   HookList hooks;
//   hooks.Add(StopAtStepHook(max_steps));
//   hooks.Add(LoggingHook(config.log_step_count_steps));
//   hooks.Add(CheckpointSaverHook(config, save_fn, events.get()));
//   RETURN_IF_ERROR(hooks.Begin(global_step, &stop));
//   while (!stop) { hooks.BeforeRun(..); <step>; RETURN_IF_ERROR(hooks.AfterRun(info, &stop)); }
//   RETURN_IF_ERROR(hooks.End(global_step));
//
// A loop runs its hooks in the order they were added, on its own thread;
// hooks are not thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/core/env.h"
#include "common/core/status.h"
#include "common/runtime/session.h"
#include "common/train/run_config.h"

namespace psflow {

class EventWriter;

// What a hook may ask of the coming step.
struct StepRequest {
  bool trace = false;  // time the step (pull, every op, push) into StepInfo::trace
};

// A finished step, as hooks see it.
struct StepInfo {
  int64_t global_step = 0;  // after the step (in a cluster: the PS's, all workers' steps counted)
  int64_t local_step = 0;   // this loop's steps, this one included: 1 for the first
  float loss = 0;
  int64_t batch_size = 0;
  const std::vector<TraceEvent>* trace = nullptr;  // when a hook asked for a trace
  // A PS trainer's traffic in this step (0 elsewhere): unique embedding
  // rows pulled, tensor bytes pulled and pushed.
  int64_t rows_pulled = 0, bytes_pulled = 0, bytes_pushed = 0;
};

class SessionRunHook {
 public:
  virtual ~SessionRunHook() = default;
  // The variables are ready (initialized or restored) at `global_step`;
  // set *stop to run no step.
  virtual Status Begin(int64_t global_step, bool* stop) { return OkStatus(); }
  // Before the loop's step number `local_step` (1 for the first).
  virtual void BeforeRun(int64_t local_step, StepRequest* request) {}
  // After every step; set *stop to end the loop.
  virtual Status AfterRun(const StepInfo& step, bool* stop) { return OkStatus(); }
  // The loop ended (stopped, input exhausted, or asked to stop) at `global_step`.
  virtual Status End(int64_t global_step) { return OkStatus(); }
};

// Hooks run in order; the first error ends the call.
class HookList {
 public:
  void Add(std::unique_ptr<SessionRunHook> hook) { hooks_.push_back(std::move(hook)); }
  void Add(std::vector<std::unique_ptr<SessionRunHook>> hooks);
  Status Begin(int64_t global_step, bool* stop);
  StepRequest BeforeRun(int64_t local_step);
  Status AfterRun(const StepInfo& step, bool* stop);
  Status End(int64_t global_step);

 private:
  std::vector<std::unique_ptr<SessionRunHook>> hooks_;
};

// Triggers every `steps` steps or every `secs` seconds (tf.train's
// SecondOrStepTimer); the first query always triggers.
class SecondOrStepTimer {
 public:
  static SecondOrStepTimer EverySteps(int64_t steps) { return SecondOrStepTimer(steps, std::nullopt); }
  static SecondOrStepTimer EverySecs(double secs) { return SecondOrStepTimer(std::nullopt, secs); }
  // The checkpoint schedule of `c`: its steps, else its seconds (600 by default).
  static SecondOrStepTimer ForCheckpoints(const RunConfig& c);

  bool ShouldTrigger(int64_t global_step) const;
  // Marks a trigger at `global_step`, now.
  void Update(int64_t global_step);
  std::optional<int64_t> last_step() const { return last_step_; }
  double SecsSinceLast() const;  // since the last Update (or creation)

 private:
  SecondOrStepTimer(std::optional<int64_t> steps, std::optional<double> secs) : steps_(steps), secs_(secs) {}
  std::optional<int64_t> steps_;
  std::optional<double> secs_;
  std::optional<int64_t> last_step_;
  std::chrono::steady_clock::time_point last_time_ = std::chrono::steady_clock::now();
};

// Stops the loop once global_step reaches last_step (before the first step
// when it already has).
std::unique_ptr<SessionRunHook> StopAtStepHook(int64_t last_step);

// The progress line, at the first step and every `every_n_steps` of this
// loop: "<prefix>loss = L, step = S (global_step/sec: R, examples/sec: E)"
// (tf.train's LoggingTensorHook and StepCounterHook in one line; prefix is
// e.g. "worker:1: ").  With status_records, each line is also reported as
// a "step" record (common/core/status_record.h) for psflow-launch.
std::unique_ptr<SessionRunHook> LoggingHook(int64_t every_n_steps, std::string prefix = "", bool status_records = false);

// Writes a checkpoint for global_step and returns its prefix.
using SaveCheckpointFn = std::function<StatusOr<std::string>(int64_t global_step)>;
// Saves at Begin, whenever config's schedule is due, and at End unless that
// step is saved already; logs "Saving checkpoints for S into P" and, when
// `events` is set, writes a SessionLog CHECKPOINT there.  last_checkpoint
// (if set) receives each prefix.
std::unique_ptr<SessionRunHook> CheckpointSaverHook(const RunConfig& config, SaveCheckpointFn save,
                                                    EventWriter* events = nullptr,
                                                    std::string* last_checkpoint = nullptr);

// TensorBoard scalars into `events`: loss, global_step/sec and
// learning_rate every `every_n_steps` global steps, and a SessionLog START
// at Begin.
std::unique_ptr<SessionRunHook> SummarySaverHook(EventWriter* events, int64_t every_n_steps, double learning_rate);

// Traces one step in every `every_n_steps` of this loop into
// dir/<name>-step-<global_step>.trace.json (chrome://tracing); `name` is the
// task ("worker:0" is written "worker-0").  A failed write is logged, not
// fatal.
std::unique_ptr<SessionRunHook> ProfilerHook(int64_t every_n_steps, Env* env, std::string dir, std::string name);

}  // namespace psflow
