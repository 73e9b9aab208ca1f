// psflow-ps: one parameter-server task (ps/ps_task.h).  Flags:
// common/cluster/task_flags.h; exit codes: common/cluster/exit_codes.h.
#include "common/distributed/task_main.h"
#include "ps/ps_task.h"

int main(int argc, char** argv) { return psflow::TaskMain(argc, argv, "ps", psflow::RunPsTask); }
