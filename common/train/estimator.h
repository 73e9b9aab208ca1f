// Estimator-style training in one process: a model_fn builds the graph for
// a mode, input functions stream batches, and train / evaluate / predict
// run it with TensorFlow Estimator's conventions (model_dir, checkpoint
// schedule with saves at start and end, resume, hooks).
//
//   Estimator est(DnnClassifierFn(), params, {.model_dir = "/tmp/m", .save_checkpoints_steps = 1000});
//   RETURN_IF_ERROR(est.Train([&] { return TrainInput(); }, /*max_steps=*/6000));
//   ASSIGN_OR_RETURN(EvalResult r, est.Evaluate([&] { return TestInput(); }));
//   r.metrics["accuracy"], r.global_step
//
// Input functions return a Dataset of batches: every element holds the
// feature tensors (batch dimension first) and a "label" tensor.
// Not thread-safe: one Estimator per thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/data/dataset.h"
#include "common/runtime/session.h"
#include "common/ops/apply.h"
#include "common/train/hooks.h"
#include "common/train/feature_column_spec.h"
#include "common/train/metrics.h"
#include "common/train/run_config.h"

namespace psflow {

enum class Mode { kTrain, kEval, kPredict };
std::string_view ModeName(Mode m);  // "train", "eval", "infer"

struct OptimizerConfig {
  std::string type = "adam";
  apply::Hyper hyper{.lr = 0.001f};
  float initial_accumulator_value = 0.1f;  // adagrad and ftrl on the parameter servers
};

// Parameters of the canned models (and free-form ones for a user's model_fn).
struct ModelParams {
  std::vector<int64_t> hidden_units = {256, 128};
  int64_t n_classes = 10;
  std::string activation = "relu";
  float dropout = 0.f;
  OptimizerConfig optimizer;
  // Trainable variables whose names start with one of these scopes (the
  // first that matches) use its optimizer instead of `optimizer`, as
  // dnn_linear_combined_classifier's linear_optimizer ("linear/") and
  // dnn_optimizer ("dnn/").
  std::vector<std::pair<std::string, OptimizerConfig>> scoped_optimizers;
  // Feature columns (ResolveFeatureColumns'd) and which of them feed the
  // canned models: linear_classifier and dnn_classifier take `linear` /
  // `dnn` (empty: every column no other column wraps);
  // dnn_linear_combined_classifier both.  No columns: the feature "x".
  std::vector<FeatureColumnSpec> feature_columns;
  std::vector<std::string> linear_feature_columns, dnn_feature_columns;
  std::map<std::string, std::string> extra;
};



struct EstimatorSpec {
  Output loss;                                  // train and eval
  Node* train_op = nullptr;                     // train
  std::map<std::string, Output> predictions;    // predict (and eval metrics)
  std::map<std::string, metrics::Metric> eval_metric_ops;  // eval
};

using Features = std::map<std::string, Output>;
using ModelFn = std::function<StatusOr<EstimatorSpec>(const Scope& scope, const Features& features,
                                                      Output labels, Mode mode, const ModelParams& params)>;
using InputFn = std::function<StatusOr<std::unique_ptr<Dataset>>()>;

// The canned classifiers' head, for model_fns (and plugins) that bring their
// own body.  Logits [batch, n_classes]: predictions logits, probabilities,
// class_ids; the sparse softmax cross-entropy loss; accuracy in eval.
// Logits [batch, 1] (TensorFlow's binary head, what the canned models build
// for n_classes 2): predictions logits, logistic, probabilities [batch, 2],
// class_ids (logistic > 0.5); the sigmoid cross-entropy loss; accuracy and
// AUC in eval.  Both: the train_op of the params' optimizers (one
// gradient computation, then each scoped group's updates) in train.
StatusOr<EstimatorSpec> ClassifierHead(const Scope& s, Output logits, Output labels, Mode mode, const ModelParams& p);

// Canned model_fns, with TensorFlow's variable names.  Without feature
// columns they read the feature "x", float [batch, 784] (cnn: also
// [batch, 28, 28, 1]).  n_classes 2: one logit (the binary head).
ModelFn DnnClassifierFn();     // hidden_units, activation, dropout; dnn/input_from_feature_columns/input_layer/...,
                               // dnn/hiddenlayer_k, dnn/logits
ModelFn LinearClassifierFn();  // linear/linear_model (x) or linear/linear_model/<column>/weights, .../bias_weights
ModelFn CnnClassifierFn();     // conv 32 5x5, pool, conv 64 5x5, pool, dense 1024, dropout, logits
// Wide & deep: the linear model's logits plus the DNN's (both as above).
ModelFn DnnLinearCombinedClassifierFn();
// "dnn_classifier", "linear_classifier", "cnn_classifier", "dnn_linear_combined_classifier".
StatusOr<ModelFn> CannedModelFn(const std::string& type);

// How an Estimator runs, besides its RunConfig.
struct EstimatorOptions {
  // Non-null: train, evaluate and predict run their kernels on this GPU (the
  // variables live there; checkpoints and frozen graphs copy them to the
  // host).  Null: the CPU.
  GpuDevice* gpu = nullptr;
  int num_shards = 1;  // data files per checkpoint (as a job with this many PS tasks writes)
  Env* env = Env::Default();  // model_dir's file system: checkpoints, events, profiles, exports
};

struct EvalResult {
  int64_t global_step = 0;
  std::string checkpoint;  // the checkpoint evaluated ("" if none: initial values)
  std::map<std::string, float> metrics;  // "loss", "accuracy", ...
};

// The graph a model_fn builds for one mode, with a placeholder per input
// tensor shaped like the first batch (batch dimension unknown).  Shared by
// the Estimator and the distributed trainer.
struct ModelGraph {
  std::unique_ptr<Graph> graph = std::make_unique<Graph>();
  std::map<std::string, Output> inputs;  // feature name (and "label") -> placeholder
  EstimatorSpec spec;
  Variable* global_step = nullptr;
};
StatusOr<ModelGraph> BuildModelGraph(const ModelFn& fn, const ModelParams& params, Mode mode, const Example& first,
                                     std::optional<int64_t> seed);
// Feeds a batch to the graph's placeholders.
FeedList FeedsFor(const ModelGraph& m, const Example& batch);

class Estimator {
 public:
  Estimator(ModelFn model_fn, ModelParams params, RunConfig config, EstimatorOptions options = {});

  // Trains until global_step reaches max_steps (or the input ends), resuming
  // from model_dir's latest checkpoint.  The hooks of common/train/hooks.h
  // run as config asks (StopAtStep, Logging, CheckpointSaver, SummarySaver
  // into model_dir's events file, Profiler into model_dir/profile), then
  // `hooks`.
  Status Train(const InputFn& input_fn, int64_t max_steps, std::vector<std::unique_ptr<SessionRunHook>> hooks = {});
  // Estimator.train(steps=N): N more steps from where model_dir stands.
  Status TrainSteps(const InputFn& input_fn, int64_t steps, std::vector<std::unique_ptr<SessionRunHook>> hooks = {});
  // Evaluates a checkpoint (default: the latest in model_dir) over `steps`
  // batches, or the whole input when steps is empty.
  StatusOr<EvalResult> Evaluate(const InputFn& input_fn, std::optional<int64_t> steps = std::nullopt,
                                const std::string& checkpoint = "");
  // Writes the predict graph of `checkpoint` (default: the latest) with its
  // variables frozen into constants to `path` (a binary GraphDef that runs
  // without a checkpoint); its inputs are shaped like `sample_batch`.
  // Returns the output node names (the predictions).
  StatusOr<std::vector<std::string>> ExportFrozenGraph(const Example& sample_batch, const std::string& checkpoint,
                                                       const std::string& path);
  // Writes the SavedModel (common/train/saved_model.h) of `checkpoint`
  // (default: the latest) to a new directory export_dir_base/<unix seconds>
  // and returns it: tag "serve", signature "serving_default" with the
  // features as inputs and the predictions (logits, probabilities,
  // class_ids, and classes as strings) as outputs.
  StatusOr<std::string> ExportSavedModel(const Example& sample_batch, const std::string& checkpoint,
                                         const std::string& export_dir_base);
  // Runs the predictions of every batch of the input.
  StatusOr<std::vector<std::map<std::string, Tensor>>> Predict(const InputFn& input_fn,
                                                               const std::string& checkpoint = "");

  const RunConfig& config() const { return config_; }

 private:
  const ModelFn model_fn_;
  const ModelParams params_;
  const RunConfig config_;
  const EstimatorOptions options_;
};

}  // namespace psflow
