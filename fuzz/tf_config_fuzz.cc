// TF_CONFIG (the JSON Kubeflow's TFJob puts in each task's environment) on
// arbitrary bytes, over a job file's cluster.
#include <cstdint>

#include "common/cluster/job_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace psflow;
  ClusterSpec cluster;
  cluster.ps = {"127.0.0.1:2222"};
  cluster.chief = {"127.0.0.1:2223"};
  auto task = ParseTfConfig(std::string(reinterpret_cast<const char*>(data), size), &cluster);
  if (task.ok()) {
    auto valid = ValidateTask(cluster, *task);
    (void)valid;
  }
  return 0;
}
