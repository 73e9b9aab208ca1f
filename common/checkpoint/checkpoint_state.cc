#include "common/checkpoint/checkpoint_state.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <algorithm>

#include "common/checkpoint/tensor_bundle.h"
#include "common/core/logging.h"

namespace psflow {
namespace {

std::string Relativize(const std::string& path, const std::string& dir) {
  std::string d = dir;
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  if (!d.empty() && path.size() > d.size() + 1 && path.compare(0, d.size(), d) == 0 &&
      path[d.size()] == '/') {
    return path.substr(d.size() + 1);
  }
  return path;
}

}  // namespace

StatusOr<std::optional<tensorflow::CheckpointState>> GetCheckpointState(
    Env* env, const std::string& dir, const std::string& latest_filename) {
  const std::string path = JoinPath(dir, latest_filename);
  if (!env->FileExists(path)) return std::optional<tensorflow::CheckpointState>();
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(env, path));
  tensorflow::CheckpointState state;
  class Collector : public google::protobuf::io::ErrorCollector {
   public:
    void AddError(int line, int column, const std::string& message) override {
      if (first.empty()) first = StrCat("line ", line + 1, " column ", column + 1, ": ", message);
    }
    std::string first;
  } errors;
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text, &state)) {
    return DataLossError("checkpoint state file ", path,
                         " is not a valid CheckpointState text proto (", errors.first,
                         "); fix it (one "
                         "`model_checkpoint_path: \"model.ckpt-N\"` line is enough) or delete it "
                         "to start without a checkpoint");
  }
  if (state.model_checkpoint_path().empty()) {
    return InvalidArgumentError("Invalid checkpoint state loaded from ", dir, " (", path,
                                " has no model_checkpoint_path)");
  }
  state.set_model_checkpoint_path(JoinPath(dir, state.model_checkpoint_path()));
  for (auto& p : *state.mutable_all_model_checkpoint_paths()) p = JoinPath(dir, p);
  return std::optional<tensorflow::CheckpointState>(std::move(state));
}

Status CheckpointComplete(Env* env, const std::string& prefix) {
  if (!env->FileExists(BundleIndexFilename(prefix)) && env->FileExists(prefix)) return OkStatus();  // V1
  return CheckBundleFiles(env, prefix);
}

int64_t CheckpointStep(std::string_view prefix) {
  const size_t dash = prefix.rfind('-');
  if (dash == std::string_view::npos || dash + 1 == prefix.size() || prefix.size() - dash > 19) return -1;
  int64_t n = 0;
  for (char c : prefix.substr(dash + 1)) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  return n;
}

StatusOr<std::vector<std::string>> FindCheckpointsInDir(Env* env, const std::string& dir, const std::string& basename) {
  std::vector<std::pair<int64_t, std::string>> found;
  if (env->FileExists(dir)) {
    ASSIGN_OR_RETURN(std::vector<std::string> children, env->GetChildren(dir));
    constexpr std::string_view kIndex = ".index";
    const std::string head = basename + "-";
    for (const std::string& c : children) {
      if (c.size() <= head.size() + kIndex.size() || c.compare(0, head.size(), head) != 0 ||
          c.compare(c.size() - kIndex.size(), kIndex.size(), kIndex) != 0) {
        continue;
      }
      const std::string prefix = c.substr(0, c.size() - kIndex.size());
      const int64_t step = CheckpointStep(prefix);
      if (step >= 0 && prefix.size() == head.size() + std::to_string(step).size()) {
        found.emplace_back(step, JoinPath(dir, prefix));
      }
    }
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& [step, p] : found) out.push_back(std::move(p));
  return out;
}

StatusOr<CheckpointCandidates> ListCheckpointCandidates(Env* env, const std::string& dir,
                                                        const std::string& latest_filename) {
  ASSIGN_OR_RETURN(auto state, GetCheckpointState(env, dir, latest_filename));
  CheckpointCandidates c;
  auto add = [&](const std::string& p) {
    if (std::find(c.prefixes.begin(), c.prefixes.end(), p) == c.prefixes.end()) c.prefixes.push_back(p);
  };
  if (state) {
    c.has_state_file = true;
    std::vector<std::string> listed = {state->model_checkpoint_path()};
    const auto& all = state->all_model_checkpoint_paths();
    listed.insert(listed.end(), all.rbegin(), all.rend());
    for (const std::string& p : listed) {
      const std::string here = JoinPath(dir, Basename(p));
      const bool moved = here != p && !env->FileExists(BundleIndexFilename(p)) && !env->FileExists(p) &&
                         env->FileExists(BundleIndexFilename(here));
      add(moved ? here : p);
    }
    c.listed = c.prefixes.size();
  }
  ASSIGN_OR_RETURN(std::vector<std::string> found, FindCheckpointsInDir(env, dir));
  for (auto it = found.rbegin(); it != found.rend(); ++it) add(*it);
  return c;
}

StatusOr<std::optional<std::string>> LatestCheckpoint(Env* env, const std::string& dir,
                                                      const std::string& latest_filename) {
  const std::string state_path = JoinPath(dir, latest_filename);
  ASSIGN_OR_RETURN(CheckpointCandidates c, ListCheckpointCandidates(env, dir, latest_filename));
  if (c.prefixes.empty() && !c.has_state_file) return std::optional<std::string>();
  std::vector<std::string> problems;
  for (size_t i = 0; i < c.prefixes.size(); ++i) {
    const std::string& p = c.prefixes[i];
    const Status complete = CheckpointComplete(env, p);
    if (complete.ok()) {
      const std::string where = i < c.listed ? "the newest complete checkpoint it lists"
                                             : StrCat("the newest complete checkpoint in ", dir);
      if (!c.has_state_file) {
        LOG(WARNING) << dir << " has no `" << latest_filename << "` state file but holds checkpoints; using " << p
                     << ", " << where << " (a trainer writes the state file again at its next save)";
      } else if (!problems.empty()) {
        LOG(WARNING) << "The latest checkpoint named in " << state_path << " cannot be used: " << StrJoin(problems, "; ")
                     << "; using " << p << " instead, " << where << ". To train on from the newer one, stop now "
                     << "and put its files back before training reaches its step again";
      }
      return std::optional<std::string>(p);
    }
    if (!IsNotFoundError(complete) && !IsDataLossError(complete)) {
      return complete.WithContext("cannot tell whether checkpoint ", p, " is complete");
    }
    problems.push_back(StrCat(p, ": ", complete.message()));
  }
  return FailedPreconditionError(
      "no checkpoint in ", dir, " can be restored: ",
      c.has_state_file
          ? StrCat(state_path, " lists ", c.listed,
                   c.prefixes.size() > c.listed ? StrCat(" and the directory holds ", c.prefixes.size() - c.listed, " more") : "")
          : StrCat("there is no `", latest_filename, "` state file and the directory holds ", c.prefixes.size()),
      ", none complete: ", StrJoin(problems, "; "),
      ". psflow does not start from scratch over checkpoints: put the missing files back; or train in another "
      "model_dir; or, to start from scratch here, delete ", c.has_state_file ? StrCat(state_path, " and ") : "",
      "the files of these checkpoints");
}

Status UpdateCheckpointState(Env* env, const std::string& dir, CheckpointStateUpdate u,
                             const std::string& latest_filename) {
  const std::string path = JoinPath(dir, latest_filename);
  if (u.model_checkpoint_path.empty()) {
    return InvalidArgumentError("UpdateCheckpointState: empty model_checkpoint_path for ", path);
  }
  if (u.all_model_checkpoint_paths.empty() ||
      u.all_model_checkpoint_paths.back() != u.model_checkpoint_path) {
    u.all_model_checkpoint_paths.push_back(u.model_checkpoint_path);
  }
  if (!u.all_model_checkpoint_timestamps.empty() &&
      u.all_model_checkpoint_timestamps.size() != u.all_model_checkpoint_paths.size()) {
    return InvalidArgumentError("Checkpoint timestamps, if provided, must match checkpoint paths (",
                                u.all_model_checkpoint_timestamps.size(), " timestamps vs ",
                                u.all_model_checkpoint_paths.size(), " paths) for ", path);
  }
  if (JoinPath(dir, u.model_checkpoint_path) == path) {
    return InvalidArgumentError("Save path '", u.model_checkpoint_path,
                                "' conflicts with path used for checkpoint state");
  }
  tensorflow::CheckpointState state;
  auto fix = [&](const std::string& p) { return u.save_relative_paths ? Relativize(p, dir) : p; };
  state.set_model_checkpoint_path(fix(u.model_checkpoint_path));
  for (const auto& p : u.all_model_checkpoint_paths) state.add_all_model_checkpoint_paths(fix(p));
  for (double t : u.all_model_checkpoint_timestamps) state.add_all_model_checkpoint_timestamps(t);
  state.set_last_preserved_timestamp(u.last_preserved_timestamp);
  std::string text;
  google::protobuf::TextFormat::Printer printer;
  if (!printer.PrintToString(state, &text)) return InternalError("cannot format ", path);
  return WriteStringToFileAtomic(env, path, text).WithContext("writing checkpoint state ", path);
}

}  // namespace psflow
