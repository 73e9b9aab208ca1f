// The body of psflow-worker, and what the chief's (chief/chief_task.h)
// shares with it: the trainer a training task builds from the job file.
// Exit codes: common/cluster/exit_codes.h.
#pragma once

#include <memory>
#include <optional>

#include "common/cluster/task_flags.h"
#include "common/rpc/transport.h"
#include "worker/trainer.h"

namespace psflow {

// A training task's trainer and input, built from the job file.
struct TrainingTask {
  std::string name;  // "worker:1"
  std::unique_ptr<rpc::Transport> transport;
  InputFn input;
  ModelParams params;
  TrainerOptions options;
  std::unique_ptr<Trainer> trainer;
};

// Builds it (the model's variables from a first batch, their placement on
// the PS tasks, the task's devices), or returns the exit code of what went
// wrong, logged.
std::optional<TrainingTask> SetUpTrainingTask(const TaskSetup& setup, bool is_chief, int* exit_code);

// The log line of a finished run.
void LogTrainingDone(const TrainingTask& task, const StatusOr<TrainerResult>& result);

// psflow-worker: trains as a worker until train_steps.
int RunWorkerTask(const TaskSetup& setup);

}  // namespace psflow
