#include "common/distributed/job_model.h"

#include <iostream>

#include "common/core/logging.h"
#include "common/distributed/task_main.h"
#include "common/train/model_plugin.h"

namespace psflow {

StatusOr<ModelFn> ModelFnFor(const ModelSpec& m) {
  return m.type == "plugin" ? LoadModelFnPlugin(m.plugin_library, m.plugin_symbol) : CannedModelFn(m.type);
}

ModelParams ParamsFrom(const ModelSpec& m) {
  ModelParams p;
  p.hidden_units = m.hidden_units;
  p.n_classes = m.n_classes;
  p.activation = m.activation;
  p.dropout = m.dropout;
  auto config = [](const OptimizerSpec& o) {
    return OptimizerConfig{.type = o.type, .hyper = HyperFrom(o), .initial_accumulator_value = o.initial_accumulator_value};
  };
  p.optimizer = config(m.optimizer);
  p.feature_columns = m.feature_columns;
  p.linear_feature_columns = m.linear_feature_columns;
  p.dnn_feature_columns = m.dnn_feature_columns;
  for (const auto& [scope, o] : ScopedOptimizers(m)) p.scoped_optimizers.emplace_back(scope, config(o));
  p.extra = m.params;
  return p;
}

StatusOr<std::vector<GpuDevice*>> TrainerGpus(const DeviceSpec& spec, int64_t shard, int count,
                                              const std::function<StatusOr<GpuDevice*>(int)>& get) {
  std::vector<int64_t> indices;
  switch (spec.kind) {
    case DeviceSpec::kCpu:
      return std::vector<GpuDevice*>();
    case DeviceSpec::kAuto:
      if (count <= 0) return std::vector<GpuDevice*>();
      indices = {shard % count};
      break;
    case DeviceSpec::kGpus:
      indices = spec.gpus;
      break;
  }
  std::vector<GpuDevice*> gpus;
  for (int64_t i : indices) {
    auto g = get(static_cast<int>(i));
    if (!g.ok()) return g.status().WithContext("placing this task on gpu:", i);
    gpus.push_back(*g);
  }
  return gpus;
}

std::optional<std::vector<GpuDevice*>> TaskGpus(const TaskSetup& s, int64_t shard) {
  auto gpus = TrainerGpus(TaskDeviceSpec(s.job.run, s.task), shard, GpuDeviceCount(),
                          [](int i) { return GpuDevice::Get(i); });
  if (gpus.ok()) return std::move(gpus).value();
  const Status st = gpus.status().WithContext("the device of ", TaskName(s.task), " (",
                                              TaskDeviceSource(s.job.run, s.task), ")");
  LOG(ERROR) << st;
  std::cerr << "psflow " << TaskName(s.task) << ": " << st << "\n";
  return std::nullopt;
}

}  // namespace psflow
