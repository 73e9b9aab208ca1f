// The exit codes of every psflow binary: the contract between the tasks
// and psflow-launch (and any other supervisor: Kubernetes, Slurm).
//
//   return kExitBadInput;                 // from a task's main()
//   if (ExitMeansBadInput(code)) ...       // the launcher: do not restart
//
// Header only; thread-safe (constants).
#pragma once

namespace psflow {

inline constexpr int kExitOk = 0;
// A runtime error (logged with the task's name); a restart may cure it.
inline constexpr int kExitError = 1;
// Bad input: the command line, the job file (or TF_CONFIG), or a file it
// names (data set, model plugin).  A restart fails the same way.
inline constexpr int kExitBadInput = 2;
// The checkpoint in model_dir cannot be used: it does not match the model,
// none is complete, or it is corrupt.  A restart fails the same way.
inline constexpr int kExitUnusableCheckpoint = 3;

// A PS task stopped by a signal (SIGTERM, SIGINT) before the chief said the
// job was done: 128 + SIGTERM, as a shell reports it.  Trainers stopped by
// a signal write their final checkpoint and exit 0.
inline constexpr int kExitTerminated = 143;

// Whether a supervisor should not restart a task that exited with `code`.
inline constexpr bool ExitMeansBadInput(int code) { return code == kExitBadInput || code == kExitUnusableCheckpoint; }

}  // namespace psflow
