#include "common/ops/variables.h"

#include <algorithm>

#include <cmath>

#include "common/core/strcat.h"
#include "common/ops/ops.h"

namespace psflow {
namespace {

Output Scaled(const Scope& s, Output x, float scale, float shift, DType dtype) {
  if (scale != 1.f) x = ops::Mul(s, x, ops::Cast(s, ops::Const(s, scale), dtype));
  if (shift != 0.f) x = ops::Add(s, x, ops::Cast(s, ops::Const(s, shift), dtype));
  return x;
}

Status CheckFloat(DType dtype, const std::string& what) {
  if (dtype != DType::kFloat && dtype != DType::kDouble) {
    return InvalidArgumentError(what, " initializes float or double variables, not ", dtype);
  }
  return OkStatus();
}

// Creates the nodes of a variable named exactly `full`.
StatusOr<Variable*> CreateVariable(const Scope& scope, const std::string& full, DType dtype,
                                   PartialShape shape, const std::function<Output(const Scope&)>& init,
                                   const VariableOptions& options, bool name_reserved = false) {
  Graph* g = scope.graph();
  if (!name_reserved && !g->ReserveName(full)) {
    return AlreadyExistsError("cannot create variable ", full,
                              ": an operation of that name already exists in the graph");
  }
  // Variables ignore the control dependencies of the scope they are created in.
  const Scope base = scope.WithNoControlDependencies();
  Output ref = ops::VariableV2(base, full, dtype, shape);
  Output value = init(base.NameScope(full + "/Initializer/"));
  Output assign = ops::Assign(base.NameScope(full + "/"), ref, value, "Assign");
  Output read = ops::Identity(base.NameScope(full + "/"), ref, "read");
  RETURN_IF_ERROR(scope.status());
  if (!value.shape().IsCompatibleWith(shape)) {
    return InvalidArgumentError("the initial value of variable ", full, " has shape ",
                                value.shape().DebugString(), ", not ", shape.DebugString());
  }
  Variable* v = g->AddVariable(Variable{.name = full,
                                        .ref = ref,
                                        .value = read,
                                        .initializer = assign.node,
                                        .initial_value = value,
                                        .dtype = dtype,
                                        .shape = shape,
                                        .trainable = options.trainable});
  std::vector<std::string> cols = options.collections;
  if (cols.empty()) cols.push_back(collections::kGlobalVariables);
  // As TensorFlow's Variable: trainable ones join TRAINABLE_VARIABLES unless
  // the caller's list names it already (collections keep duplicates).
  if (options.trainable && std::find(cols.begin(), cols.end(), collections::kTrainableVariables) == cols.end()) {
    cols.push_back(collections::kTrainableVariables);
  }
  for (const auto& c : cols) g->AddToCollection(c, v);
  return v;
}

}  // namespace

Initializer ZerosInitializer() {
  return [](const Scope& s, const TensorShape& shape, DType dtype) {
    return ops::Fill(s, shape.dims(), 0.f, dtype, "zeros");
  };
}
Initializer OnesInitializer() {
  return [](const Scope& s, const TensorShape& shape, DType dtype) {
    return ops::Fill(s, shape.dims(), 1.f, dtype, "ones");
  };
}
Initializer ConstantInitializer(float value) {
  return [value](const Scope& s, const TensorShape& shape, DType dtype) {
    return ops::Fill(s, shape.dims(), value, dtype, "Const");
  };
}
Initializer RandomNormalInitializer(float mean, float stddev, std::optional<int64_t> seed) {
  return [=](const Scope& s, const TensorShape& shape, DType dtype) {
    if (!CheckFloat(dtype, "random_normal_initializer").ok()) {
      s.UpdateStatus(CheckFloat(dtype, "random_normal_initializer")).IgnoreError();
      return Output{};
    }
    return Scaled(s, ops::RandomNormal(s, shape.dims(), dtype, seed), stddev, mean, dtype);
  };
}
Initializer TruncatedNormalInitializer(float mean, float stddev, std::optional<int64_t> seed) {
  return [=](const Scope& s, const TensorShape& shape, DType dtype) {
    if (!CheckFloat(dtype, "truncated_normal_initializer").ok()) {
      s.UpdateStatus(CheckFloat(dtype, "truncated_normal_initializer")).IgnoreError();
      return Output{};
    }
    return Scaled(s, ops::TruncatedNormal(s, shape.dims(), dtype, seed), stddev, mean, dtype);
  };
}
Initializer RandomUniformInitializer(float minval, float maxval, std::optional<int64_t> seed) {
  return [=](const Scope& s, const TensorShape& shape, DType dtype) {
    if (!CheckFloat(dtype, "random_uniform_initializer").ok()) {
      s.UpdateStatus(CheckFloat(dtype, "random_uniform_initializer")).IgnoreError();
      return Output{};
    }
    return Scaled(s, ops::RandomUniform(s, shape.dims(), dtype, seed), maxval - minval, minval, dtype);
  };
}
Initializer GlorotUniformInitializer(std::optional<int64_t> seed) {
  return [=](const Scope& s, const TensorShape& shape, DType dtype) {
    // Fans as TensorFlow computes them: receptive field times in/out channels.
    double fan_in = 1, fan_out = 1;
    if (shape.rank() == 1) {
      fan_in = fan_out = static_cast<double>(shape.dim(0));
    } else if (shape.rank() >= 2) {
      double receptive = 1;
      for (int d = 0; d + 2 < shape.rank(); ++d) receptive *= static_cast<double>(shape.dim(d));
      fan_in = receptive * static_cast<double>(shape.dim(shape.rank() - 2));
      fan_out = receptive * static_cast<double>(shape.dim(shape.rank() - 1));
    }
    const float limit = static_cast<float>(std::sqrt(6.0 / std::max(1.0, fan_in + fan_out)));
    return RandomUniformInitializer(-limit, limit, seed)(s, shape, dtype);
  };
}

namespace {

// tf.get_variable's sharing rules for <variable scope>/<name>: the existing
// variable (reuse on or AUTO_REUSE; it must match shape and dtype), or null
// when it is to be created (reuse off or AUTO_REUSE); errors otherwise.
StatusOr<Variable*> ExistingForGet(const Scope& scope, const std::string& full, const PartialShape& shape, DType dtype) {
  RETURN_IF_ERROR(scope.status());
  if (const Variable* existing = scope.graph()->FindVariable(full)) {
    if (scope.reuse() == Reuse::kFalse) {
      return scope.UpdateStatus(InvalidArgumentError(
          "Variable ", full,
          " already exists, disallowed. Did you mean to set reuse=True or reuse=tf.AUTO_REUSE in "
          "VarScope?"));
    }
    if (!(existing->shape == shape) || existing->dtype != dtype) {
      return scope.UpdateStatus(InvalidArgumentError(
          "Trying to share variable ", full, ", but specified shape ", shape.DebugString(),
          " and dtype ", DTypeName(dtype), " and found shape ", existing->shape.DebugString(),
          " and dtype ", DTypeName(existing->dtype), "."));
    }
    return const_cast<Variable*>(existing);
  }
  if (scope.reuse() == Reuse::kTrue) {
    return scope.UpdateStatus(InvalidArgumentError(
        "Variable ", full,
        " does not exist, or was not created with tf.get_variable(). Did you mean to set "
        "reuse=tf.AUTO_REUSE in VarScope?"));
  }
  return nullptr;
}

std::string FullName(const Scope& scope, const std::string& name) {
  return scope.variable_scope().empty() ? name : StrCat(scope.variable_scope(), "/", name);
}

}  // namespace

StatusOr<Variable*> GetVariable(const Scope& scope, const std::string& name, TensorShape shape,
                                DType dtype, Initializer init, VariableOptions options) {
  RegisterStandardOps();
  const std::string full = FullName(scope, name);
  ASSIGN_OR_RETURN(Variable* existing, ExistingForGet(scope, full, PartialShape(shape), dtype));
  if (existing != nullptr) return existing;
  if (!init) init = (dtype == DType::kFloat || dtype == DType::kDouble) ? GlorotUniformInitializer() : ZerosInitializer();
  auto v = CreateVariable(scope, full, dtype, shape,
                          [&](const Scope& s) { return init(s, shape, dtype); }, options);
  if (!v.ok()) scope.UpdateStatus(v.status()).IgnoreError();
  return v;
}

StatusOr<Variable*> NewVariable(const Scope& scope, Output initial_value, const std::string& name,
                                VariableOptions options) {
  RegisterStandardOps();
  RETURN_IF_ERROR(scope.status());
  if (!initial_value.valid()) return scope.UpdateStatus(InvalidArgumentError("invalid initial value for ", name));
  const std::string full = scope.OpName(name);
  auto v = CreateVariable(scope, full, initial_value.dtype(), initial_value.shape(),
                          [&](const Scope&) { return initial_value; }, options,
                          /*name_reserved=*/true);  // OpName made `full` unique and used
  if (!v.ok()) scope.UpdateStatus(v.status()).IgnoreError();
  return v;
}

StatusOr<Variable*> GetRowDynamicVariable(const Scope& scope, const std::string& name,
                                          const std::vector<int64_t>& row_dims, DType dtype, VariableOptions options) {
  RegisterStandardOps();
  const std::string full = FullName(scope, name);
  std::vector<int64_t> dims = {kUnknownDim};
  dims.insert(dims.end(), row_dims.begin(), row_dims.end());
  const PartialShape shape(dims);
  ASSIGN_OR_RETURN(Variable* existing, ExistingForGet(scope, full, shape, dtype));
  if (existing != nullptr) return existing;
  std::vector<int64_t> empty = dims;
  empty[0] = 0;
  auto v = CreateVariable(scope, full, dtype, shape,
                          [&](const Scope& s) { return ops::Fill(s, empty, 0.f, dtype, "empty"); }, options);
  if (!v.ok()) scope.UpdateStatus(v.status()).IgnoreError();
  return v;
}

StatusOr<EmbeddingVariable> GetEmbeddingVariable(const Scope& scope, const std::string& name, EmbeddingVariableSpec spec) {
  if (spec.dim <= 0) return scope.UpdateStatus(InvalidArgumentError("embedding variable ", name, " needs dim > 0"));
  EmbeddingVariable ev;
  const VariableOptions fixed{.trainable = false};
  ASSIGN_OR_RETURN(ev.keys, GetRowDynamicVariable(scope, name + "-keys", {}, DType::kInt64, fixed));
  ASSIGN_OR_RETURN(ev.values, GetRowDynamicVariable(scope, name + "-values", {spec.dim}, DType::kFloat));
  ASSIGN_OR_RETURN(ev.freqs, GetRowDynamicVariable(scope, name + "-freqs", {}, DType::kInt64, fixed));
  ASSIGN_OR_RETURN(ev.versions, GetRowDynamicVariable(scope, name + "-versions", {}, DType::kInt64, fixed));
  if (ev.values->embedding == nullptr) {
    spec.base = FullName(scope, name);
    ev.values->embedding = std::make_shared<const EmbeddingVariableSpec>(std::move(spec));
  }
  return ev;
}

namespace {
Node* InitializerFor(const Scope& scope, const char* collection, const std::string& name) {
  std::vector<Node*> inits;
  for (const Variable* v : scope.graph()->VariablesInCollection(collection)) inits.push_back(v->initializer);
  return ops::Group(scope, inits, name);
}
}  // namespace

Node* GlobalVariablesInitializer(const Scope& scope) {
  return InitializerFor(scope, collections::kGlobalVariables, "init");
}
Node* LocalVariablesInitializer(const Scope& scope) {
  return InitializerFor(scope, collections::kLocalVariables, "init_1");
}

StatusOr<Variable*> GetOrCreateGlobalStep(const Scope& scope) {
  if (const Variable* v = scope.graph()->FindVariable("global_step")) return const_cast<Variable*>(v);
  return GetVariable(Scope(scope.graph()), "global_step", TensorShape({}),
                     DType::kInt64, ZerosInitializer(),
                     {.trainable = false,
                      .collections = {collections::kGlobalVariables, collections::kGlobalStep}});
}

}  // namespace psflow
