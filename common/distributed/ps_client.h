// The client of a job's PS tasks, as trainers and the evaluator use it: one
// message per PS task per call, all in parallel (ps_protocol.h lists the
// methods); partitioned variables are split and assembled here.
//
//   PsClient client(PsChannels(transport, setup), PlaceVariables(shapes, num_ps));
//   ASSIGN_OR_RETURN(auto values, client.Pull(names));
//   ASSIGN_OR_RETURN(int64_t step, client.Push(grads, step));
//
// Thread-safe (each call waits for its own answers).
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/checkpoint/tensor_bundle.h"
#include "common/distributed/placement.h"
#include "common/distributed/ps_protocol.h"
#include "common/rpc/transport.h"

namespace psflow {

class PsClient {
 public:
  // channels[k] reaches PS task k.
  // Idempotent calls (Pull, Save, Restore, Status) are tried up to
  // `max_attempts` times on lost messages and unreachable tasks.
  PsClient(std::vector<std::unique_ptr<rpc::Channel>> channels, Placement placement, int64_t timeout_ms = 30000,
           int max_attempts = 10);

  // `tables` names the values (empty [0, dim]) that are dynamic embedding
  // tables: every PS task creates its share.
  Status Initialize(const std::map<std::string, Tensor>& values,
                    const std::map<std::string, DynamicTableInit>& tables = {});
  // A PS task restarted alone while the job runs (launch.ps_recovery: task):
  // creates its share of the variables and restores it from `prefix` (empty:
  // keeps the initial values), then it serves again.  The other tasks keep
  // their state.
  Status RecoverTask(int task, const std::map<std::string, Tensor>& values,
                     const std::map<std::string, DynamicTableInit>& tables, const std::string& prefix);
  // Per PS task: 1 initialized, 0 not (it restarted and waits for the
  // chief), -1 unreachable now.  One quick try each: for monitoring.
  std::vector<int> TaskStates(int64_t timeout_ms);
  // A PS task that answers Unavailable (down, restarting, not yet restored)
  // is waited for, calls sent again every second, up to `ms` (logged every
  // 10 s with what is waited for); 0: no such wait.  `stop` (may be null)
  // ends the wait early.
  void WaitForUnavailableTasks(int64_t ms, const std::atomic<bool>* stop) {
    unavailable_wait_ms_ = ms;
    stop_ = stop;
  }
  StatusOr<std::map<std::string, Tensor>> Pull(const std::vector<std::string>& names);
  // Some rows of a variable (an embedding lookup), from the parts holding them.
  StatusOr<Tensor> PullRows(const std::string& name, const Tensor& rows);
  // Whole variables and rows of others in one message per PS task (only to
  // the tasks holding some of them), all in parallel: what a training step
  // pulls.  Rows out of a table's range are an error naming it.
  // A dynamic table's rows are asked for by id, each from the task its id
  // hashes to; with `counts` (int64 [n], each id's occurrences in the
  // batch) the pull is a training step's: the PS tasks create admitted
  // rows and count and mark the ids, at `step`.  Ids without a row come
  // back as zeros.
  struct RowPull {
    std::string name;
    Tensor rows;    // int64 [n]
    Tensor counts;  // dynamic tables: int64 [n], or none (read only)
  };
  struct PullResult {
    std::map<std::string, Tensor> whole;
    std::vector<Tensor> rows;  // [n, row shape...] per RowPull, in order
    int64_t bytes = 0;         // tensor bytes received
  };
  StatusOr<PullResult> PullAll(const std::vector<std::string>& names, const std::vector<RowPull>& row_pulls,
                               int64_t step = 0);
  // Returns global_step after the push (from PS task 0).  Items with `rows`
  // are row-sparse gradients.
  StatusOr<int64_t> Push(const std::map<std::string, Tensor>& dense, int64_t step);
  // *bytes_sent (when given) gets the tensor bytes sent.
  StatusOr<int64_t> PushItems(const std::vector<PushItem>& grads, int64_t step, int64_t* bytes_sent = nullptr);
  // Every PS task writes its shard of `prefix` in parallel; returns the
  // entries of all shards, ready for WriteBundleIndex (each dynamic
  // table's rows stacked into one tensor per name).
  StatusOr<std::vector<BundleEntries>> Save(const std::string& prefix);
  Status Restore(const std::string& prefix);
  StatusOr<int64_t> GlobalStep();
  // Blocks (in PS task 0, without polling) until global_step passes
  // `after_step`, early stopping is asked, or `timeout_ms` passed; returns
  // global_step then (still <= after_step on a timeout).
  StatusOr<int64_t> WaitForStep(int64_t after_step, int64_t timeout_ms);
  // Per-variable traffic counters of each PS task (index = task).
  StatusOr<std::vector<std::map<std::string, VariableStats>>> Counters();
  // Each dynamic table's counters summed over the PS tasks (rows, bytes,
  // admissions, ...).
  StatusOr<std::map<std::string, DynamicTableStats>> TableCounters();
  // True when every PS task holds its variables.
  StatusOr<bool> Initialized();
  // The chief's "model ready": variables initialized or restored everywhere.
  Status MarkReady();
  // Blocks (in every PS task, without polling) until all of them are ready
  // or `timeout_ms` passed; whether they all are.
  StatusOr<bool> WaitForReady(int64_t timeout_ms);
  // Early stopping: asks every trainer to finish (PS task 0 passes it on in
  // its Push answers).  stop_requested() is true once a Push or GlobalStep
  // answer carried it.
  Status RequestStop();
  bool stop_requested() const { return stop_requested_.load(); }
  int num_ps() const { return static_cast<int>(channels_.size()); }

 private:
  // Runs one call per PS task in parallel (only where `only` is true, when
  // given) and waits for all.
  // timeout_ms < 0: the client's own.
  std::vector<StatusOr<rpc::Message>> Fanout(const std::string& method, std::vector<rpc::Message> requests, bool idempotent,
                                             const std::vector<bool>* only = nullptr, int64_t timeout_ms = -1,
                                             bool wait_unavailable = true);
  std::vector<rpc::Message> InitializeRequests(const std::map<std::string, Tensor>& values,
                                               const std::map<std::string, DynamicTableInit>& tables, Status* error);

  std::vector<std::unique_ptr<rpc::Channel>> channels_;
  const Placement placement_;
  const int64_t timeout_ms_;
  const int max_attempts_;
  std::atomic<bool> stop_requested_{false};
  std::atomic<uint64_t> next_push_id_{1};  // PushRequest.push_id: pushes are retried, applied once
  std::atomic<int64_t> unavailable_wait_ms_{0};
  const std::atomic<bool>* stop_ = nullptr;
};

}  // namespace psflow
