#include "common/train/saver.h"

#include <algorithm>

#include "common/checkpoint/tensor_bundle.h"
#include "common/ops/graph_io.h"

namespace psflow {

StatusOr<std::unique_ptr<Saver>> Saver::Create(const Graph* graph, SaverOptions options) {
  std::map<std::string, const Variable*> vars;
  if (options.var_list) {
    vars = *options.var_list;
  } else {
    for (const Variable* v : graph->VariablesInCollection(collections::kGlobalVariables)) vars[v->name] = v;
  }
  if (vars.empty()) return InvalidArgumentError("No variables to save");
  for (const auto& [key, v] : vars) {
    if (v == nullptr) return InvalidArgumentError("var_list entry ", key, " has no variable");
    // Fully defined, or all but the row count (a dynamic embedding table's
    // tensors: whatever rows they hold are saved, and restored).
    bool rows_only = !v->shape.unknown_rank() && v->shape.rank() >= 1;
    for (int d = 1; rows_only && d < v->shape.rank(); ++d) rows_only = v->shape.dim(d) >= 0;
    if (!v->shape.IsFullyDefined() && !rows_only) {
      return InvalidArgumentError("variable ", v->name, " has shape ", v->shape.DebugString(),
                                  "; only fully defined shapes (or unknown row counts) can be saved");
    }
  }
  if (options.num_shards < 1) return InvalidArgumentError("num_shards must be >= 1");
  return std::unique_ptr<Saver>(new Saver(graph, std::move(options), std::move(vars)));
}

std::vector<VariableSpec> Saver::Specs() const {
  std::vector<VariableSpec> out;
  for (const auto& [key, v] : vars_) out.push_back({key, v->dtype, v->shape.ToShape()});
  return out;
}

StatusOr<std::string> Saver::Save(Session* session, const std::string& dir, int64_t global_step) {
  ASSIGN_OR_RETURN(CheckpointManager * mgr, Manager(dir));
  return SaveTo(session, mgr, mgr->PrefixForStep(global_step));
}

StatusOr<std::string> Saver::Save(Session* session, const std::string& dir) {
  ASSIGN_OR_RETURN(CheckpointManager * mgr, Manager(dir));
  return SaveTo(session, mgr, JoinPath(dir, options_.basename));
}

StatusOr<CheckpointManager*> Saver::Manager(const std::string& dir) {
  auto& mgr = managers_[dir];
  if (mgr == nullptr) {
    ASSIGN_OR_RETURN(mgr, CheckpointManager::Create(
                              options_.env, dir,
                              {.max_to_keep = options_.max_to_keep,
                               .keep_checkpoint_every_n_hours = options_.keep_checkpoint_every_n_hours,
                               .basename = options_.basename}));
  }
  return mgr.get();
}

StatusOr<std::string> Saver::SaveTo(Session* session, CheckpointManager* mgr, const std::string& prefix) {
  // Greedy by bytes: the largest variable goes to the emptiest shard, as PS
  // placement does.
  std::vector<std::string> names;
  for (const auto& [key, v] : vars_) names.push_back(v->name);
  // Host values (a session on a GPU keeps its variables there).
  ASSIGN_OR_RETURN(std::vector<Tensor> read, session->ReadVariables(names));
  std::vector<std::pair<std::string, Tensor>> values;
  size_t i = 0;
  for (const auto& [key, v] : vars_) values.emplace_back(key, std::move(read[i++]));
  std::sort(values.begin(), values.end(), [](const auto& a, const auto& b) {
    return a.second.TotalBytes() != b.second.TotalBytes() ? a.second.TotalBytes() > b.second.TotalBytes()
                                                          : a.first < b.first;
  });
  const int n = options_.num_shards;
  std::vector<std::unique_ptr<BundleShardWriter>> writers;
  std::vector<size_t> load(static_cast<size_t>(n), 0);
  for (int k = 0; k < n; ++k) writers.push_back(std::make_unique<BundleShardWriter>(options_.env, prefix, k, n));
  for (const auto& [key, t] : values) {
    const size_t k = static_cast<size_t>(std::min_element(load.begin(), load.end()) - load.begin());
    load[k] += t.TotalBytes() + 1;
    RETURN_IF_ERROR(writers[k]->Add(key, t));
  }
  std::vector<BundleEntries> parts;
  for (auto& w : writers) {
    ASSIGN_OR_RETURN(BundleEntries e, w->Finish());
    parts.push_back(std::move(e));
  }
  RETURN_IF_ERROR(WriteBundleIndex(options_.env, prefix, n, parts));
  if (options_.write_meta_graph) {
    RETURN_IF_ERROR(WriteMetaGraph(*graph_, prefix + ".meta",
                                   {.max_to_keep = options_.max_to_keep,
                                    .keep_checkpoint_every_n_hours = options_.keep_checkpoint_every_n_hours,
                                    .saver_vars = vars_,
                                    .env = options_.env}));
  }
  RETURN_IF_ERROR(mgr->Commit(prefix));
  return prefix;
}

Status Saver::Restore(Session* session, const std::string& prefix) {
  ASSIGN_OR_RETURN(auto reader, BundleReader::Open(options_.env, prefix));
  std::vector<VariableSpec> model;
  std::map<std::string, std::string> key_to_var;
  for (const auto& [key, v] : vars_) {
    model.push_back({v->name, v->dtype, v->shape.ToShape()});
    key_to_var[key] = v->name;
  }
  RestoreOptions ro;
  // A Saver built from a var_list restores exactly that list (subset/renames);
  // so does any Saver that is not strict: checkpoint keys it does not save
  // are ignored, as TensorFlow's Saver ignores them.
  if (options_.var_list || !options_.strict) ro.var_list = key_to_var;
  if (!options_.strict) {
    for (const auto& [key, var] : key_to_var) {
      if (!reader->Contains(key)) {
        return NotFoundError("Key ", key, " not found in checkpoint ", prefix, " (restoring variable ", var,
                             "); the checkpoint holds another model, or an older one of this model");
      }
    }
  }
  ASSIGN_OR_RETURN(auto values, RestoreVariables(*reader, model, ro));
  return session->AssignVariables(values);
}

StatusOr<std::unique_ptr<Saver>> ImportMetaGraphWithSaver(const std::string& path, Graph* graph,
                                                          const ImportOptions& options) {
  std::map<std::string, const Variable*> imported;
  RETURN_IF_ERROR(ImportMetaGraph(path, graph, options, &imported));
  return Saver::Create(graph, {.var_list = imported});
}

}  // namespace psflow
