// Fault injection for the chaos tests (tests/chaos/): a named point in the
// code where a test can have this process killed, as a crash or `kill -9`
// there would leave it.
//
//   FaultPoint("checkpoint.after_index");
//
// PSFLOW_FAULT="TASK/POINT[@N][,TASK/POINT[@N]...]" in the environment kills
// the process with SIGKILL the Nth time (default: the first) it reaches
// POINT while its log identity (SetLogIdentity) is TASK, e.g.
// "chief:0/checkpoint.after_index@2".  With PSFLOW_FAULT_MARKS=DIR, firing
// first creates DIR/TASK.POINT, and a point whose mark exists never fires
// again: a restarted task passes it.  Without PSFLOW_FAULT a point costs a
// static's load.
#pragma once

#include <string_view>

namespace psflow {

void FaultPoint(std::string_view point);

}  // namespace psflow
