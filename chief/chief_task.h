// The body of psflow-chief: the training task of worker/ in the Chief role
// (chief/chief.h); when the run ends, however it ends, every PS task is told
// the job is over.  Exit codes: common/cluster/exit_codes.h (3 when the
// checkpoint in model_dir cannot be used).
#pragma once

#include "common/cluster/task_flags.h"

namespace psflow {

int RunChiefTask(const TaskSetup& setup);

}  // namespace psflow
