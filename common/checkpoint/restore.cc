#include "common/checkpoint/restore.h"

#include <set>

namespace psflow {
namespace {

// TensorFlow 2 object-based checkpoints carry this metadata key; it is not a
// variable, so it never counts as "unused".
constexpr char kObjectGraphKey[] = "_CHECKPOINTABLE_OBJECT_GRAPH";

// Whether a stored shape fits a model's, where a model dimension of -1
// (a dynamic embedding table's row count) takes any size.
bool ShapeFits(const TensorShape& model, const TensorShape& stored) {
  if (model.rank() != stored.rank()) return false;
  for (int d = 0; d < model.rank(); ++d) {
    if (model.dim(d) >= 0 && model.dim(d) != stored.dim(d)) return false;
  }
  return true;
}

std::string ModelShapeString(const TensorShape& s) {
  std::string out = "[";
  for (int d = 0; d < s.rank(); ++d) out += StrCat(d ? "," : "", s.dim(d) < 0 ? std::string("?") : StrCat(s.dim(d)));
  return out + "]";
}

struct Plan {
  // checkpoint key -> model variable
  std::vector<std::pair<std::string, const VariableSpec*>> restore;
  std::vector<std::string> problems;
};

Plan MakePlan(const BundleReader& reader, const std::vector<VariableSpec>& model,
              const RestoreOptions& options) {
  Plan plan;
  std::map<std::string, const VariableSpec*> by_name;
  for (const VariableSpec& v : model) by_name[v.name] = &v;

  std::set<std::string> used_keys;
  if (options.var_list) {
    for (const auto& [key, var] : *options.var_list) {
      auto it = by_name.find(var);
      if (it == by_name.end()) {
        plan.problems.push_back(StrCat("var_list maps checkpoint key ", key,
                                       " to variable ", var, ", which the model does not have"));
        continue;
      }
      plan.restore.emplace_back(key, it->second);
    }
  } else {
    for (const VariableSpec& v : model) plan.restore.emplace_back(v.name, &v);
  }

  for (const auto& [key, var] : plan.restore) {
    used_keys.insert(key);
    const std::string rename = key == var->name ? "" : StrCat(" (for variable ", var->name, ")");
    auto info = reader.GetInfo(key);
    if (!info.ok()) {
      if (IsNotFoundError(info.status())) {
        plan.problems.push_back(StrCat("Key ", key, " not found in checkpoint", rename));
      } else {
        plan.problems.push_back(info.status().message());
      }
      continue;
    }
    if (info->dtype != var->dtype) {
      plan.problems.push_back(StrCat("tensor_name = ", key, "; expected dtype ", DTypeName(var->dtype),
                                     " does not equal original dtype ", DTypeName(info->dtype),
                                     rename));
    }
    if (!ShapeFits(var->shape, info->shape)) {
      plan.problems.push_back(StrCat("tensor_name = ", key, "; shape in model ",
                                     ModelShapeString(var->shape),
                                     " does not match the shape stored in checkpoint: ",
                                     info->shape.DebugString(), rename));
    }
  }

  if (!options.var_list) {
    for (const std::string& key : reader.Keys()) {
      if (used_keys.count(key) == 0 && key != kObjectGraphKey) {
        auto info = reader.GetInfo(key);
        plan.problems.push_back(StrCat(
            "checkpoint key ", key,
            info.ok() ? StrCat(" (", DTypeName(info->dtype), " ", info->shape.DebugString(), ")")
                      : std::string(),
            " is not a variable of the model"));
      }
    }
  }
  return plan;
}

}  // namespace

std::map<std::string, std::string> VarListFromNames(const std::vector<std::string>& names) {
  std::map<std::string, std::string> m;
  for (const auto& n : names) m[n] = n;
  return m;
}

Status CheckCompatibility(const BundleReader& reader, const std::vector<VariableSpec>& model,
                          const RestoreOptions& options) {
  Plan plan = MakePlan(reader, model, options);
  if (plan.problems.empty()) return OkStatus();
  std::string msg = StrCat("checkpoint ", reader.prefix(), " does not match the model (",
                           plan.problems.size(), plan.problems.size() == 1 ? " problem" : " problems",
                           "); nothing was restored:");
  for (const auto& p : plan.problems) msg += StrCat("\n  ", p);
  msg +=
      "\nIf the model changed on purpose, start from a new model_dir and warm-start it from this checkpoint "
      "(run.warm_start.from in the job file copies the variables that still match), or restore explicitly: a "
      "var_list restores a subset, and a var_list entry {checkpoint_key: variable} renames.";
  return FailedPreconditionError(msg).WithPayload(std::string(kCheckpointMismatch), reader.prefix());
}

bool IsCheckpointMismatch(const Status& s) { return s.GetPayload(kCheckpointMismatch).has_value(); }

StatusOr<std::map<std::string, Tensor>> RestoreVariables(const BundleReader& reader,
                                                         const std::vector<VariableSpec>& model,
                                                         const RestoreOptions& options) {
  RETURN_IF_ERROR(CheckCompatibility(reader, model, options));
  Plan plan = MakePlan(reader, model, options);
  std::map<std::string, Tensor> out;
  for (const auto& [key, var] : plan.restore) {
    ASSIGN_OR_RETURN(Tensor t, reader.Lookup(key));
    out[var->name] = std::move(t);
  }
  return out;
}

}  // namespace psflow
