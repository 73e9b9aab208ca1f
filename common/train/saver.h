// Saver: saves and restores a graph's variables as TensorFlow checkpoints,
// as tf.compat.v1.train.Saver does.
//
//   ASSIGN_OR_RETURN(auto saver, Saver::Create(&graph, {.max_to_keep = 5}));
//   ASSIGN_OR_RETURN(std::string prefix, saver->Save(&sess, model_dir, global_step));
//   RETURN_IF_ERROR(saver->Restore(&sess, prefix));    // checks compatibility first
//
// The variable list is fixed when the Saver is created (GLOBAL_VARIABLES by
// default, or an explicit var_list): a variable created later is not saved.
// A var_list maps checkpoint keys to variables, so {"old_name": v} restores v
// from another name, and a partial list restores a subset.  Restores behave
// as TensorFlow's: checkpoint keys the Saver does not save are ignored, and a
// variable missing from the checkpoint is NOT_FOUND ("Key NAME not found in
// checkpoint").  `strict` adds the whole compatibility check (no unused
// checkpoint key either), which the Estimator uses to guard model_dir.  Saves are
// sharded over `num_shards` data files (as one file per PS task would be),
// named model.ckpt-<step>, recorded in the `checkpoint` file, and old ones
// are deleted by max_to_keep / keep_checkpoint_every_n_hours.
// Not thread-safe; one Saver per chief.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/checkpoint/checkpoint_manager.h"
#include "common/checkpoint/restore.h"
#include "common/ops/graph_io.h"
#include "common/runtime/session.h"

namespace psflow {

struct SaverOptions {
  std::optional<std::map<std::string, const Variable*>> var_list;  // checkpoint key -> variable
  int max_to_keep = 5;
  double keep_checkpoint_every_n_hours = 10000;
  int num_shards = 1;
  std::string basename = "model.ckpt";
  bool write_meta_graph = true;  // <prefix>.meta: the graph, variables, collections
  bool strict = false;           // Restore: also refuse checkpoint keys the Saver does not save
  Env* env = Env::Default();     // where checkpoints are written and read
};

class Saver {
 public:
  static StatusOr<std::unique_ptr<Saver>> Create(const Graph* graph, SaverOptions options = {});

  // Writes <dir>/model.ckpt-<global_step> from the session's variables and
  // commits it.  Returns the prefix.
  StatusOr<std::string> Save(Session* session, const std::string& dir, int64_t global_step);
  // Without a global step: writes <dir>/model.ckpt (the bare prefix), as
  // TensorFlow's Saver.save(sess, path) does.
  StatusOr<std::string> Save(Session* session, const std::string& dir);
  // Restores every saved variable from `prefix` into the session, after
  // checking them all (every problem in one message; nothing is assigned
  // unless all of it passes).
  Status Restore(Session* session, const std::string& prefix);

  // The (checkpoint key, dtype, shape) of each saved variable.
  std::vector<VariableSpec> Specs() const;

 private:
  StatusOr<CheckpointManager*> Manager(const std::string& dir);
  StatusOr<std::string> SaveTo(Session* session, CheckpointManager* mgr, const std::string& prefix);
  Saver(const Graph* graph, SaverOptions o, std::map<std::string, const Variable*> vars)
      : graph_(graph), options_(std::move(o)), vars_(std::move(vars)) {}
  const Graph* const graph_;
  const SaverOptions options_;
  const std::map<std::string, const Variable*> vars_;
  std::map<std::string, std::unique_ptr<CheckpointManager>> managers_;  // per directory
};

// tf.compat.v1.train.import_meta_graph: imports the .meta at `path` into
// `graph` (which may hold nodes; see ImportOptions::import_scope) and returns
// a Saver over the imported global variables under their checkpoint keys, so
// it restores the checkpoint the .meta was written with.
StatusOr<std::unique_ptr<Saver>> ImportMetaGraphWithSaver(const std::string& path, Graph* graph,
                                                          const ImportOptions& options = {});

}  // namespace psflow
