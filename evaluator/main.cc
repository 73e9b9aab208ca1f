// psflow-evaluator: evaluates the job's checkpoints (evaluator/evaluator_task.h).
// Flags: common/cluster/task_flags.h; exit codes: common/cluster/exit_codes.h.
#include "common/distributed/task_main.h"
#include "evaluator/evaluator_task.h"

int main(int argc, char** argv) { return psflow::TaskMain(argc, argv, "evaluator", psflow::RunEvaluatorTask); }
