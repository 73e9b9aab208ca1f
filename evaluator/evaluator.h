// The evaluator of a job: follows model_dir, evaluates checkpoints as they
// appear, and reports.
//
//   Evaluator ev(model_fn, params, EvalInput(job), {.model_dir = dir, .train_steps = 8000, .eval = job.eval});
//   ASSIGN_OR_RETURN(EvaluatorResult r, ev.Run());   // returns after the final checkpoint
//
// As Estimator's train_and_evaluate: waits eval.start_delay_secs, then
// evaluates the newest checkpoint (or, with eval.every_checkpoint, each one)
// at most every eval.throttle_secs, loading the variables from the
// checkpoint files (never from the PS tasks), on the CPU or one GPU.  Each evaluation is written
// to model_dir/eval as TensorBoard scalars at the checkpoint's global_step
// and as one line of model_dir/eval/metrics.jsonl; the log line is
// Estimator's ("Saving dict for global step N: accuracy = ..., loss = ...").
// The best checkpoint so far (eval.best_metric) is exported as a frozen
// graph to model_dir/export/best/frozen_graph.pb with best.json beside it.
// Early stopping: when eval.early_stopping_metric has not improved for
// eval.early_stopping_patience evaluations, `request_stop` tells the
// trainers to finish.  Returns once the final checkpoint (global_step >=
// train_steps, or the first one after early stopping) is evaluated.  A
// restarted evaluator skips the checkpoints metrics.jsonl already lists.
// Not thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "common/cluster/job_config.h"
#include "common/core/env.h"
#include "common/train/estimator.h"

namespace psflow {

struct EvaluatorOptions {
  std::string model_dir;
  int64_t train_steps = 0;
  EvalSpec eval;
  std::optional<int64_t> tf_random_seed;
  const std::atomic<bool>* stop = nullptr;  // SIGTERM: return at once
  double poll_secs = 1;
  std::function<Status()> request_stop;     // early stopping: asks the trainers to finish
  GpuDevice* gpu = nullptr;                 // evaluate on this GPU (null: the CPU)
  Env* env = Env::Default();                // model_dir's file system (the eval/ outputs, the checkpoint list)
  bool status_records = false;              // report each evaluation as a status record for psflow-launch
};

struct EvaluatorResult {
  int evaluations = 0;
  int64_t last_global_step = -1;
  std::map<std::string, float> last_metrics;
  bool stopped_early = false;  // early stopping asked the trainers to finish
};

class EventWriter;

class Evaluator {
 public:
  Evaluator(ModelFn model_fn, ModelParams params, InputFn input, EvaluatorOptions options);
  ~Evaluator();
  StatusOr<EvaluatorResult> Run();

 private:
  Status EvaluateOne(const std::string& checkpoint, int64_t step);
  Status ExportBest(const std::string& checkpoint, int64_t step, float value);
  bool Better(float value, float best, bool higher) const { return higher ? value > best : value < best; }
  bool SleepFor(double secs);  // false when told to stop

  const ModelParams params_;
  const InputFn input_;
  const EvaluatorOptions options_;
  Estimator estimator_;
  ModelFn model_fn_;
  EvaluatorResult result_;
  std::set<std::string> warned_;  // incomplete checkpoints already reported
  std::map<int64_t, std::map<std::string, float>> done_;  // global_step -> metrics (from metrics.jsonl too)
  std::optional<float> best_;
  std::optional<float> early_best_;
  int since_improvement_ = 0;
  std::optional<int64_t> stop_requested_after_;  // the step evaluated when early stopping asked
  std::unique_ptr<EventWriter> events_;            // model_dir/eval, opened at the first evaluation
};

}  // namespace psflow
