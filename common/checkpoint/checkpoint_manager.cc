#include "common/checkpoint/checkpoint_manager.h"

#include <algorithm>

#include "common/checkpoint/checkpoint_state.h"
#include "common/checkpoint/tensor_bundle.h"
#include "common/core/fault_point.h"
#include "common/core/logging.h"

namespace psflow {

StatusOr<std::unique_ptr<CheckpointManager>> CheckpointManager::Create(
    Env* env, std::string dir, CheckpointManagerOptions options) {
  if (options.max_to_keep < 0) {
    return InvalidArgumentError("keep_checkpoint_max must be >= 0 (0 keeps all), got ",
                                options.max_to_keep);
  }
  if (options.keep_checkpoint_every_n_hours <= 0) {
    return InvalidArgumentError("keep_checkpoint_every_n_hours must be > 0, got ",
                                options.keep_checkpoint_every_n_hours);
  }
  RETURN_IF_ERROR(env->CreateDirs(dir));
  // A state file a crash cut short is left under its temporary name
  // (WriteStringToFileAtomic: "checkpoint.tmp<hex>"); nothing reads it.
  if (auto children = env->GetChildren(dir); children.ok()) {
    for (const std::string& f : *children) {
      if (f.rfind("checkpoint.tmp", 0) != 0) continue;
      LOG(INFO) << "removing " << JoinPath(dir, f) << ", a state file an earlier process did not finish";
      env->DeleteFile(JoinPath(dir, f)).IgnoreError();
    }
  }
  std::unique_ptr<CheckpointManager> m(new CheckpointManager(env, std::move(dir), std::move(options)));
  RETURN_IF_ERROR(m->Recover());
  return m;
}

Status CheckpointManager::Recover() {
  const double now = Now();
  ASSIGN_OR_RETURN(auto state, GetCheckpointState(env_, dir_));
  if (!state) {
    last_preserved_timestamp_ = now - 1;
    // Checkpoints without a state file (it was lost, or a crash came before
    // the first one was written): LatestCheckpoint resumes from the newest,
    // so retention must know them too.
    ASSIGN_OR_RETURN(std::vector<std::string> found, FindCheckpointsInDir(env_, dir_, options_.basename));
    for (const std::string& p : found) {
      auto mtime = env_->GetFileMTime(BundleIndexFilename(p));
      entries_.push_back(Entry{p, std::min(mtime.ok() ? *mtime : now, now)});
    }
    return OkStatus();
  }
  last_preserved_timestamp_ = state->last_preserved_timestamp();
  if (now < last_preserved_timestamp_) {
    LOG(WARNING) << "checkpoint state in " << dir_
                 << " has a last_preserved_timestamp in the future; is the clock right?";
    last_preserved_timestamp_ = now;
  }
  const int n = state->all_model_checkpoint_paths_size();
  const bool have_ts = state->all_model_checkpoint_timestamps_size() == n;
  for (int i = 0; i < n; ++i) {
    const std::string& p = state->all_model_checkpoint_paths(i);
    double ts;
    if (have_ts) {
      ts = state->all_model_checkpoint_timestamps(i);
    } else {
      // A state file without timestamps (TF1 Saver): use the index file's
      // mtime, as TF's recover_last_checkpoints does.
      auto mtime = env_->GetFileMTime(BundleIndexFilename(p));
      ts = mtime.ok() ? *mtime : last_preserved_timestamp_;
    }
    ts = std::min(ts, now);
    if (ts > last_preserved_timestamp_ || !have_ts) entries_.push_back(Entry{p, ts});
  }
  // A state file without last_preserved_timestamp (TF1's Saver writes none):
  // start the every-N-hours clock now, as TF1's Saver does at construction.
  if (last_preserved_timestamp_ <= 0) last_preserved_timestamp_ = now - 1;
  return OkStatus();
}

std::string CheckpointManager::PrefixForStep(int64_t step) const {
  return JoinPath(dir_, StrCat(options_.basename, "-", step));
}

Status CheckpointManager::Commit(const std::string& prefix) {
  if (!env_->FileExists(BundleIndexFilename(prefix))) {
    return FailedPreconditionError("cannot commit checkpoint ", prefix, ": ",
                                   BundleIndexFilename(prefix),
                                   " does not exist; write every shard and the index first");
  }
  entries_.erase(std::remove_if(entries_.begin(), entries_.end(),
                                [&](const Entry& e) { return e.prefix == prefix; }),
                 entries_.end());
  entries_.push_back(Entry{prefix, Now()});

  // Decide what leaves the managed list before the state file is written, so
  // the state file never names a checkpoint that is about to be deleted.
  std::vector<std::string> to_delete;
  if (options_.max_to_keep > 0) {
    while (entries_.size() > static_cast<size_t>(options_.max_to_keep)) {
      Entry oldest = entries_.front();
      entries_.erase(entries_.begin());
      const double period = options_.keep_checkpoint_every_n_hours * 3600.0;
      if (oldest.timestamp - period >= last_preserved_timestamp_) {
        LOG(INFO) << "keeping checkpoint " << oldest.prefix << " for good (one every "
                  << options_.keep_checkpoint_every_n_hours << " hours)";
        last_preserved_timestamp_ = oldest.timestamp;
      } else {
        to_delete.push_back(oldest.prefix);
      }
    }
  }

  CheckpointStateUpdate u;
  u.model_checkpoint_path = prefix;
  for (const Entry& e : entries_) {
    u.all_model_checkpoint_paths.push_back(e.prefix);
    u.all_model_checkpoint_timestamps.push_back(e.timestamp);
  }
  u.last_preserved_timestamp = last_preserved_timestamp_;
  FaultPoint("checkpoint.before_state");
  RETURN_IF_ERROR(UpdateCheckpointState(env_, dir_, std::move(u)));
  FaultPoint("checkpoint.after_state");

  for (const std::string& p : to_delete) {
    Status s = DeleteCheckpointFiles(env_, p);
    if (!s.ok()) LOG(WARNING) << "could not delete old checkpoint " << p << ": " << s;
  }
  return OkStatus();
}

std::vector<std::string> CheckpointManager::checkpoints() const {
  std::vector<std::string> out;
  for (const Entry& e : entries_) out.push_back(e.prefix);
  return out;
}

std::optional<std::string> CheckpointManager::latest() const {
  if (entries_.empty()) return std::nullopt;
  return entries_.back().prefix;
}

Status DeleteCheckpointFiles(Env* env, const std::string& prefix) {
  const std::string dir(Dirname(prefix));
  const std::string base(Basename(prefix));
  ASSIGN_OR_RETURN(std::vector<std::string> children, env->GetChildren(dir.empty() ? "." : dir));
  Status first;
  auto remove = [&](const std::string& name) {
    Status s = env->DeleteFile(JoinPath(dir, name));
    if (!s.ok() && !IsNotFoundError(s) && first.ok()) first = s;
  };
  // The index goes first: without it nothing treats the rest as a checkpoint.
  remove(base + ".index");
  const std::string data_prefix = base + ".data-";
  for (const std::string& c : children) {
    const bool data = c.size() == data_prefix.size() + 14 &&
                      c.compare(0, data_prefix.size(), data_prefix) == 0 &&
                      c.compare(data_prefix.size() + 5, 4, "-of-") == 0;
    if (data) remove(c);
  }
  remove(base + ".meta");
  return first;
}

}  // namespace psflow
