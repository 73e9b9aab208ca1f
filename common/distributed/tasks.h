// The bodies of the psflow-ps, psflow-chief, psflow-worker and psflow-evaluator binaries.
//
// Exit codes (documented in the README):
//   0  the job finished (or the task was told to stop and stopped cleanly)
//   1  a runtime error (logged with the task's name)
//   2  bad input: the command line, the job file (or TF_CONFIG), or a file
//      it names (data set, model plugin)
//   3  the checkpoint in model_dir cannot be used: it does not match the
//      model, or none is complete, or it is corrupt (chief)
// 2 and 3 are not retried by psflow-launch: they fail the same way again.
#pragma once

#include "common/cluster/task_flags.h"

namespace psflow {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitIncompatibleCheckpoint = 3;

// Serves this PS task until the chief says the job is done (Shutdown) or a
// SIGTERM/SIGINT arrives.
int RunPsTask(const TaskSetup& setup);
// Trains as the chief (is_chief) or as a worker until train_steps.
int RunTrainingTask(const TaskSetup& setup, bool is_chief);
// Follows model_dir and evaluates checkpoints (see evaluator.h) until the
// final one.
int RunEvaluatorTask(const TaskSetup& setup);
// Parses flags and runs the task of `role`; what each binary's main calls.
int TaskMain(int argc, char** argv, const std::string& role);

}  // namespace psflow
