// psflow-export: writes the SavedModel (TensorFlow Serving's format) of a
// job's model from one of its checkpoints, into a new OUT/<unix seconds>/.
//
//   psflow-export /tmp/psflow/fashion_mnist /tmp/exports                   # a model_dir: its latest checkpoint
//   psflow-export /tmp/psflow/fashion_mnist/model.ckpt-2000 /tmp/exports   # one checkpoint
//   psflow-export configs/fashion_mnist.yaml /tmp/exports                  # the latest checkpoint of run.model_dir
//   psflow-export JOB.yaml OUT --checkpoint MODEL_DIR_OR_PREFIX [--set key=value]...
//
// The job gives the model (as the tasks build it) and data.eval one batch
// whose features shape the signature's inputs: a model_dir or a checkpoint
// prefix is read with the job its chief recorded there (model_dir/job.yaml,
// the job file with its --set overrides, without the token).
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "common/checkpoint/checkpoint_state.h"
#include "common/checkpoint/tensor_bundle.h"
#include "common/cluster/cli.h"
#include "common/cluster/job_config.h"
#include "common/core/env.h"
#include "common/core/logging.h"
#include "common/distributed/job_input.h"
#include "common/distributed/job_model.h"
#include "common/train/estimator.h"

namespace psflow {
namespace {

// A model_dir (its latest checkpoint) or a checkpoint prefix.
StatusOr<std::string> CheckpointPrefix(Env* env, const std::string& dir_or_prefix) {
  if (env->FileExists(BundleIndexFilename(dir_or_prefix))) return dir_or_prefix;
  if (env->FileExists(dir_or_prefix)) {
    ASSIGN_OR_RETURN(std::optional<std::string> latest, LatestCheckpoint(env, dir_or_prefix));
    if (latest) return *latest;
    return NotFoundError(dir_or_prefix, " has no checkpoint (no `checkpoint` state file naming one); train first");
  }
  return NotFoundError("--checkpoint ", dir_or_prefix, ": neither a model_dir nor a checkpoint prefix (no ",
                       BundleIndexFilename(dir_or_prefix), ")");
}

// SOURCE as a model_dir or a checkpoint prefix: the job recorded in that
// model_dir and the checkpoint to export; nullopt for a job file.
using JobAndCheckpoint = std::optional<std::pair<std::string, std::string>>;
StatusOr<JobAndCheckpoint> RecordedJob(Env* env, const std::string& source) {
  std::string model_dir;
  if (env->FileExists(BundleIndexFilename(source))) {
    model_dir = std::string(Dirname(source));
  } else if (env->FileExists(JoinPath(source, kRecordedJobFile)) || env->FileExists(JoinPath(source, "checkpoint"))) {
    model_dir = source;
  } else {
    return JobAndCheckpoint();
  }
  const std::string job = JoinPath(model_dir.empty() ? "." : model_dir, kRecordedJobFile);
  if (!env->FileExists(job)) {
    return NotFoundError(source, " is a model_dir or a checkpoint of one, but ", job,
                         " is missing (psflow's chief records the job there; an older run did not): give the job "
                         "file instead, psflow-export JOB.yaml OUT --checkpoint ", source);
  }
  return JobAndCheckpoint(std::make_pair(job, source));
}

Status Run(const std::string& source, const std::vector<std::string>& sets, std::string checkpoint,
           const std::string& out) {
  ASSIGN_OR_RETURN(auto recorded, RecordedJob(Env::Default(), source));
  const std::string job_path = recorded ? recorded->first : source;
  if (recorded && checkpoint.empty()) checkpoint = recorded->second;
  ASSIGN_OR_RETURN(JobConfig job, LoadJobConfig(job_path, sets));
  ASSIGN_OR_RETURN(ModelFn fn, ModelFnFor(job.model));
  ASSIGN_OR_RETURN(std::string prefix,
                   CheckpointPrefix(Env::Default(), checkpoint.empty() ? job.run.model_dir : checkpoint));
  // One batch of data.eval shapes the signature's inputs.
  auto data = EvalInput(job)();
  if (!data.ok()) return data.status().WithContext(job_path, ": data.eval (psflow-export reads one batch of it)");
  Example sample;
  ASSIGN_OR_RETURN(bool have, (*data)->Next(&sample));
  if (!have) return InvalidArgumentError(job_path, ": data.eval holds no example");
  Estimator est(fn, ParamsFrom(job.model), RunConfig{.model_dir = job.run.model_dir});
  ASSIGN_OR_RETURN(std::string dir, est.ExportSavedModel(sample, prefix, out));
  std::printf("SavedModel of %s in %s\n", prefix.c_str(), dir.c_str());
  return OkStatus();
}

}  // namespace
}  // namespace psflow

int main(int argc, char** argv) {
  psflow::SetLogIdentity("export", 0);
  std::string job, out, checkpoint;
  std::vector<std::string> sets;
  CLI::App app("psflow-export: writes the SavedModel (TensorFlow Serving's format) of a job's model from a checkpoint\n"
               "into a new OUT/<unix seconds>/",
               "psflow-export");
  app.add_option("SOURCE", job,
                 "a model_dir or a checkpoint prefix (read with the job its chief recorded, model_dir/job.yaml), "
                 "or the job file the model was trained with; required");
  app.add_option("OUT", out, "the export base directory; required");
  app.add_option("--checkpoint", checkpoint, "a model_dir (its latest checkpoint) or a checkpoint prefix; default: run.model_dir");
  app.add_option("--set", sets, "KEY.PATH=VALUE: overrides one key of the job file (repeatable)")
      ->expected(1)->allow_extra_args(false)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  if (auto exit = psflow::ParseCommandLine(app, argc, argv)) return *exit;
  if (job.empty()) return psflow::MissingArgument(app, "SOURCE");
  if (out.empty()) return psflow::MissingArgument(app, "OUT");
  psflow::Status s = psflow::Run(job, sets, checkpoint, out);
  if (!s.ok()) {
    std::cerr << "psflow-export: " << s << "\n";
    return 1;
  }
  return 0;
}
