// What every task binary (psflow-ps, -chief, -worker, -evaluator) shares:
// flag parsing, signals, the process's incarnation id, channels to the PS
// tasks, and the choice of exit code (common/cluster/exit_codes.h).
//
//   int main(int argc, char** argv) { return psflow::TaskMain(argc, argv, "ps", psflow::RunPsTask); }
//
// Thread-safe, but TaskMain runs once per process.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/cluster/exit_codes.h"
#include "common/cluster/task_flags.h"
#include "common/ops/apply.h"
#include "common/rpc/transport.h"

namespace psflow {

// Parses the flags (TF_CONFIG too), names the log lines after the task and
// runs `run` if the task's type is `role` ("chief", ...).  Exit code 2 on
// bad flags or a task of another type.
int TaskMain(int argc, char** argv, const std::string& role, const std::function<int(const TaskSetup&)>& run);

// Set by SIGTERM or SIGINT once InstallSignalHandlers ran: finish early.
const std::atomic<bool>& StopRequested();
void InstallSignalHandlers();

// A random id of this process: PS tasks tell a restarted task from its
// previous life by it.
uint64_t Incarnation();

// run.tls as the RPC layer takes it (disabled when the job has none).
rpc::TlsOptions TlsOf(const TaskSetup& setup);

// One channel to each PS task of the job, as this task (over TLS with run.tls).
std::vector<std::unique_ptr<rpc::Channel>> PsChannels(rpc::Transport* transport, const TaskSetup& setup);

// The optimizer's hyperparameters from the job file.
apply::Hyper HyperFrom(const OptimizerSpec& optimizer);

// Whether a restart of the task may cure `s`: the transport's errors and
// timeouts.  Everything else comes from the job's input and fails again.
bool MayPassOnRestart(const Status& s);

// Logs a failed task's error (and writes "psflow <task>: <error>" to
// stderr, the line psflow-launch repeats) and picks its exit code:
// `bad_input` (kExitBadInput for the job file and the files it names,
// kExitUnusableCheckpoint for model_dir's checkpoint), unless a restart may
// cure the error (then kExitError).
int ExitFor(const Status& s, const std::string& task, int bad_input = kExitError);

}  // namespace psflow
