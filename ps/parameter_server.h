// ParameterServer: the variables (and their optimizer slots) one PS task
// holds, with the operations the RPC service exposes: initialize, pull
// (whole tensors, or only some rows of an embedding), push gradients
// (dense or row-sparse) that the optimizer applies at once, and a
// consistent snapshot for checkpoints.
//
//   ParameterServer ps({.task_index = 0, .optimizer = "adam", .hyper = {.lr = 1e-3f}});
//   RETURN_IF_ERROR(ps.Initialize({{"dense/kernel", init_value}}));
//   ASSIGN_OR_RETURN(std::vector<Tensor> w, ps.Pull({"dense/kernel"}));
//   RETURN_IF_ERROR(ps.Push({{.name = "dense/kernel", .grad = g}}));
//   ASSIGN_OR_RETURN(BundleEntries e, ps.SaveShard(prefix, 0, 2));
//
// Task 0 also owns global_step (and Adam's beta powers, derived from it).
// Each variable has its own lock, taken together with its slots: a
// snapshot of a variable and its slots is from one instant.  Thread-safe.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/checkpoint/tensor_bundle.h"
#include "common/core/env.h"
#include "common/distributed/ps_protocol.h"
#include "common/ops/apply.h"
#include "ps/dynamic_table.h"
#include "ps/sync_aggregator.h"

namespace psflow {

struct ParameterServerOptions {
  int task_index = 0;
  // sgd, momentum, adagrad, adam, lazy_adam, rmsprop, ftrl.  Row-sparse
  // pushes apply as TensorFlow's optimizers apply IndexedSlices (repeated
  // rows summed first; adam decays every row's moments and moves every row,
  // as AdamOptimizer._apply_sparse; lazy_adam only the pushed rows).
  std::string optimizer = "adam";
  apply::Hyper hyper;
  float initial_accumulator_value = 0.1f;  // adagrad and ftrl accumulators start here
  // Variables whose (full) names start with a rule's scope use its
  // optimizer instead (the first rule that matches): wide & deep's FTRL for
  // linear/ and Adagrad for dnn/.
  struct ScopedOptimizer {
    std::string scope;
    std::string optimizer;
    apply::Hyper hyper;
    float initial_accumulator_value = 0.1f;
  };
  std::vector<ScopedOptimizer> scoped_optimizers;
  // > 0: synchronous training (SyncReplicasOptimizer): the gradients of the
  // first `replicas_to_aggregate` pushes for the current step are averaged
  // and applied once; pushes for an older step are stale and dropped (what
  // makes backup workers harmless).
  int64_t replicas_to_aggregate = 0;
  Env* env = Env::Default();  // where checkpoint shards are written and read
};

// A part of a variable partitioned by rows across PS tasks (TensorFlow's
// Variable.SaveSliceInfo): the part "emb/part_1" holds rows
// [row_begin, row_begin + rows) of "emb".  In checkpoints it is written as
// a slice of the full variable, its slots as slices of "emb/<slot>", so a
// checkpoint does not depend on how the variables were partitioned.
struct SaveSliceInfo {
  std::string full_name;
  TensorShape full_shape;
  int64_t row_begin = 0;
};

class ParameterServer {
 public:
  // InvalidArgument for an unknown optimizer (the apply function is chosen
  // here, once) or a negative replicas_to_aggregate.
  static StatusOr<std::unique_ptr<ParameterServer>> Create(ParameterServerOptions options);

  // Creates the variables and their slots (TensorFlow's slot names and
  // initial values for the optimizer).  A variable that already exists is
  // kept as it is (a restarted worker re-sends Initialize).  `slices`
  // marks the values that are parts of partitioned variables.
  // `tables` marks the values that are dynamic embedding tables (empty
  // [0, dim] values; max_rows is this task's share): this task holds the
  // rows of the ids that hash to it (placement.h's DynamicRowTask).
  Status Initialize(const std::map<std::string, Tensor>& values,
                    const std::map<std::string, SaveSliceInfo>& slices = {},
                    const std::map<std::string, DynamicTableInit>& tables = {});
  bool has_variables() const;
  // Set by PsService once an Initialize (with its restore, if any) is done:
  // until then the task answers pulls, pushes and saves with Unavailable
  // (a restarted task must not serve or save its initial values).
  void SetInitialized() { initialized_ = true; }
  bool initialized() const { return initialized_.load(); }
  // Set by the chief once the variables are initialized or restored:
  // workers start training only then.
  void SetReady() { ready_ = true; }
  Env* env() const { return options_.env; }
  bool ready() const { return ready_.load(); }
  // Early stopping (the evaluator asks): trainers learn it from their pushes.
  void RequestStop() { stop_requested_ = true; }
  bool stop_requested() const { return stop_requested_.load(); }
  std::vector<std::string> VariableNames() const;

  // Current values (copies).  NotFound names a missing variable.
  StatusOr<std::vector<Tensor>> Pull(const std::vector<std::string>& names);
  // Rows of one variable (an embedding lookup).  A few bytes of row ids
  // may ask for many bytes of rows: ResourceExhausted, before allocating,
  // when the answer would exceed `max_bytes`.
  static constexpr uint64_t kMaxPullBytes = uint64_t{4} << 30;  // the default frame payload limit
  StatusOr<Tensor> PullRows(const std::string& name, const Tensor& rows, uint64_t max_bytes = kMaxPullBytes);
  // Rows of a dynamic table by id ([n, dim]; zeros for ids without a row).
  // With counts (int64 [n]: a training step's pull) rows are created for
  // admitted ids and every id is counted and marked seen at `step`.
  StatusOr<Tensor> PullDynamicRows(const std::string& name, const Tensor& ids, const Tensor* counts, int64_t step,
                                   uint64_t max_bytes = kMaxPullBytes);
  // Applies the optimizer to each variable, after checking every gradient
  // (dtype, shape, row indices in range): an InvalidArgument naming the
  // variable changes nothing.  `step` is the global_step the
  // gradients were computed at (Adam's bias correction uses beta^(step+1),
  // as TensorFlow's beta powers hold).  On task 0 global_step is then
  // incremented when asked.  Returns the new global_step (task 0) or -1.
  StatusOr<int64_t> Push(const std::vector<PushItem>& grads, int64_t step, bool increment_global_step = true);
  int64_t global_step() const { return global_step_.load(); }

  // Writes this task's data shard of checkpoint `prefix` from a consistent
  // snapshot of every variable with its slots (and, on task 0,
  // global_step and the beta powers).
  // A dynamic table <base>-values is written as <base>-keys, <base>-values,
  // <base>-values/<slot>, <base>-freqs and <base>-versions (DeepRec's
  // layout), this task's rows only: StackedKeys() names them, and the
  // client stacks every task's part (StackRowsAcrossShards).
  StatusOr<BundleEntries> SaveShard(const std::string& prefix, int shard_id, int num_shards);
  std::vector<std::string> StackedKeys() const;
  // Sets this task's variables (and slots, global_step) from a checkpoint,
  // whatever number of PS tasks wrote it.  Every key must be present.  A
  // dynamic table takes the saved rows whose ids hash to this task among
  // `num_tasks` (rehashed: any number of tasks may have written them).
  Status Restore(const BundleReader& reader, int num_tasks = 1);

  std::map<std::string, VariableStats> Stats() const;
  std::map<std::string, DynamicTableStats> TableStats() const;
  int64_t stale_pushes_dropped() const { return stale_dropped_.load(); }

 private:
  // An optimizer as this task applies it.
  struct Opt {
    std::string type;
    apply::Hyper hyper;
    std::vector<std::string> slot_names;
    std::vector<float> slot_init;
    Status (*apply)(Tensor* var, std::vector<Tensor>& slots, const apply::Hyper& h, double beta1_power,
                    double beta2_power, const PushItem& g) = nullptr;
  };
  struct Var {
    const Opt* opt = nullptr;            // set once at creation
    std::mutex mu;
    Tensor value;                       // GUARDED_BY(mu)
    std::vector<Tensor> slots;          // GUARDED_BY(mu)
    VariableStats stats;                // GUARDED_BY(mu)
    std::optional<SaveSliceInfo> slice;  // set once at creation: a part of a partitioned variable
    std::unique_ptr<DynamicTable> table;  // set once at creation: a dynamic table (GUARDED_BY(mu))
  };
  explicit ParameterServer(ParameterServerOptions options);
  StatusOr<Var*> Find(const std::string& name) const;
  // The variables of `grads`, once every gradient fits its variable.
  StatusOr<std::vector<Var*>> CheckPush(const std::vector<PushItem>& grads) const;
  Status ApplyLocked(Var* v, const PushItem& g, int64_t step);

  const ParameterServerOptions options_;
  // The scoped optimizers in order, then the default one; const after Create.
  std::vector<Opt> opts_;
  const Opt* OptFor(const std::string& full_name) const;
  // The Adam optimizer whose beta powers checkpoints hold: the first scoped
  // one, or the default one when there are no scopes (with scopes, every
  // variable of a job is expected to be in one); null: none.  Const after Create.
  const Opt* adam_ = nullptr;
  mutable std::mutex mu_;  // guards the map, not the variables
  std::map<std::string, std::unique_ptr<Var>> vars_;  // GUARDED_BY(mu_)
  StatusOr<int64_t> SyncPush(const std::vector<PushItem>& grads, int64_t step);

  std::atomic<int64_t> global_step_{0};
  std::atomic<bool> ready_{false};
  std::atomic<bool> initialized_{false};
  std::atomic<bool> stop_requested_{false};
  // Synchronous mode.
  std::mutex sync_mu_;
  SyncAggregator sync_;  // GUARDED_BY(sync_mu_)
  std::atomic<int64_t> stale_dropped_{0};
  std::mutex step_mu_;  // serializes global_step updates with checkpoint snapshots
};

// The optimizer's slot names and initial values (TensorFlow's).
StatusOr<std::pair<std::vector<std::string>, std::vector<float>>> OptimizerSlots(const std::string& optimizer,
                                                                                float initial_accumulator_value = 0.1f);

}  // namespace psflow
