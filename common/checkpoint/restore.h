// Checking that a checkpoint matches a model, and restoring from it.
//
//   std::vector<VariableSpec> model = {{"dense/kernel", DType::kFloat, {784, 256}}, ...};
//   RETURN_IF_ERROR(CheckCompatibility(*reader, model, {}));   // every problem, one message
//   ASSIGN_OR_RETURN(auto values, RestoreVariables(*reader, model, {}));
//
// Strict by default: every model variable must be in the checkpoint with the
// same dtype and shape, and every checkpoint key must belong to the model.
// The only ways around it are explicit: a var_list that restores a subset, or
// one that renames (checkpoint key -> model variable), as
// tf.compat.v1.train.Saver(var_list={"old_name": variable}) does.
// Thread-safe (reads only).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/checkpoint/tensor_bundle.h"

namespace psflow {

struct VariableSpec {
  std::string name;  // the checkpoint key it is saved under by default
  DType dtype = DType::kFloat;
  // A dimension of -1 takes any size: a dynamic embedding table's row count
  // (graph.h's EmbeddingVariableSpec) is whatever was saved.
  TensorShape shape;
};

struct RestoreOptions {
  // When set, only these variables are checked and restored: checkpoint key
  // -> model variable name.  Checkpoint keys not listed are ignored.
  std::optional<std::map<std::string, std::string>> var_list;
};

// A var_list restoring `names` under their own names (a plain subset).
std::map<std::string, std::string> VarListFromNames(const std::vector<std::string>& names);

// OK, or FailedPrecondition listing every missing key, dtype mismatch, shape
// mismatch and unused checkpoint key in one message, with the payload
// kCheckpointMismatch (its value: the checkpoint's prefix) that
// IsCheckpointMismatch tests, also after WithContext.
inline constexpr std::string_view kCheckpointMismatch = "psflow.checkpoint_mismatch";
bool IsCheckpointMismatch(const Status& s);
Status CheckCompatibility(const BundleReader& reader, const std::vector<VariableSpec>& model,
                          const RestoreOptions& options = {});

// Runs CheckCompatibility, then reads every variable to restore.  Returns
// values keyed by model variable name; nothing is returned (and so nothing
// can be assigned) unless the whole check passes and every read succeeds.
StatusOr<std::map<std::string, Tensor>> RestoreVariables(const BundleReader& reader,
                                                         const std::vector<VariableSpec>& model,
                                                         const RestoreOptions& options = {});

}  // namespace psflow
