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

// The checkpoint to resume from (the chief, warm start, the Estimator,
// psflow-inspect):
//   - the state file's model_checkpoint_path when it is complete (its
//     .index reads and every data file is there: CheckBundleFiles; a V1
//     checkpoint file counts when it exists);
//   - otherwise the newest complete one of all_model_checkpoint_paths,
//     after a warning naming the checkpoint that is incomplete, what it
//     lacks, and the one used instead;
//   - without a state file, the newest complete `<name>-<N>.index`
//     checkpoint in `dir` (a crash between a first checkpoint and its state
//     file, or a state file deleted by hand), with a warning;
//   - nullopt only when `dir` holds no checkpoint at all.
// FailedPrecondition, never nullopt, when `dir` holds checkpoints but none
// is complete: starting fresh there would overwrite them.  The message
// lists each one with what it lacks and says what to do.
// Differs from tf.train.latest_checkpoint, which returns None in all of
// these cases, on purpose: a trainer that gets None starts from step 0 and
// writes over the checkpoints.
StatusOr<std::optional<std::string>> LatestCheckpoint(
    Env* env, const std::string& dir,
    const std::string& latest_filename = kCheckpointStateFilename);

// N of a checkpoint prefix ".../model.ckpt-N"; -1 when the name has no step.
int64_t CheckpointStep(std::string_view prefix);

// The checkpoints in `dir` named `<anything>-<N>.index`, as prefixes sorted
// by N (oldest first); what LatestCheckpoint looks at without a state file.
StatusOr<std::vector<std::string>> FindCheckpointsInDir(Env* env, const std::string& dir);

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
