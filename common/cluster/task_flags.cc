#include "common/cluster/task_flags.h"

#include <cstdlib>

namespace psflow {

std::string TaskName(const TaskId& t) { return StrCat(t.type, ":", t.index); }

StatusOr<TaskSetup> ParseTaskFlags(int argc, char** argv, const std::string& default_type) {
  std::string config, type;
  int64_t index = -1;
  std::vector<std::string> sets;
  const std::string usage = StrCat("usage: ", argc > 0 ? argv[0] : "psflow-task",
                                   " --config job.yaml [--task_type T] [--task_index I] [--set key.path=value ...]");
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i], v;
    const size_t eq = a.find('=');
    std::string key = a;
    bool inline_value = false;
    if (a.rfind("--", 0) == 0 && eq != std::string::npos) {
      key = a.substr(0, eq);
      v = a.substr(eq + 1);
      inline_value = true;
    }
    auto value = [&]() -> StatusOr<std::string> {
      if (inline_value) return v;
      if (i + 1 >= argc) return InvalidArgumentError("flag ", key, " needs a value; ", usage);
      return std::string(argv[++i]);
    };
    if (key == "--config") {
      ASSIGN_OR_RETURN(config, value());
    } else if (key == "--task_type") {
      ASSIGN_OR_RETURN(type, value());
    } else if (key == "--task_index") {
      ASSIGN_OR_RETURN(std::string s, value());
      try {
        index = std::stoll(s);
      } catch (...) {
        return InvalidArgumentError("--task_index '", s, "' is not an integer");
      }
    } else if (key == "--set") {
      ASSIGN_OR_RETURN(std::string s, value());
      sets.push_back(s);
    } else {
      return InvalidArgumentError("unknown flag '", a, "'; ", usage);
    }
  }
  if (config.empty()) return InvalidArgumentError("--config is required; ", usage);
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
