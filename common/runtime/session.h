// Session: runs a graph with feeds and fetches, as tf.compat.v1.Session.
//
//   Session sess(&graph);
//   std::vector<Tensor> out;
//   RETURN_IF_ERROR(sess.Run({{x, batch}}, {loss}, {train_op}, &out));
//
// Run executes only the nodes the fetches and targets need (fed tensors cut
// the graph), in dependency order, each kernel using the session's Eigen
// thread pool.  With options.gpu the kernels run on that device: fed host
// tensors are copied to it, fetches are copied back (unless the run asks
// for device tensors), and an op without a GPU kernel runs on the CPU with
// its inputs and outputs copied (logged once per op type).  Errors GPU
// kernels find in their inputs (an index out of range) are reported after
// the step, naming the node.  Feeds are checked against their placeholders (dtype and
// shape, with both named in the error); reading an uninitialized variable
// is an error naming it.  Variables live in the session's VariableStore.
// Thread-safe: concurrent Runs are allowed (kernels synchronize on variables).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "common/graph/graph.h"
#include "common/ops/kernel.h"

namespace psflow {

class EigenCpu;
class GpuDevice;

struct SessionOptions {
  int intra_op_threads = 0;             // 0: one per hardware thread
  VariableStore* variables = nullptr;   // null: the session owns a local store
  GpuDevice* gpu = nullptr;             // null: every kernel on the CPU
  // Logs where each node of a run's plan runs ("dense/MatMul (MatMul): gpu:0"),
  // once per plan, as TensorFlow's ConfigProto.log_device_placement.
  bool log_device_placement = false;
};

struct RunOptions {
  // false: fetched tensors stay where they were computed (on the session's
  // GPU), for callers that keep working on the device (all-reduce).
  bool fetch_to_host = true;
};

using FeedList = std::vector<std::pair<Output, Tensor>>;

// One timed span of a step, for a chrome://tracing timeline.
struct TraceEvent {
  std::string name;      // a node name, or "pull" / "push"
  std::string category;  // the op type, or "rpc"
  int64_t start_us = 0;  // steady-clock microseconds
  int64_t duration_us = 0;
};
// Microseconds on the clock TraceEvent uses.
int64_t TraceNowMicros();
// Writes `events` as chrome://tracing JSON ("traceEvents", complete events).
std::string ChromeTraceJson(const std::vector<TraceEvent>& events, const std::string& process_name);

class Session {
 public:
  explicit Session(const Graph* graph, SessionOptions options = {});
  ~Session();

  Status Run(const FeedList& feeds, const std::vector<Output>& fetches,
             const std::vector<Node*>& targets, std::vector<Tensor>* outputs, const RunOptions& run_options = {});
  Status Run(const FeedList& feeds, const std::vector<Output>& fetches,
             std::vector<Tensor>* outputs) {
    return Run(feeds, fetches, {}, outputs);
  }

  VariableStore* variables() const { return variables_; }
  GpuDevice* gpu() const { return gpu_; }
  // Sets variables (pulled, restored or initialized values).  On a GPU the
  // host values (strings aside) are copied there in one batch, one wait,
  // rather than one by one as kernels first read them.
  Status AssignVariables(const std::map<std::string, Tensor>& values);
  // The variables' values on the host (for checkpoints); on a GPU the
  // device-resident ones come back in one batch.
  StatusOr<std::vector<Tensor>> ReadVariables(const std::vector<std::string>& names);
  // The next Run appends one TraceEvent per op it runs to *trace (then
  // stops tracing).  Not thread-safe with concurrent Runs.
  void TraceNextRun(std::vector<TraceEvent>* trace) { trace_ = trace; }

 private:
  struct Plan;
  // (*tensors)[i] for i in `which`, all on this session's GPU, replaced by
  // host copies made in one batch.
  Status CopyToHostInPlace(const std::vector<size_t>& which, std::vector<Tensor>* tensors);
  StatusOr<std::shared_ptr<const Plan>> GetPlan(const FeedList& feeds,
                                                const std::vector<Output>& fetches,
                                                const std::vector<Node*>& targets);

  const Graph* const graph_;
  GpuDevice* const gpu_;
  const bool log_device_placement_;
  std::shared_ptr<EigenCpu> cpu_;  // the process's pool of this size
  std::unique_ptr<VariableStore> owned_variables_;
  VariableStore* variables_;
  std::vector<TraceEvent>* trace_ = nullptr;

  std::mutex mu_;
  std::map<std::string, std::shared_ptr<const Plan>> plans_;       // GUARDED_BY(mu_)
  std::map<int, std::unique_ptr<KernelState>> kernel_states_;      // GUARDED_BY(mu_)
};

}  // namespace psflow
