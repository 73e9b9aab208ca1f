// The parameter-server protocol: every method a PS task serves, its request
// and reply, and the types that cross between trainers and PS tasks.  The
// server (ps/ps_service.h) and the client (ps_client.h) both follow this
// page; bodies are the messages of common/proto/ps.proto in RpcHeader.body,
// tensors travel in the frame's payload in the order the body lists them.
//
//   method        request body / tensors                   reply body / tensors         retried
//   Initialize    InitializeRequest / initial values        - / -                        no
//   Pull          PullRequest / one int64 rows tensor per   - / one tensor per name,     yes (no when
//                 row pull (dynamic tables: ids, and a      then per row pull            it counts
//                 counts tensor when counted)                                            ids)
//   Push          PushRequest / a gradient per name, the    PushResponse / -             no
//                 int64 rows after each sparse one
//   Save          SaveRequest / -                           SaveResponse / -             yes
//                 (dynamic tables: this task's rows, which the client stacks)
//   Restore       RestoreRequest / -                        - / -                        yes
//   WaitForStep   WaitForStepRequest / -  (task 0; answered  PushResponse / -             yes
//                 when global_step passes after_step, on
//                 early stopping, or at timeout_ms; with
//                 until_ready, any task: when it is ready)
//   Status        - / -                                     StatusResponse / -           yes
//   SetReady      - / -                                     - / -                        yes
//   RequestStop   - / -                                     - / -                        yes
//   Shutdown      - / -  (the chief: the job is done)       - / -                        no
//
// Every request carries the sender's task name and incarnation id; a PS
// task answers Aborted to an earlier incarnation of a restarted task.
// Thread-safe (definitions only).
#pragma once

#include <cstdint>
#include <string>

#include "common/core/tensor.h"
#include "common/distributed/dynamic_table_spec.h"
#include "common/rpc/frame.h"

namespace psflow::ps {

inline constexpr char kInitialize[] = "Initialize";
inline constexpr char kPull[] = "Pull";
inline constexpr char kPush[] = "Push";
inline constexpr char kSave[] = "Save";
inline constexpr char kRestore[] = "Restore";
inline constexpr char kWaitForStep[] = "WaitForStep";
inline constexpr char kStatus[] = "Status";
inline constexpr char kSetReady[] = "SetReady";
inline constexpr char kRequestStop[] = "RequestStop";
inline constexpr char kShutdown[] = "Shutdown";

// The body of a request (InvalidArgument when it does not parse: the caller
// sent something else) or of an answer (DataLoss).
template <typename Proto>
StatusOr<Proto> ParseBody(const rpc::Message& m) {
  Proto p;
  if (p.ParseFromString(m.header.body())) return p;
  if (m.header.is_response()) return DataLossError("cannot parse the answer to ", m.header.method());
  return InvalidArgumentError("cannot parse the body of ", m.header.method());
}

}  // namespace psflow::ps

namespace psflow {

// One gradient of a Push.
struct PushItem {
  std::string name;
  Tensor grad;     // dense gradient, or the rows' values when `rows` is set
  Tensor rows;     // int64 [n]: a row-sparse gradient
};

// A PS task's traffic counters of one variable (Status).
struct VariableStats {
  int64_t pulls = 0, pushes = 0, bytes_out = 0, bytes_in = 0;
};


}  // namespace psflow
