// The parameter server's RPC service and its client.
//
//   PsService service(&ps);                    // server side
//   ASSIGN_OR_RETURN(auto server, transport->Listen(options, service.Handler()));
//
//   PsClient client(channels_by_task, placement);   // worker and chief side
//   ASSIGN_OR_RETURN(auto values, client.Pull(names));     // one message per PS task, in parallel
//   ASSIGN_OR_RETURN(int64_t step, client.Push(grads, step));
//
// Methods: Initialize, Pull, Push, Save, Restore, SetReady, Status.  Pull, Save,
// Restore and Status are idempotent (retried on Unavailable); Push and
// Initialize are not retried blindly.  Thread-safe.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include "common/rpc/transport.h"
#include "common/distributed/parameter_server.h"

namespace psflow {

// Task incarnations: every process sends a random incarnation id with its
// requests.  When a task restarts, its new incarnation replaces the old one,
// and requests still arriving from the old one get Aborted instead of being
// applied (a restarted worker's stale pushes never land).
class PsService {
 public:
  explicit PsService(ParameterServer* ps) : ps_(ps) {}
  rpc::Handler Handler();

 private:
  StatusOr<rpc::Message> Handle(rpc::Message req);
  Status CheckIncarnation(const rpc::RpcHeader& h);

  ParameterServer* const ps_;
  std::mutex mu_;
  std::map<std::string, uint64_t> incarnations_;        // GUARDED_BY(mu_): task -> current
  std::map<std::string, std::set<uint64_t>> retired_;    // GUARDED_BY(mu_): task -> replaced ones
};

// Where each variable lives.  A variable is whole on one PS task, or
// partitioned by rows into parts "<name>/part_<k>" (TensorFlow's names)
// spread over the tasks; the client splits pushes and assembles pulls.
struct VariablePart {
  std::string name;        // the name on the PS task
  int task = 0;
  int64_t row_begin = 0;   // partitioned: the rows of the full variable this part holds
  int64_t rows = -1;       // -1: the whole variable
};

class Placement {
 public:
  Placement() = default;
  // Whole variables: name -> task.
  Placement(std::initializer_list<std::pair<const std::string, int>> tasks);
  void Add(const std::string& name, TensorShape shape, std::vector<VariablePart> parts);
  // nullptr when `name` is not placed.
  const std::vector<VariablePart>* Parts(const std::string& name) const;
  const TensorShape& Shape(const std::string& name) const;  // REQUIRES Parts(name)
  // The task of a whole variable, or of the first part; -1 when not placed.
  int TaskOf(const std::string& name) const;
  bool Partitioned(const std::string& name) const;
  size_t size() const { return vars_.size(); }

 private:
  struct Entry {
    TensorShape shape;
    std::vector<VariablePart> parts;
  };
  std::map<std::string, Entry> vars_;
};

struct PlacementOptions {
  bool round_robin = false;  // default: greedy by bytes
  // Row partitioning of variables of rank >= 2 (kernels, embeddings) as
  // TensorFlow's partitioners do it: `partitions` > 0 splits each into that
  // many parts (fixed_size_partitioner); `min_slice_bytes` > 0 into parts of
  // at least that many bytes, at most `max_partitions` (0: the number of PS
  // tasks) of them (min_max_variable_partitioner).  A part has at least one
  // row; the first (rows % parts) parts get one row more.
  int64_t partitions = 0;
  int64_t min_slice_bytes = 0;
  int64_t max_partitions = 0;
};

// Greedy by bytes (the largest variable or part to the least loaded task),
// as TensorFlow's GreedyLoadBalancingStrategy; or round-robin in name order.
Placement PlaceVariables(const std::map<std::string, TensorShape>& vars, int num_ps, PlacementOptions options = {});

class PsClient {
 public:
  // channels[k] reaches PS task k.
  // Idempotent calls (Pull, Save, Restore, Status) are tried up to
  // `max_attempts` times on lost messages and unreachable tasks.
  PsClient(std::vector<std::unique_ptr<rpc::Channel>> channels, Placement placement, int64_t timeout_ms = 30000,
           int max_attempts = 10);

  Status Initialize(const std::map<std::string, Tensor>& values);
  StatusOr<std::map<std::string, Tensor>> Pull(const std::vector<std::string>& names);
  // Some rows of a variable (an embedding lookup), from the parts holding them.
  StatusOr<Tensor> PullRows(const std::string& name, const Tensor& rows);
  // Returns global_step after the push (from PS task 0).  Items with `rows`
  // are row-sparse gradients.
  StatusOr<int64_t> Push(const std::map<std::string, Tensor>& dense, int64_t step);
  StatusOr<int64_t> PushItems(const std::vector<PushItem>& grads, int64_t step);
  // Every PS task writes its shard of `prefix` in parallel; returns the
  // entries of all shards, ready for WriteBundleIndex.
  StatusOr<std::vector<BundleEntries>> Save(const std::string& prefix);
  Status Restore(const std::string& prefix);
  StatusOr<int64_t> GlobalStep();
  // Per-variable traffic counters of each PS task (index = task).
  StatusOr<std::vector<std::map<std::string, VariableStats>>> Counters();
  // True when every PS task holds its variables.
  StatusOr<bool> Initialized();
  // The chief's "model ready": variables initialized or restored everywhere.
  Status MarkReady();
  StatusOr<bool> Ready();
  // Early stopping: asks every trainer to finish (PS task 0 passes it on in
  // its Push answers).  stop_requested() is true once a Push or GlobalStep
  // answer carried it.
  Status RequestStop();
  bool stop_requested() const { return stop_requested_.load(); }
  int num_ps() const { return static_cast<int>(channels_.size()); }

 private:
  // Runs one call per PS task in parallel (only where `only` is true, when
  // given) and waits for all.
  std::vector<StatusOr<rpc::Message>> Fanout(const std::string& method, std::vector<rpc::Message> requests, bool idempotent,
                                             const std::vector<bool>* only = nullptr);

  std::vector<std::unique_ptr<rpc::Channel>> channels_;
  const Placement placement_;
  const int64_t timeout_ms_;
  const int max_attempts_;
  std::atomic<bool> stop_requested_{false};
};

}  // namespace psflow
