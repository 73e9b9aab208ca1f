// psflow-evaluator: see common/distributed/evaluator.h and tasks.h.
#include "common/distributed/tasks.h"

int main(int argc, char** argv) { return psflow::TaskMain(argc, argv, "evaluator"); }
