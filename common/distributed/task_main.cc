#include "common/distributed/task_main.h"

#include <unistd.h>

#include <csignal>
#include <iostream>
#include <random>

#include "common/checkpoint/restore.h"
#include "common/cluster/cli.h"
#include "common/core/fork_join.h"
#include "common/core/logging.h"

namespace psflow {
namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop = true; }

}  // namespace

const std::atomic<bool>& StopRequested() { return g_stop; }

void InstallSignalHandlers() {
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
}

uint64_t Incarnation() {
  static const uint64_t id = [] {
    std::random_device rd;
    return (uint64_t{rd()} << 32) ^ rd() ^ static_cast<uint64_t>(::getpid());
  }();
  return id;
}

rpc::TlsOptions TlsOf(const TaskSetup& s) {
  const auto& t = s.job.run.tls;
  return {.ca = t.ca, .cert = t.cert, .key = t.key};
}

std::vector<std::unique_ptr<rpc::Channel>> PsChannels(rpc::Transport* t, const TaskSetup& s) {
  std::vector<std::unique_ptr<rpc::Channel>> chans;
  for (const std::string& a : s.job.cluster.ps) {
    chans.push_back(t->Connect(
        {.address = a, .token = s.token, .task = TaskName(s.task), .incarnation = Incarnation(), .tls = TlsOf(s)}));
  }
  return chans;
}

apply::Hyper HyperFrom(const OptimizerSpec& o) {
  return apply::Hyper{.lr = o.learning_rate, .momentum = o.momentum, .nesterov = o.use_nesterov, .beta1 = o.beta1,
                      .beta2 = o.beta2, .epsilon = o.epsilon, .rho = o.decay, .l1 = o.l1, .l2 = o.l2};
}

bool MayPassOnRestart(const Status& s) {
  return IsUnavailableError(s) || IsDeadlineExceededError(s) || IsAbortedError(s) || IsCancelledError(s) ||
         IsResourceExhaustedError(s) || IsInternalError(s) || IsUnknownError(s);
}

int ExitFor(const Status& s, const std::string& task, int bad_input) {
  if (s.ok()) return kExitOk;
  LOG(ERROR) << task << " failed: " << s;
  std::cerr << "psflow " << task << ": " << s << "\n";
  if (IsCheckpointMismatch(s)) return kExitUnusableCheckpoint;
  return MayPassOnRestart(s) ? kExitError : bad_input;
}

int TaskMain(int argc, char** argv, const std::string& role, const std::function<int(const TaskSetup&)>& run) {
  const std::string name = "psflow-" + role;
  CLI::App app(StrCat(name, ": the ", role, " task of a psflow job. TF_CONFIG, when set, gives the cluster and the task;\n"
                      "--task_type and --task_index win over it. Exit codes: 0 done, 1 runtime error, 2 bad input,\n"
                      "3 unusable checkpoint."),
               name);
  TaskFlags flags;
  app.add_option("--config", flags.config, "the job file (YAML); required");
  app.add_option("--task_type", flags.type, "ps, chief, worker or evaluator (default: " + role + ")");
  app.add_option("--task_index", flags.index, "the task's index in its job (default: 0)");
  app.add_option("--set", flags.sets, "KEY.PATH=VALUE: overrides one key of the job file (repeatable)")
      ->expected(1)->allow_extra_args(false)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  if (auto exit = ParseCommandLine(app, argc, argv)) return *exit;
  if (flags.config.empty()) return MissingArgument(app, "--config");
  auto setup = LoadTaskSetup(flags, role);
  if (!setup.ok()) {
    std::cerr << "psflow-" << role << ": " << setup.status() << "\n";
    return kExitBadInput;
  }
  if (setup->task.type != role) {
    std::cerr << "psflow-" << role << ": this task is a " << setup->task.type << " (from "
              << (flags.type.empty() ? "TF_CONFIG" : "--task_type") << "); run it with psflow-"
              << setup->task.type << "\n";
    return kExitBadInput;
  }
  SetLogIdentity(setup->task.type, static_cast<int>(setup->task.index));
  if (Status tls = rpc::CheckTls(TlsOf(*setup)); !tls.ok()) {  // before any connection: bad files are bad input
    return ExitFor(tls, TaskName(setup->task), kExitBadInput);
  }
  ForkJoinPool::SetDefaultThreads(setup->job.run.intra_op_threads);
  InstallSignalHandlers();
  return run(*setup);
}

}  // namespace psflow
