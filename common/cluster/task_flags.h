// The command line every psflow task binary shares:
//
//   psflow-worker --config job.yaml --task_type worker --task_index 1 [--set run.train_steps=100 ...]
//
// TF_CONFIG in the environment (as Kubeflow's TFJob sets it) supplies the
// cluster and the task when present; --task_type/--task_index win over it.
// The cluster token comes from run.token or PSFLOW_CLUSTER_TOKEN.
#pragma once

#include <string>
#include <vector>

#include "common/cluster/job_config.h"

namespace psflow {

struct TaskSetup {
  JobConfig job;
  TaskId task;
  std::string address;  // this task's host:port (empty for an evaluator outside the cluster)
  std::string token;
};

// The flags every task binary takes (common/distributed/task_main.cc parses
// them).
struct TaskFlags {
  std::string config;              // --config job.yaml
  std::string type;                // --task_type; empty: TF_CONFIG's, else the binary's role
  int64_t index = -1;              // --task_index; -1: TF_CONFIG's, else 0
  std::vector<std::string> sets;   // --set key.path=value
};

// The job file with the --set overrides, TF_CONFIG when it is set, and the
// task: `default_type` is the binary's role.  InvalidArgument naming the
// file, the key or TF_CONFIG.
StatusOr<TaskSetup> LoadTaskSetup(const TaskFlags& flags, const std::string& default_type);

// "ps:1"
std::string TaskName(const TaskId& t);

}  // namespace psflow
