#include "common/train/optimizer.h"

#include <algorithm>
#include <cmath>
#include <mutex>

#include "common/ops/gradients.h"
#include "common/ops/op_util.h"
#include "common/ops/ops.h"

namespace psflow {
namespace {

struct Kind {
  const char* type;
  const char* name;
  const char* op;
  std::vector<std::string> slots;
  std::vector<float> slot_init;
};

const Kind kKinds[] = {
    {"sgd", "GradientDescent", "ApplyGradientDescent", {}, {}},
    {"momentum", "Momentum", "ApplyMomentum", {"Momentum"}, {0.f}},
    {"adagrad", "Adagrad", "ApplyAdagrad", {"Adagrad"}, {0.1f}},
    {"adam", "Adam", "ApplyAdam", {"Adam", "Adam_1"}, {0.f, 0.f}},
    // tf.contrib.opt.LazyAdamOptimizer (named "Adam" there too).  In a local
    // graph both Adams update only a sparse gradient's rows.
    {"lazy_adam", "Adam", "ApplyAdam", {"Adam", "Adam_1"}, {0.f, 0.f}},
    {"rmsprop", "RMSProp", "ApplyRMSProp", {"RMSProp", "RMSProp_1"}, {1.f, 0.f}},
    {"ftrl", "Ftrl", "ApplyFtrl", {"Ftrl", "Ftrl_1"}, {0.1f, 0.f}},
};

const Kind* FindKind(const std::string& type) {
  const std::string t = type == "gradient_descent" ? "sgd" : type;
  for (const Kind& k : kKinds) {
    if (t == k.type) return &k;
  }
  return nullptr;
}

apply::Hyper HyperFromNode(const Node& n) {
  apply::Hyper h;
  h.momentum = *n.GetAttr<float>("momentum");
  h.nesterov = *n.GetAttr<bool>("nesterov");
  h.beta1 = *n.GetAttr<float>("beta1");
  h.beta2 = *n.GetAttr<float>("beta2");
  h.epsilon = *n.GetAttr<float>("epsilon");
  h.rho = *n.GetAttr<float>("rho");
  h.l1 = *n.GetAttr<float>("l1");
  h.l2 = *n.GetAttr<float>("l2");
  h.lr_power = *n.GetAttr<float>("lr_power");
  return h;
}

double Scalar(const Tensor& t) {
  return t.dtype() == DType::kDouble ? t.flat<double>()[0] : t.flat<float>()[0];
}

// Locks var and its slots (in input order) and runs fn on them.
Status WithRefs(OpKernelContext& c, size_t i, size_t nrefs, std::vector<Tensor*>* held,
                const std::function<Status(std::vector<Tensor*>&)>& fn) {
  if (i == nrefs) return fn(*held);
  const std::string& name = c.node().inputs()[i].node->name();
  return c.variables()->Update(name, [&](Tensor* t) {
    held->push_back(t);
    Status s = WithRefs(c, i + 1, nrefs, held, fn);
    held->pop_back();
    return s;
  });
}

Status ApplyKernel(OpKernelContext& c, size_t nrefs, bool sparse) {
  for (size_t i = 0; i < nrefs; ++i) {
    if (c.node().inputs()[i].node->type() != "VariableV2") {
      return InvalidArgumentError("input ", i, " of ", c.node().name(), " must be a variable");
    }
  }
  apply::Hyper h = HyperFromNode(c.node());
  h.lr = static_cast<float>(Scalar(c.input(static_cast<int>(nrefs))));
  const Tensor& grad = c.input(static_cast<int>(nrefs) + 1);
  // Sparse applies take the row indices right after the gradient rows.
  const Tensor* idx = sparse ? &c.input(static_cast<int>(nrefs) + 2) : nullptr;
  const int extra = static_cast<int>(nrefs) + (sparse ? 3 : 2);
  std::string type = c.node().type();
  if (sparse) type = type.substr(6);  // "SparseApplyAdam" -> "ApplyAdam"
  std::vector<Tensor*> held;
  Tensor updated;
  RETURN_IF_ERROR(WithRefs(c, 0, nrefs, &held, [&](std::vector<Tensor*>& t) -> Status {
    Status s;
    if (!sparse) {
      if (type == "ApplyGradientDescent") s = apply::GradientDescent(t[0], h, grad);
      else if (type == "ApplyMomentum") s = apply::Momentum(t[0], t[1], h, grad);
      else if (type == "ApplyAdagrad") s = apply::Adagrad(t[0], t[1], h, grad);
      else if (type == "ApplyRMSProp") s = apply::RMSProp(t[0], t[1], t[2], h, grad);
      else if (type == "ApplyFtrl") s = apply::Ftrl(t[0], t[1], t[2], h, grad);
      else if (type == "ApplyAdam") {
        s = apply::Adam(t[0], t[1], t[2], h, Scalar(c.input(extra)), Scalar(c.input(extra + 1)), grad);
      }
    } else {
      if (type == "ApplyGradientDescent") s = apply::SparseGradientDescent(t[0], h, *idx, grad);
      else if (type == "ApplyMomentum") s = apply::SparseMomentum(t[0], t[1], h, *idx, grad);
      else if (type == "ApplyAdagrad") s = apply::SparseAdagrad(t[0], t[1], h, *idx, grad);
      else if (type == "ApplyRMSProp") s = apply::SparseRMSProp(t[0], t[1], t[2], h, *idx, grad);
      else if (type == "ApplyFtrl") s = apply::SparseFtrl(t[0], t[1], t[2], h, *idx, grad);
      else if (type == "ApplyAdam") {
        s = apply::SparseAdam(t[0], t[1], t[2], h, Scalar(c.input(extra)), Scalar(c.input(extra + 1)), *idx, grad);
      }
    }
    updated = *t[0];
    return s;
  }));
  c.SetOutput(0, updated);
  return OkStatus();
}

}  // namespace

void RegisterTrainOps() {
  static std::once_flag once;
  std::call_once(once, [] {
    RegisterStandardOps();
    for (const Kind& k : kKinds) {
      if (std::string(k.type) == "lazy_adam") continue;  // adam's ops
      const size_t nrefs = 1 + k.slots.size();
      std::vector<int> refs;
      for (size_t i = 0; i < nrefs; ++i) refs.push_back(static_cast<int>(i));
      const int extra = std::string(k.op) == "ApplyAdam" ? 2 : 0;
      for (bool sparse : {false, true}) {
        op_util::DefineOp({.type = sparse ? StrCat("Sparse", k.op) : std::string(k.op),
                           .num_inputs = static_cast<int>(nrefs) + 2 + (sparse ? 1 : 0) + extra,
                           .shape_fn = [](InferenceContext& c) -> Status {
                             c.AddOutput(c.input_dtype(0), c.input_shape(0));
                             return OkStatus();
                           },
                           .stateful = true,
                           .ref_inputs = refs},
                          [nrefs, sparse](OpKernelContext& c) { return ApplyKernel(c, nrefs, sparse); });
      }
    }
    op_util::DefineOp(
        {.type = "LearningRateSchedule",
         .num_inputs = 1,
         .shape_fn = [](InferenceContext& c) -> Status {
           c.AddOutput(DType::kFloat, PartialShape({}));
           return OkStatus();
         }},
        [](OpKernelContext& c) -> Status {
          ASSIGN_OR_RETURN(std::string kind, c.GetAttr<std::string>("kind"));
          const double step = static_cast<double>(c.input(0).flat<int64_t>()[0]);
          double lr = 0;
          if (kind == "exponential") {
            ASSIGN_OR_RETURN(float base, c.GetAttr<float>("lr"));
            ASSIGN_OR_RETURN(int64_t decay_steps, c.GetAttr<int64_t>("decay_steps"));
            ASSIGN_OR_RETURN(float rate, c.GetAttr<float>("decay_rate"));
            ASSIGN_OR_RETURN(bool staircase, c.GetAttr<bool>("staircase"));
            double p = step / static_cast<double>(decay_steps);
            if (staircase) p = std::floor(p);
            lr = base * std::pow(static_cast<double>(rate), p);
          } else {
            ASSIGN_OR_RETURN(auto bounds, c.GetAttr<std::vector<int64_t>>("boundaries"));
            ASSIGN_OR_RETURN(auto values, c.GetAttr<std::vector<float>>("values"));
            size_t i = 0;
            while (i < bounds.size() && step > static_cast<double>(bounds[i])) ++i;
            lr = values[i];
          }
          c.AllocateOutput(0, TensorShape({}))->flat<float>()[0] = static_cast<float>(lr);
          return OkStatus();
        });
  });
}

StatusOr<std::unique_ptr<Optimizer>> Optimizer::Create(const std::string& type, apply::Hyper hyper) {
  const Kind* k = FindKind(type);
  if (k == nullptr) {
    return InvalidArgumentError("unknown optimizer '", type,
                                "'; choose one of sgd, momentum, adagrad, adam, lazy_adam, rmsprop, ftrl");
  }
  if (!(hyper.lr > 0)) return InvalidArgumentError("learning_rate must be > 0, got ", hyper.lr);
  RegisterTrainOps();
  return std::unique_ptr<Optimizer>(new Optimizer(k->type, k->name, k->slots, k->slot_init, hyper));
}

const Variable* Optimizer::GetSlot(const Variable* var, const std::string& slot) const {
  auto it = slots_.find({var, slot});
  return it == slots_.end() ? nullptr : it->second;
}

StatusOr<Node*> Optimizer::Minimize(const Scope& scope, Output loss, const Variable* global_step,
                                    std::vector<const Variable*> var_list) {
  if (var_list.empty()) var_list = scope.graph()->VariablesInCollection(collections::kTrainableVariables);
  if (var_list.empty()) return InvalidArgumentError("No variables to optimize.");
  std::vector<Output> xs;
  for (const Variable* v : var_list) xs.push_back(v->value);
  std::vector<Gradient> grads;
  RETURN_IF_ERROR(AddSparseGradients(scope, {loss}, xs, &grads));
  std::vector<std::pair<Gradient, const Variable*>> pairs;
  for (size_t i = 0; i < var_list.size(); ++i) {
    if (grads[i].valid()) pairs.emplace_back(grads[i], var_list[i]);
  }
  if (pairs.empty()) {
    return InvalidArgumentError("No gradients provided for any variable: the loss ", loss.name(),
                                " does not depend on the variables to optimize");
  }
  return ApplyGradients(scope, pairs, global_step);
}

StatusOr<Node*> Optimizer::ApplyGradients(const Scope& scope,
                                          const std::vector<std::pair<Output, const Variable*>>& grads,
                                          const Variable* global_step) {
  std::vector<std::pair<Gradient, const Variable*>> g;
  for (const auto& [out, var] : grads) g.emplace_back(Gradient{.dense = out}, var);
  return ApplyGradients(scope, g, global_step);
}

StatusOr<Node*> Optimizer::ApplyGradients(const Scope& scope,
                                          const std::vector<std::pair<Gradient, const Variable*>>& grads,
                                          const Variable* global_step) {
  const Scope s = scope.NameScope(name_);
  const apply::Hyper& h = hyper_;
  // Slots, then (for Adam) the beta powers, created beside the variables.
  for (const auto& [g, var] : grads) {
    for (size_t i = 0; i < slot_names_.size(); ++i) {
      if (slots_.count({var, slot_names_[i]})) continue;
      const float init = slot_init_[i];
      const Scope vs(scope.graph());
      Variable* slot = nullptr;
      if (!var->shape.unknown_rank() && var->shape.rank() >= 1 && var->shape.dim(0) == kUnknownDim) {
        // A dynamic table's values: the slot has as many rows, whatever they are.
        const std::vector<int64_t> row(var->shape.dims().begin() + 1, var->shape.dims().end());
        ASSIGN_OR_RETURN(slot, GetRowDynamicVariable(vs.VariableScope(var->name), slot_names_[i], row, var->dtype,
                                                     {.trainable = false}));
      } else {
        ASSIGN_OR_RETURN(slot, GetVariable(vs.VariableScope(var->name), slot_names_[i], var->shape.ToShape(),
                                           var->dtype, ConstantInitializer(init), {.trainable = false}));
      }
      slots_[{var, slot_names_[i]}] = slot;
    }
  }
  const bool adam = std::string(FindKind(type_)->op) == "ApplyAdam";
  if (adam && beta1_power_ == nullptr) {
    const Scope root(scope.graph());
    ASSIGN_OR_RETURN(beta1_power_, NewVariable(root, ops::Const(root.NameScope("beta1_power/"), h.beta1, "initial_value"),
                                               "beta1_power", {.trainable = false}));
    ASSIGN_OR_RETURN(beta2_power_, NewVariable(root, ops::Const(root.NameScope("beta2_power/"), h.beta2, "initial_value"),
                                               "beta2_power", {.trainable = false}));
  }
  Output lr = lr_.valid() ? lr_ : ops::Const(s, h.lr, "learning_rate");
  std::vector<Node*> updates;
  // Every gradient is computed before any variable changes (TensorFlow's
  // GATE_GRAPH): an apply updates its variable in place, and a gradient
  // still to be computed may read that variable (a MatMul's input gradient
  // reads its kernel).  Without these edges a runtime that overlaps the two,
  // as TensorFlow's does on an imported .meta, reads a half-updated model.
  std::vector<Node*> computed;
  for (const auto& [g, var] : grads) {
    for (const Output& o : {g.dense, g.values, g.indices}) {
      if (o.valid()) computed.push_back(o.node);
    }
  }
  std::sort(computed.begin(), computed.end(), [](const Node* a, const Node* b) { return a->id() < b->id(); });
  computed.erase(std::unique(computed.begin(), computed.end()), computed.end());
  const Scope gated = s.WithControlDependencies(computed);
  for (const auto& [g, var] : grads) {
    const Scope us = gated.NameScope(StrCat("update_", var->name));
    Output lr_t = ops::Cast(us, lr, var->dtype);
    std::vector<Output> inputs = {var->ref};
    for (const std::string& slot : slot_names_) inputs.push_back(slots_.at({var, slot})->ref);
    inputs.push_back(lr_t);
    if (g.is_sparse()) {
      inputs.push_back(g.values);
      inputs.push_back(g.indices);
    } else {
      inputs.push_back(g.dense);
    }
    if (adam) {
      inputs.push_back(ops::Cast(us, beta1_power_->value, var->dtype));
      inputs.push_back(ops::Cast(us, beta2_power_->value, var->dtype));
    }
    const std::string op = g.is_sparse() ? StrCat("Sparse", FindKind(type_)->op) : std::string(FindKind(type_)->op);
    Node* n = ops::MakeNode(us, op, op, inputs,
                            {{"momentum", h.momentum}, {"nesterov", h.nesterov}, {"beta1", h.beta1},
                             {"beta2", h.beta2}, {"epsilon", h.epsilon}, {"rho", h.rho},
                             {"l1", h.l1}, {"l2", h.l2}, {"lr_power", h.lr_power}});
    RETURN_IF_ERROR(scope.status());
    updates.push_back(n);
  }
  std::vector<Node*> finish = updates;
  if (adam) {
    // The beta powers advance after every variable was updated with the old ones.
    const Scope fs = s.WithControlDependencies(updates);
    finish.push_back(ops::Assign(fs, beta1_power_->ref, ops::Mul(fs, beta1_power_->value, ops::Const(fs, h.beta1)),
                                 "Assign").node);
    finish.push_back(ops::Assign(fs, beta2_power_->ref, ops::Mul(fs, beta2_power_->value, ops::Const(fs, h.beta2)),
                                 "Assign_1").node);
  }
  Node* done = ops::Group(s, finish, "update");
  if (global_step != nullptr) {
    const Scope gs = s.WithControlDependencies({done});
    Output inc = ops::AssignAdd(gs, global_step->ref, ops::Const(gs, Tensor::Scalar<int64_t>(1)), "global_step_inc");
    done = ops::Group(scope, {inc.node}, name_);
  }
  RETURN_IF_ERROR(scope.status());
  return done;
}

Output ExponentialDecay(const Scope& s, float lr, const Variable* global_step, int64_t decay_steps,
                        float decay_rate, bool staircase) {
  RegisterTrainOps();
  return ops::MakeOp(s, "LearningRateSchedule", "ExponentialDecay", {global_step->value},
                     {{"kind", std::string("exponential")}, {"lr", lr}, {"decay_steps", decay_steps},
                      {"decay_rate", decay_rate}, {"staircase", staircase}});
}

Output PiecewiseConstant(const Scope& s, const Variable* global_step, std::vector<int64_t> boundaries,
                         std::vector<float> values) {
  RegisterTrainOps();
  if (values.size() != boundaries.size() + 1) {
    s.UpdateStatus(InvalidArgumentError("piecewise_constant needs one more value than boundaries (",
                                        values.size(), " values, ", boundaries.size(), " boundaries)"))
        .IgnoreError();
    return Output{};
  }
  return ops::MakeOp(s, "LearningRateSchedule", "PiecewiseConstant", {global_step->value},
                     {{"kind", std::string("piecewise")}, {"boundaries", std::move(boundaries)},
                      {"values", std::move(values)}});
}

}  // namespace psflow
