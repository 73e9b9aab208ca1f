// A job's input pipelines, built from the job file's data section, as the
// chief, the workers and the evaluator read it.
//
//   InputFn train = TrainInput(job, /*shard=*/1, /*num_shards=*/3);   // shuffled, repeated, batched
//   InputFn eval = EvalInput(job);                                     // one pass, in order, batched
//
// Every source yields the features the canned models read: "x" and
// "label".  idx: images as "x" (784 floats in [0, 1]).  csv: every column
// but the label, as floats, packed into "x"; the label column as int64.
// tfrecord: the features of data.*.features, the label renamed "label".
#pragma once

#include <memory>

#include "common/cluster/job_config.h"
#include "common/train/estimator.h"

namespace psflow {

// The unbatched source of one input (all its files, in order).
StatusOr<std::unique_ptr<Dataset>> OpenInput(const InputSpec& spec);

// Training input of shard `shard` of `num_shards` (the chief is shard 0,
// worker k shard k + 1): shuffled with a seed that differs per shard,
// repeated, batched, prefetched.
InputFn TrainInput(const JobConfig& job, int64_t shard, int64_t num_shards);
// Evaluation input: data.eval once, in order, batched.
InputFn EvalInput(const JobConfig& job);

// Whether every file `spec` names can be read (NotFound naming `key`, e.g.
// "data.eval", and the file otherwise): a cheap check before a task
// starts, so that a wrong path is reported as the job file's error.
Status CheckInputFiles(const InputSpec& spec, const std::string& key);

}  // namespace psflow
