// What trainers and the evaluator take from the job file to build their
// model and place it: the model_fn (canned or a plugin), its parameters,
// and the task's GPUs.
//
//   ASSIGN_OR_RETURN(ModelFn fn, ModelFnFor(job.model));
//   ModelParams params = ParamsFrom(job.model);
//
// Thread-safe (plugins are loaded once per library).
#pragma once

#include <optional>
#include <vector>

#include "common/cluster/task_flags.h"
#include "common/gpu/gpu_device.h"
#include "common/train/estimator.h"

namespace psflow {

StatusOr<ModelFn> ModelFnFor(const ModelSpec& model);
ModelParams ParamsFrom(const ModelSpec& model);

// The GPUs of a training task for `spec` (run.device, run.gpus,
// run.task_devices): cpu -> none; gpu:N[,M...] -> those, each from get(i);
// auto -> gpu:(shard % count) when this machine has count > 0 GPUs (the
// chief is shard 0, worker k shard k + 1, so local trainers spread over
// the GPUs; the evaluator passes the trainer count), else none.
StatusOr<std::vector<GpuDevice*>> TrainerGpus(const DeviceSpec& spec, int64_t shard, int count,
                                              const std::function<StatusOr<GpuDevice*>(int)>& get);

// The GPUs of a chief, worker or evaluator (TrainerGpus; `shard` spreads
// auto over the machine's GPUs), or nullopt after reporting a missing one.
std::optional<std::vector<GpuDevice*>> TaskGpus(const TaskSetup& setup, int64_t shard);

}  // namespace psflow
