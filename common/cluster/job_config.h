// The job file: one YAML file describing a whole psflow job (cluster, model,
// data, run, eval), parsed once into a validated struct that every binary
// shares.  `--set a.b=c` overrides any key; TF_CONFIG (JSON, as Kubeflow's
// TFJob sets it) may supply the cluster and the task.
//
//   ASSIGN_OR_RETURN(JobConfig job, LoadJobConfig("configs/fashion_mnist.yaml", {"run.train_steps=100"}));
//   job.cluster.ps.size(), job.run.model_dir, job.model.hidden_units ...
//   ASSIGN_OR_RETURN(TaskId task, ParseTfConfig(getenv("TF_CONFIG"), &job.cluster));
//
// Unknown keys, wrong types and missing values are errors naming the file,
// the line and the key.  Thread-safe (pure functions).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/core/status.h"
#include "common/train/feature_column_spec.h"
#include "common/train/run_config.h"

namespace psflow {

struct ClusterSpec {
  std::vector<std::string> ps, chief, worker, evaluator;  // host:port per task
  const std::vector<std::string>* Job(const std::string& type) const;
};

struct OptimizerSpec {
  std::string type = "adam";
  float learning_rate = 0.001f;
  float momentum = 0.9f;
  bool use_nesterov = false;
  float beta1 = 0.9f, beta2 = 0.999f, epsilon = 1e-8f;
  float initial_accumulator_value = 0.1f;
  float decay = 0.9f;  // rmsprop rho
  float l1 = 0, l2 = 0;
};

struct ModelSpec {
  // or linear_classifier, dnn_linear_combined_classifier, cnn_classifier, plugin
  std::string type = "dnn_classifier";
  std::vector<int64_t> hidden_units = {256, 128};
  int64_t n_classes = 10;
  std::string activation = "relu";
  float dropout = 0;
  OptimizerSpec optimizer;
  // Feature columns (resolved: default names filled in, references checked);
  // a `key` (or source_column / categorical_column) given as a list declares
  // one column per entry.  Empty: the canned models read the feature "x".
  std::vector<FeatureColumnSpec> feature_columns;
  std::vector<std::string> linear_feature_columns, dnn_feature_columns;  // column names
  // dnn_linear_combined_classifier: the linear/ and dnn/ variables'
  // optimizers (absent: TensorFlow's FTRL and Adagrad defaults).
  std::optional<OptimizerSpec> linear_optimizer, dnn_optimizer;
  std::string plugin_library;  // model.plugin.library: a shared library with a model_fn
  std::string plugin_symbol = "psflow_model_fn";
  std::map<std::string, std::string> params;  // model.params: free-form, for plugins
};

struct FeatureSpec {
  std::string dtype = "float";  // float, int64 or string
  std::vector<int64_t> shape;   // empty: a scalar
  // tf.io.VarLenFeature: any number of values per example, parsed into a
  // SparseTensor ("<name>/indices", "/values", "/dense_shape"); no shape.
  bool var_len = false;
};

struct InputSpec {
  std::string format = "idx";  // idx, csv, tfrecord
  std::string images, labels;  // idx
  std::vector<std::string> files;  // csv, tfrecord
  std::string label = "label";     // csv, tfrecord: the label column or feature
  std::vector<std::string> columns;  // csv: column names; empty: the header line's
  bool header = true;                // csv: the first line names the columns
  std::map<std::string, FeatureSpec> features;  // tfrecord: the features to parse (label included)
};

struct DataSpec {
  InputSpec train, eval;
  int64_t batch_size = 128;
  int64_t shuffle_buffer = 10000;
};

struct SyncSpec {
  int64_t replicas_to_aggregate = 0;
  int64_t total_num_replicas = 0;
};

// How variables are spread over the PS tasks (see PlaceVariables).
struct PlacementSpec {
  std::string strategy = "greedy";  // or round_robin
  int64_t partitions = 0;       // > 0: split every variable of rank >= 2 into this many row parts
  int64_t min_slice_bytes = 0;  // > 0: parts of at least this many bytes ...
  int64_t max_partitions = 0;   // ... at most this many (0: the number of PS tasks)
};

// Estimator's WarmStartSettings: when model_dir has no checkpoint, the
// trainable variables matching `vars` start from checkpoint `from` (a
// prefix or a directory with a `checkpoint` file) instead of their
// initializers; optimizer slots and global_step start fresh.
struct WarmStartSpec {
  std::string from;
  std::string vars = ".*";                          // vars_to_warm_start (a regex, full match)
  std::map<std::string, std::string> prev_names;    // var_name_to_prev_var_name
};

// The job file's `run:` section: RunConfig's keys (model_dir, the
// checkpoint, summary, log and profile schedules, tf_random_seed; one
// definition, one set of defaults) and the job's own.
struct RunSpec : RunConfig {
  int64_t train_steps = 0;
  std::optional<SyncSpec> sync;  // absent: asynchronous training
  std::string token;             // cluster token (or PSFLOW_CLUSTER_TOKEN)
  // A PS refuses to listen on a non-loopback address without a token or
  // TLS unless this is set (TensorFlow's servers are open to anyone;
  // psflow's are not).
  bool insecure = false;
  // TLS on every connection, mutually authenticated (common/rpc/rpc.h): PEM
  // files, relative paths from the job file's folder; all three or none.
  struct Tls {
    std::string ca, cert, key;
    bool enabled() const { return !ca.empty(); }
  } tls;
  PlacementSpec placement;
  std::optional<WarmStartSpec> warm_start;
  // Where the trainers (chief, workers) run their steps: "auto" (a GPU when
  // this machine has one and psflow was built with CUDA, else the CPU),
  // "cpu", or "gpu:N" ("gpu" = "gpu:0").
  std::string device = "auto";
  // Several GPU indices: each trainer replicates its step over them (batch
  // split, gradients all-reduced with NCCL, one push).  Overrides device.
  std::vector<int64_t> gpus;
  // Per task ("worker:1") or task type ("chief"): a device string as above,
  // or a list "gpu:0,1" of GPUs to replicate over.  Overrides both.
  std::map<std::string, std::string> task_devices;
};

struct EvalSpec {
  double start_delay_secs = 120;
  double throttle_secs = 600;
  std::optional<int64_t> steps;  // absent: the whole eval set
  bool every_checkpoint = false;  // evaluate every checkpoint, not only the latest
  std::string early_stopping_metric;  // e.g. "loss" or "accuracy"; empty: no early stopping
  bool early_stopping_higher_is_better = false;
  int64_t early_stopping_patience = 0;  // stop after this many evaluations without improvement
  std::string best_metric = "loss";     // export/best keeps the checkpoint best by this metric
  bool best_higher_is_better = false;
  // The evaluator gives up (an error naming what it waited for) when no new
  // checkpoint has come for this long before the final one; 0: never.
  // Absent: 4 x run.save_checkpoints_secs, at least an hour (4 hours when
  // checkpoints go by steps).
  std::optional<double> timeout_secs;
};

// How psflow-launch runs the job.
struct LaunchSpec {
  std::string bin_dir;              // where the psflow-* binaries are on every host; empty: next to psflow-launch
  std::string ssh = "ssh";          // the command that reaches other hosts
  int64_t worker_restarts = 3;      // per worker; then the job goes on without it
  double restart_backoff_secs = 2;  // doubles with each restart, at most 60 s
  int64_t job_restarts = 3;         // after a PS task or the chief fails: the job restarts from its latest checkpoint
  // A failed PS task: "job" restarts the whole job from its latest
  // checkpoint (TensorFlow's way); "task" (asynchronous jobs) restarts only
  // that task, which the chief restores from the latest checkpoint while
  // the other tasks keep their state and the trainers wait for it.
  std::string ps_recovery = "job";
  double status_secs = 5;           // how often the status line is refreshed
  double finish_timeout_secs = 120; // after the chief is done, how long the evaluator may take to finish
  std::string image = "psflow:latest";  // --emit k8s: the container image
  // --emit k8s / slurm: GPUs each trainer's pod or srun asks for; -1:
  // run.gpus' count, else 1 when run.device names a GPU, else 0.
  int64_t gpus_per_trainer = -1;
};

struct JobConfig {
  std::string source;  // the file it came from
  // The job as parsed, --set overrides applied and run.token left out: what
  // the chief records as <model_dir>/job.yaml (psflow-export reads it).
  std::string resolved_yaml;
  ClusterSpec cluster;
  ModelSpec model;
  DataSpec data;
  RunSpec run;
  EvalSpec eval;
  LaunchSpec launch;
};

// The optimizers of variable scopes that differ from model.optimizer:
// for dnn_linear_combined_classifier, "linear/" (model.linear_optimizer,
// else TensorFlow's default FTRL at min(0.2, 1/sqrt(#linear columns))) and
// "dnn/" (model.dnn_optimizer, else Adagrad at 0.05); none otherwise.
// Trainers build their graphs and PS tasks apply updates with these.
std::vector<std::pair<std::string, OptimizerSpec>> ScopedOptimizers(const ModelSpec& model);

// Parses YAML text (`source` names it in errors), applying `overrides`
// ("a.b=c", the value parsed as YAML) before validation.
StatusOr<JobConfig> ParseJobConfig(const std::string& yaml, const std::string& source,
                                   const std::vector<std::string>& overrides = {});
StatusOr<JobConfig> LoadJobConfig(const std::string& path, const std::vector<std::string>& overrides = {});
// The file the chief writes into model_dir: job.resolved_yaml.
inline constexpr char kRecordedJobFile[] = "job.yaml";

struct TaskId {
  std::string type;  // ps, chief, worker, evaluator
  int64_t index = 0;
};

// A task's device, from "auto", "cpu", "gpu", "gpu:N" or "gpu:N,M,...".
struct DeviceSpec {
  enum Kind { kAuto, kCpu, kGpus } kind = kAuto;
  std::vector<int64_t> gpus;  // kGpus: one (a single GPU) or several (replicas)
};
StatusOr<DeviceSpec> ParseDeviceSpec(const std::string& spec);
// The device of a chief, worker or evaluator: run.task_devices, else
// run.gpus, else run.device (all validated by the parser).  An evaluator
// runs on one GPU at most (the first of run.gpus).
DeviceSpec TaskDeviceSpec(const RunSpec& run, const TaskId& task);
// Where TaskDeviceSpec found it, for messages: run.task_devices["worker:1"],
// run.task_devices["worker"], run.gpus or run.device.
std::string TaskDeviceSource(const RunSpec& run, const TaskId& task);
// The GPUs a trainer's scheduler request should hold (launch.gpus_per_trainer).
int64_t GpusPerTrainer(const JobConfig& job);
// The GPUs the scheduler request of `task` should hold: a trainer's as
// above (or its own run.task_devices entry), the evaluator's one when it
// runs on a GPU (under auto: when the trainers do), none for a PS task.
int64_t GpusForTask(const JobConfig& job, const TaskId& task);

// TF_CONFIG: {"cluster": {...}, "task": {"type": ..., "index": ...}}.  Its
// cluster, when present, replaces *cluster (an "evaluator" job is allowed in
// it, as Kubeflow sets it; dynamic-worker maps {"0": "h:p"} are accepted;
// a "master" job or task type is the chief, as in TensorFlow's Estimator)
// after the job file's checks (host:port, ports 1..65535, one chief, no
// address twice).  Every error starts with "TF_CONFIG".
StatusOr<TaskId> ParseTfConfig(const std::string& json, ClusterSpec* cluster);
// "host:port" -> (host, port); InvalidArgument naming the address unless the
// host is not empty and the port is a number in 1..65535.
StatusOr<std::pair<std::string, int>> ParseHostPort(const std::string& address);
// Checks that `task` exists in `cluster` (the evaluator may be outside it).
Status ValidateTask(const ClusterSpec& cluster, const TaskId& task);

}  // namespace psflow
