// psflow-chief: the chief's training task (worker/training_task.h): it
// initializes or restores the PS variables and owns the checkpoint
// schedule.  Flags: common/cluster/task_flags.h; exit codes:
// common/cluster/exit_codes.h.
#include "common/distributed/task_main.h"
#include "worker/training_task.h"

int main(int argc, char** argv) {
  return psflow::TaskMain(argc, argv, "chief", [](const psflow::TaskSetup& s) { return psflow::RunTrainingTask(s, true); });
}
