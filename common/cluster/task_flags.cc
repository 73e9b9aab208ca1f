#include "common/cluster/task_flags.h"

#include <cstdlib>

namespace psflow {

std::string TaskName(const TaskId& t) { return StrCat(t.type, ":", t.index); }

StatusOr<TaskSetup> LoadTaskSetup(const TaskFlags& flags, const std::string& default_type) {
  const std::string& config = flags.config;
  const std::string& type = flags.type;
  const int64_t index = flags.index;
  const std::vector<std::string>& sets = flags.sets;
  if (config.empty()) return InvalidArgumentError("--config is required");
  TaskSetup t;
  ASSIGN_OR_RETURN(t.job, LoadJobConfig(config, sets));
  t.task.type = default_type;
  t.task.index = 0;
  bool tf_config = false;
  if (const char* tf = std::getenv("TF_CONFIG"); tf != nullptr && *tf != '\0') {
    ASSIGN_OR_RETURN(t.task, ParseTfConfig(tf, &t.job.cluster));
    tf_config = true;
  }
  if (!type.empty()) t.task.type = type;
  if (index >= 0) t.task.index = index;
  RETURN_IF_ERROR(ValidateTask(t.job.cluster, t.task)
                      .WithContext(tf_config ? StrCat("TF_CONFIG (with job file ", config, ")") : StrCat("job file ", config)));
  const auto* job = t.job.cluster.Job(t.task.type);
  if (job != nullptr && t.task.index < static_cast<int64_t>(job->size())) t.address = (*job)[static_cast<size_t>(t.task.index)];
  t.token = t.job.run.token;
  if (t.token.empty()) {
    if (const char* env = std::getenv("PSFLOW_CLUSTER_TOKEN")) t.token = env;
  }
  return t;
}

}  // namespace psflow
