// The `checkpoint` state file of a model directory: which checkpoint is the
// latest and which are kept, in TensorFlow's text format, so that
// tf.train.latest_checkpoint and psflow agree.
//
//   ASSIGN_OR_RETURN(std::optional<std::string> p, LatestCheckpoint(env, model_dir));
//   if (p) ... restore from *p ...
//
// Differences from TensorFlow, on purpose: a state file that exists but does
// not parse is an error (DataLoss naming the file) instead of being ignored,
// because ignoring it would silently restart a job from scratch.
// Thread-safe (stateless functions; the file is replaced atomically).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/core/env.h"
#include "common/proto/checkpoint_state.pb.h"

namespace psflow {

inline constexpr char kCheckpointStateFilename[] = "checkpoint";

// Reads <dir>/checkpoint.  nullopt if there is no state file.  Relative paths
// in it are returned joined with `dir`; absolute ones unchanged.
// InvalidArgument when model_checkpoint_path is empty, DataLoss when the file
// does not parse.
StatusOr<std::optional<tensorflow::CheckpointState>> GetCheckpointState(
    Env* env, const std::string& dir,
    const std::string& latest_filename = kCheckpointStateFilename);

// What `dir` offers to restore from, newest first: the state file's
// model_checkpoint_path, then the others it lists; a listed checkpoint
// whose files are not where the state file says but are in `dir` (a
// model_dir that was moved or copied, with absolute paths in its state
// file) is taken from `dir`; then the `<basename>-<N>` checkpoints in `dir`
// that the state file does not list (all of them when there is none).
struct CheckpointCandidates {
  bool has_state_file = false;
  size_t listed = 0;                  // how many of `prefixes` the state file lists (they come first)
  std::vector<std::string> prefixes;  // newest first
};
StatusOr<CheckpointCandidates> ListCheckpointCandidates(Env* env, const std::string& dir,
                                                        const std::string& latest_filename = kCheckpointStateFilename);

// OK when checkpoint `prefix` can be restored: its .index reads and every
// data file is there with the bytes the index needs (CheckBundleFiles; a V1
// checkpoint file counts when it exists).  NotFound or DataLoss saying what
// it lacks.  Other errors (permissions, I/O) come as they are: they say
// nothing about the checkpoint, and must not make a trainer skip it.
Status CheckpointComplete(Env* env, const std::string& prefix);

// The checkpoint to resume from (the chief, warm start, the Estimator,
// psflow-inspect): the first complete one of ListCheckpointCandidates.
// When it is not the state file's latest, a warning names each newer one,
// what it lacks, and the one used instead.  nullopt only when `dir` holds
// neither a state file nor a `model.ckpt-<N>` checkpoint.
// FailedPrecondition, never nullopt, when it holds checkpoints but none is
// complete: starting fresh there would overwrite them.  The message lists
// each one with what it lacks and says what to do.
// Differs from tf.train.latest_checkpoint, which returns None when the
// named checkpoint's index is gone or there is no state file, on purpose:
// a trainer that gets None starts from step 0 and writes over checkpoints.
StatusOr<std::optional<std::string>> LatestCheckpoint(
    Env* env, const std::string& dir,
    const std::string& latest_filename = kCheckpointStateFilename);

// N of a checkpoint prefix ".../model.ckpt-N"; -1 when the name has no step.
int64_t CheckpointStep(std::string_view prefix);

// The checkpoints in `dir` named `<basename>-<N>.index`, as prefixes sorted
// by N (oldest first).
StatusOr<std::vector<std::string>> FindCheckpointsInDir(Env* env, const std::string& dir,
                                                        const std::string& basename = "model.ckpt");

struct CheckpointStateUpdate {
  std::string model_checkpoint_path;            // the newest checkpoint
  std::vector<std::string> all_model_checkpoint_paths;  // oldest -> newest
  std::vector<double> all_model_checkpoint_timestamps;  // empty or one per path
  double last_preserved_timestamp = 0;
  bool save_relative_paths = true;  // store paths inside `dir` as bare names
};

// Writes <dir>/checkpoint atomically (temporary file, fsync, rename).  Appends
// model_checkpoint_path to the list if it is not its last element, as TF does.
Status UpdateCheckpointState(Env* env, const std::string& dir, CheckpointStateUpdate update,
                             const std::string& latest_filename = kCheckpointStateFilename);

}  // namespace psflow
