// psflow-worker: one training task (worker/training_task.h).  Flags:
// common/cluster/task_flags.h; exit codes: common/cluster/exit_codes.h.
#include "common/distributed/task_main.h"
#include "worker/training_task.h"

int main(int argc, char** argv) { return psflow::TaskMain(argc, argv, "worker", psflow::RunWorkerTask); }
