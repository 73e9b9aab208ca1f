// The body of psflow-evaluator: follows model_dir and evaluates checkpoints
// (evaluator/evaluator.h) until the final one.  Exit codes:
// common/cluster/exit_codes.h.
#pragma once

#include "common/cluster/task_flags.h"

namespace psflow {

int RunEvaluatorTask(const TaskSetup& setup);

}  // namespace psflow
