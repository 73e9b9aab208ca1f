#include "ps/ps_task.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "common/core/logging.h"
#include "common/distributed/task_main.h"
#include "ps/ps_service.h"

namespace psflow {
namespace {

// localhost, 127.0.0.0/8 or ::1: only this machine reaches it.
bool IsLoopbackHost(const std::string& host) {
  return host == "localhost" || host.starts_with("127.") || host == "::1" || host == "[::1]";
}

// The busiest variables, so a hot-spotted PS task shows.
void LogTraffic(const ParameterServer& ps) {
  int64_t in = 0, out = 0, pushes = 0;
  std::string busiest;
  int64_t busiest_bytes = -1;
  for (const auto& [name, st] : ps.Stats()) {
    in += st.bytes_in;
    out += st.bytes_out;
    pushes += st.pushes;
    if (st.bytes_in + st.bytes_out > busiest_bytes) {
      busiest_bytes = st.bytes_in + st.bytes_out;
      busiest = name;
    }
  }
  LOG(INFO) << "global_step " << ps.global_step() << ", " << pushes << " pushes, " << (in >> 20) << " MiB in, "
            << (out >> 20) << " MiB out; busiest variable " << busiest << " (" << (busiest_bytes >> 20) << " MiB)";
  // Dynamic tables: this task's share of each.
  const auto tables = ps.TableStats();
  if (tables.empty()) return;
  DynamicTableStats sum;
  for (const auto& [name, t] : tables) sum += t;
  LOG(INFO) << tables.size() << " dynamic tables: " << sum.rows << " rows, " << (sum.bytes >> 20) << " MiB, "
            << sum.candidates << " ids awaiting admission; lookups: " << sum.hits << " hits, " << sum.filtered
            << " filtered, " << sum.admissions << " admissions, " << sum.evictions << " evictions";
}

}  // namespace

int RunPsTask(const TaskSetup& s) {
  const std::string task = TaskName(s.task);
  // The optimizers the trainers' graphs were built with (wide & deep: one per scope).
  std::vector<ParameterServerOptions::ScopedOptimizer> scoped;
  for (const auto& [scope, o] : ScopedOptimizers(s.job.model)) {
    scoped.push_back({.scope = scope, .optimizer = o.type, .hyper = HyperFrom(o), .initial_accumulator_value = o.initial_accumulator_value});
  }
  auto created = ParameterServer::Create({.task_index = static_cast<int>(s.task.index), .optimizer = s.job.model.optimizer.type,
                                         .hyper = HyperFrom(s.job.model.optimizer),
                                         .initial_accumulator_value = s.job.model.optimizer.initial_accumulator_value,
                                         .scoped_optimizers = std::move(scoped),
                                         .replicas_to_aggregate = s.job.run.sync ? s.job.run.sync->replicas_to_aggregate : 0});
  if (!created.ok()) return ExitFor(created.status().WithContext("model.optimizer"), task, kExitBadInput);
  ParameterServer& ps = **created;
  PsService service(&ps);
  auto hp = ParseHostPort(s.address);
  if (!hp.ok()) return ExitFor(hp.status(), task, kExitBadInput);
  if (s.token.empty() && !s.job.run.tls.enabled() && !s.job.run.insecure && !IsLoopbackHost(hp->first)) {
    return ExitFor(FailedPreconditionError(
                       task, " would listen on ", s.address, ", which is not a loopback address, with neither a "
                       "cluster token nor TLS: anyone who reaches it could read and overwrite the model. Set run.token "
                       "(or PSFLOW_CLUSTER_TOKEN) or run.tls for every task, or run.insecure: true to serve without"),
                   task, kExitBadInput);
  }
  // Every connection is a descriptor: take what the hard limit allows
  // (shells often start processes at 1024).
  if (struct rlimit rl; ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, 1 << 16);
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
  auto transport = rpc::NewTcpTransport();
  auto server = transport->Listen({.host = hp->first, .port = hp->second, .token = s.token, .task = task, .tls = TlsOf(s)},
                                  service.Handler());
  if (!server.ok()) return ExitFor(server.status(), task);
  std::string applies = s.job.model.optimizer.type;
  for (const auto& [scope, o] : ScopedOptimizers(s.job.model)) applies = StrCat(applies, ", ", o.type, " for ", scope);
  LOG(INFO) << "serving on " << s.address << " (" << applies << " applies here)";
  // Shutdown wakes the wait at once; a signal within half a second.
  auto last_status = std::chrono::steady_clock::now();
  bool done = false;
  while (!(done = service.WaitForShutdown(std::chrono::milliseconds(500))) && !StopRequested()) {
    if (std::chrono::steady_clock::now() - last_status < std::chrono::seconds(30)) continue;
    last_status = std::chrono::steady_clock::now();
    LogTraffic(ps);
  }
  if (done) {
    // The job is over: for a moment every answer says so (stop_requested),
    // so that a trainer still retrying a push whose connection broke
    // finishes instead of waiting for a PS task that is gone.
    ps.RequestStop();
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (std::chrono::steady_clock::now() < until && !StopRequested()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  service.Close();
  (*server)->Stop();
  // 0 only when the job is done: a PS stopped from outside is a failure its
  // supervisor must see (the launcher then restarts the job).
  LOG(INFO) << "exiting" << (done ? "" : " (stopped by a signal before the job was done)");
  return done ? kExitOk : kExitTerminated;
}

}  // namespace psflow
