// Variables as TensorFlow 1 creates them: tf.get_variable with variable
// scopes and reuse, tf.Variable, initializers, collections, global_step.
//
//   Scope layer = root.VariableScope("dense");
//   ASSIGN_OR_RETURN(Variable* w, GetVariable(layer, "kernel", {784, 256}, DType::kFloat,
//                                             GlorotUniformInitializer()));
//   // w->name == "dense/kernel", nodes dense/kernel, dense/kernel/Assign, dense/kernel/read
//   Node* init = GlobalVariablesInitializer(root);   // run it once, or restore a checkpoint
//
// Not thread-safe (graph building).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/graph/scope.h"

namespace psflow {

// Builds the initial value of a variable of `shape` and `dtype`.
using Initializer = std::function<Output(const Scope&, const TensorShape&, DType)>;

Initializer ZerosInitializer();
Initializer OnesInitializer();
Initializer ConstantInitializer(float value);
Initializer RandomNormalInitializer(float mean = 0, float stddev = 1, std::optional<int64_t> seed = {});
Initializer TruncatedNormalInitializer(float mean = 0, float stddev = 1, std::optional<int64_t> seed = {});
Initializer RandomUniformInitializer(float minval = 0, float maxval = 1, std::optional<int64_t> seed = {});
// tf.glorot_uniform_initializer, get_variable's default: U(-l, l) with
// l = sqrt(6 / (fan_in + fan_out)).
Initializer GlorotUniformInitializer(std::optional<int64_t> seed = {});

struct VariableOptions {
  bool trainable = true;
  // Collections to add the variable to; empty means {GLOBAL_VARIABLES}
  // (and TRAINABLE_VARIABLES when trainable).
  std::vector<std::string> collections;
};

// tf.get_variable: the variable <variable scope>/<name>.  With reuse off, an
// existing name is an error; with reuse on, a missing one is; AUTO_REUSE
// creates or reuses.  A reused variable must match shape and dtype.
StatusOr<Variable*> GetVariable(const Scope& scope, const std::string& name, TensorShape shape,
                                DType dtype = DType::kFloat, Initializer init = nullptr,
                                VariableOptions options = {});

// tf.Variable: always a new variable, its name uniquified in the name scope.
StatusOr<Variable*> NewVariable(const Scope& scope, Output initial_value,
                                const std::string& name = "Variable", VariableOptions options = {});

// A variable whose row count is not fixed: shape [?, row_dims...], empty
// ([0, row_dims...]) until a checkpoint or a parameter server fills it.  A
// dynamic embedding table's tensors and their optimizer slots are such.
// Reuse as GetVariable (an existing one must match dtype and shape).
StatusOr<Variable*> GetRowDynamicVariable(const Scope& scope, const std::string& name,
                                          const std::vector<int64_t>& row_dims, DType dtype,
                                          VariableOptions options = {});

// A dynamic embedding table <variable scope>/<name> (graph.h's
// EmbeddingVariableSpec; spec.base is set here): the variables name-keys,
// name-values (trainable, carrying the spec), name-freqs and
// name-versions.  Reused (AUTO_REUSE, reuse) as GetVariable reuses.
struct EmbeddingVariable {
  Variable* keys = nullptr;
  Variable* values = nullptr;
  Variable* freqs = nullptr;
  Variable* versions = nullptr;
};
StatusOr<EmbeddingVariable> GetEmbeddingVariable(const Scope& scope, const std::string& name, EmbeddingVariableSpec spec);

// A NoOp running every initializer of GLOBAL_VARIABLES (tf.global_variables_initializer).
Node* GlobalVariablesInitializer(const Scope& scope);
Node* LocalVariablesInitializer(const Scope& scope);

// The int64 scalar "global_step" (non-trainable, in GLOBAL_STEP), created on first call.
StatusOr<Variable*> GetOrCreateGlobalStep(const Scope& scope);

}  // namespace psflow
