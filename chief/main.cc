// psflow-chief: the chief's training task (chief/chief_task.h).  Flags:
// common/cluster/task_flags.h; exit codes: common/cluster/exit_codes.h.
#include "chief/chief_task.h"
#include "common/distributed/task_main.h"

int main(int argc, char** argv) { return psflow::TaskMain(argc, argv, "chief", psflow::RunChiefTask); }
