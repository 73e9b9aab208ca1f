// The body of psflow-worker and psflow-chief: trains as a worker, or as the
// chief (which also initializes or restores the PS variables and owns the
// checkpoint schedule), until train_steps.  Exit codes:
// common/cluster/exit_codes.h.
#pragma once

#include "common/cluster/task_flags.h"

namespace psflow {

int RunTrainingTask(const TaskSetup& setup, bool is_chief);

}  // namespace psflow
