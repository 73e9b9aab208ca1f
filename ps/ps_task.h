// The body of psflow-ps: serves one PS task of the job until the chief's
// Shutdown (or SIGTERM/SIGINT).  Exit codes: common/cluster/exit_codes.h.
#pragma once

#include "common/cluster/task_flags.h"

namespace psflow {

int RunPsTask(const TaskSetup& setup);

}  // namespace psflow
