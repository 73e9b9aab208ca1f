// How a training run behaves, the same type for the Estimator, the
// distributed trainers (worker/, chief/) and the job file's `run:` section
// (common/cluster/job_config.h's RunSpec extends it with the job's own keys):
// tf.estimator.RunConfig's fields, with its defaults.
//
//   RunConfig c{.model_dir = "/tmp/m", .save_checkpoints_steps = 1000};
//   RETURN_IF_ERROR(c.Check());
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/core/status.h"

namespace psflow {

struct RunConfig {
  std::string model_dir;
  // Checkpoints at the start, every this many steps or seconds (set one;
  // neither: every 600 s), and at the end.
  std::optional<int64_t> save_checkpoints_steps;
  std::optional<double> save_checkpoints_secs;
  int64_t keep_checkpoint_max = 5;  // 0: keep all
  double keep_checkpoint_every_n_hours = 10000;
  // The progress line (loss, step, global_step/sec, examples/sec) at the
  // first step and every this many steps.
  int64_t log_step_count_steps = 100;
  // TensorBoard scalars (loss, global_step/sec, learning_rate) in model_dir
  // every this many steps, and a SessionLog at the start and at each
  // checkpoint; 0: no events file.  In a cluster the chief writes them.
  int64_t save_summary_steps = 100;
  // Every this many steps one step is traced into
  // model_dir/profile/<task>-step-<global_step>.trace.json, a
  // chrome://tracing timeline; 0: never.
  int64_t profile_steps = 0;
  std::optional<int64_t> tf_random_seed;
  // Threads of each process's intra-op pool (the CPU kernels' GEMMs,
  // convolutions and large elementwise ops, the PS's applies of large
  // variables); 0: the cores the process may run on.  Tasks that share a
  // machine's cores each default to all of them: set it to cores / tasks
  // for jobs on one machine that are CPU-bound.
  int intra_op_threads = 0;

  // The checkpoint interval in seconds when none is set in steps.
  double CheckpointSecs() const { return save_checkpoints_secs.value_or(600.0); }
  // The first key with a bad value and what is wrong with it ("must be >
  // 0"), or nullopt: the one rule set, which the job file's reader reports
  // with the key's line.
  struct Problem {
    std::string key;  // "save_checkpoints_steps"
    std::string what;
  };
  std::optional<Problem> FindProblem() const;
  // OK, or INVALID_ARGUMENT "run.<key> <what>".
  Status Check() const {
    auto p = FindProblem();
    return p ? InvalidArgumentError("run.", p->key, " ", p->what) : OkStatus();
  }
};

inline std::optional<RunConfig::Problem> RunConfig::FindProblem() const {
  if (model_dir.empty()) return Problem{"model_dir", "is required"};
  if (save_checkpoints_steps && save_checkpoints_secs) {
    return Problem{"save_checkpoints_secs", "cannot be set with save_checkpoints_steps: set one, not both"};
  }
  if (save_checkpoints_steps && *save_checkpoints_steps <= 0) return Problem{"save_checkpoints_steps", "must be > 0"};
  if (save_checkpoints_secs && !(*save_checkpoints_secs > 0)) return Problem{"save_checkpoints_secs", "must be > 0"};
  if (keep_checkpoint_max < 0) return Problem{"keep_checkpoint_max", "must be >= 0 (0 keeps all)"};
  if (log_step_count_steps <= 0) return Problem{"log_step_count_steps", "must be > 0"};
  if (save_summary_steps < 0) return Problem{"save_summary_steps", "must be >= 0 (0: no events file)"};
  if (profile_steps < 0) return Problem{"profile_steps", "must be >= 0 (0: never)"};
  if (intra_op_threads < 0 || intra_op_threads > 1024) {
    return Problem{"intra_op_threads", "must be between 0 (the process's cores) and 1024"};
  }
  return std::nullopt;
}

}  // namespace psflow
