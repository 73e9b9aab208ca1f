// The RPC service of one PS task: every method of the PS protocol
// (common/distributed/ps_protocol.h) on a ParameterServer, Shutdown
// included.
//
//   PsService service(ps.get());
//   ASSIGN_OR_RETURN(auto server, transport->Listen(options, service.Handler()));
//   while (!service.WaitForShutdown(std::chrono::seconds(1))) ...   // until the chief says the job is done
//
// Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <deque>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/rpc/transport.h"
#include "ps/parameter_server.h"

namespace psflow {

// Task incarnations: every process sends a random incarnation id with its
// requests.  When a task restarts, its new incarnation replaces the old one,
// and requests still arriving from the old one get Aborted instead of being
// applied (a restarted worker's stale pushes never land).
class PsService {
 public:
  explicit PsService(ParameterServer* ps);
  ~PsService();  // Close()
  rpc::Handler Handler();
  // Answers the waiting WaitForStep calls with Cancelled and takes no more.
  // Call it before the server stops (the answers go through it; a server
  // that stops at once may drop them, and the callers see the connection
  // close).
  void Close();

  // Waits until the chief's Shutdown came (true) or `timeout` passed.
  bool WaitForShutdown(std::chrono::milliseconds timeout);

 private:
  StatusOr<rpc::Message> Handle(rpc::Message req);
  Status CheckIncarnation(const rpc::RpcHeader& h);
  // Records push `id` of the sender in `h`; false when it was recorded
  // before (a retry of a push that landed, or is landing now).
  bool FirstPush(const rpc::RpcHeader& h, uint64_t id);
  void ForgetPush(const rpc::RpcHeader& h, uint64_t id);  // its apply failed: a retry may apply it
  // WaitForStep is answered later, from wait_thread_, without holding an
  // RPC thread: a synchronous trainer waits for its step to be applied.
  void WaitForStep(rpc::Message req, rpc::Responder respond);
  void WakeWaiters();  // global_step or stop_requested may have changed
  void AnswerWaiters();  // wait_thread_'s loop

  struct StepWaiter {
    bool until_ready;  // else: until global_step passes after_step
    int64_t after_step;
    std::chrono::steady_clock::time_point deadline;
    rpc::Responder respond;
  };
  std::mutex wait_mu_;
  std::condition_variable wait_cv_;
  std::vector<StepWaiter> waiters_;  // GUARDED_BY(wait_mu_)
  uint64_t wakeups_ = 0;             // GUARDED_BY(wait_mu_)
  bool closing_ = false;             // GUARDED_BY(wait_mu_)

  ParameterServer* const ps_;
  std::mutex shutdown_mu_;
  std::condition_variable shutdown_cv_;
  bool shutdown_ = false;  // GUARDED_BY(shutdown_mu_)
  std::mutex mu_;
  std::map<std::string, uint64_t> incarnations_;        // GUARDED_BY(mu_): task -> current
  std::map<std::string, std::set<uint64_t>> retired_;    // GUARDED_BY(mu_): task -> replaced ones
  struct RecentPushes {
    uint64_t incarnation = 0;
    std::set<uint64_t> ids;    // the last kPushWindow push ids
    std::deque<uint64_t> order;
  };
  std::map<std::string, RecentPushes> pushes_;  // GUARDED_BY(mu_): task -> its recent pushes
  int64_t duplicate_pushes_ = 0;                 // GUARDED_BY(mu_)
  std::thread wait_thread_;  // last: it starts once every other member exists
};

}  // namespace psflow
