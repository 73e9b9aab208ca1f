// Optimizers on the graph, as tf.compat.v1.train.*Optimizer: slot variables
// named as TensorFlow names them (`w/Adam`, `w/Adam_1`, `beta1_power`, ...),
// one Apply* op per variable, global_step incremented after the updates.
//
//   ASSIGN_OR_RETURN(auto opt, Optimizer::Create("adam", {.lr = 1e-3f}));
//   ASSIGN_OR_RETURN(Variable* step, GetOrCreateGlobalStep(root));
//   ASSIGN_OR_RETURN(Node* train_op, opt->Minimize(root, loss, step));
//
// The updates themselves are common/ops/apply.h, shared with the PS.
// Not thread-safe (graph building).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/ops/gradients.h"
#include "common/ops/variables.h"
#include "common/ops/apply.h"

namespace psflow {

class Optimizer {
 public:
  // type: "sgd" (or "gradient_descent"), "momentum", "adagrad", "adam",
  // "lazy_adam", "rmsprop", "ftrl".  InvalidArgument listing the choices
  // otherwise.  (In a local graph a sparse gradient updates only its rows
  // with either Adam; on parameter servers adam follows TensorFlow's
  // _apply_sparse: ps/parameter_server.h.)
  static StatusOr<std::unique_ptr<Optimizer>> Create(const std::string& type, apply::Hyper hyper);

  const std::string& name() const { return name_; }  // "Adam", "Momentum", ...
  const std::vector<std::string>& slot_names() const { return slot_names_; }
  const apply::Hyper& hyper() const { return hyper_; }
  // A scalar float tensor to use as the learning rate (e.g. a decay
  // schedule); the default is the constant hyper.lr.
  void SetLearningRate(Output lr) { lr_ = lr; }

  // Gradients of `loss` for var_list (default: TRAINABLE_VARIABLES), then
  // ApplyGradients.  Variables the loss does not depend on are skipped.
  StatusOr<Node*> Minimize(const Scope& scope, Output loss, const Variable* global_step = nullptr,
                           std::vector<const Variable*> var_list = {});
  StatusOr<Node*> ApplyGradients(const Scope& scope,
                                 const std::vector<std::pair<Output, const Variable*>>& grads,
                                 const Variable* global_step = nullptr);
  // Row-sparse gradients (embedding lookups) update only their rows, with
  // the SparseApply* ops.
  StatusOr<Node*> ApplyGradients(const Scope& scope,
                                 const std::vector<std::pair<Gradient, const Variable*>>& grads,
                                 const Variable* global_step = nullptr);
  // The slot variable `slot` (e.g. "Adam_1") of `var`; null before ApplyGradients.
  const Variable* GetSlot(const Variable* var, const std::string& slot) const;

 private:
  Optimizer(std::string type, std::string name, std::vector<std::string> slots,
            std::vector<float> slot_init, apply::Hyper h)
      : type_(std::move(type)), name_(std::move(name)), slot_names_(std::move(slots)),
        slot_init_(std::move(slot_init)), hyper_(h) {}

  const std::string type_;
  const std::string name_;
  const std::vector<std::string> slot_names_;
  const std::vector<float> slot_init_;
  const apply::Hyper hyper_;
  Output lr_;
  std::map<std::pair<const Variable*, std::string>, const Variable*> slots_;
  const Variable* beta1_power_ = nullptr;
  const Variable* beta2_power_ = nullptr;
};

// Learning-rate schedules of global_step (float scalars), as
// tf.compat.v1.train.exponential_decay and piecewise_constant.
Output ExponentialDecay(const Scope& s, float lr, const Variable* global_step, int64_t decay_steps,
                        float decay_rate, bool staircase = false);
Output PiecewiseConstant(const Scope& s, const Variable* global_step,
                         std::vector<int64_t> boundaries, std::vector<float> values);

// Registers the Apply* and schedule ops (idempotent).
void RegisterTrainOps();

}  // namespace psflow
