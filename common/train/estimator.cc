#include "common/train/estimator.h"

#include <algorithm>
#include <cmath>

#include "common/checkpoint/checkpoint_state.h"
#include "common/checkpoint/tensor_bundle.h"
#include "common/core/logging.h"
#include "common/ops/graph_io.h"
#include "common/ops/ops.h"
#include "common/train/feature_column.h"
#include "common/train/layers.h"
#include "common/train/optimizer.h"
#include "common/summary/event_writer.h"
#include "common/train/saved_model.h"
#include "common/train/saver.h"

namespace psflow {
namespace {

// A Saver over every global variable of the graph, as an explicit list:
// evaluation graphs lack optimizer slots, whose checkpoint keys are ignored.
StatusOr<std::unique_ptr<Saver>> ModelSaver(const Graph& g, bool explicit_list, const RunConfig& c,
                                            const EstimatorOptions& e) {
  // Training restores strictly: model_dir's checkpoints must be this model's.
  SaverOptions o{.max_to_keep = static_cast<int>(c.keep_checkpoint_max),
                 .keep_checkpoint_every_n_hours = c.keep_checkpoint_every_n_hours,
                 .num_shards = e.num_shards,
                 .strict = !explicit_list,
                 .env = e.env};
  if (explicit_list) {
    std::map<std::string, const Variable*> vars;
    for (const Variable* v : g.VariablesInCollection(collections::kGlobalVariables)) vars[v->name] = v;
    o.var_list = vars;
  }
  return Saver::Create(&g, o);
}

// Runs the variables' initializer for `sess`.  On the CPU whatever the
// session's device, so that a seeded model starts from the same values on
// any machine (the GPU's random streams differ from the CPU's); the values
// are copied to the session's GPU in one batch.
Status RunInitializer(const Graph& g, Session* sess, Node* init) {
  std::vector<Tensor> out;
  if (sess->gpu() == nullptr) return sess->Run({}, {}, {init}, &out);
  Session cpu(&g);
  RETURN_IF_ERROR(cpu.Run({}, {}, {init}, &out));
  std::map<std::string, Tensor> values;
  for (const std::string& name : cpu.variables()->Names()) {
    ASSIGN_OR_RETURN(values[name], cpu.variables()->Read(name));
  }
  return sess->AssignVariables(values);
}

StatusOr<std::string> CheckpointToUse(const RunConfig& c, Env* env, const std::string& explicit_path) {
  if (!explicit_path.empty()) return explicit_path;
  ASSIGN_OR_RETURN(std::optional<std::string> latest, LatestCheckpoint(env, c.model_dir));
  return latest ? *latest : std::string();
}

}  // namespace

namespace {

// The predict graph shaped like `batch`, in a session with `checkpoint`
// (default: model_dir's latest) restored; `what` names the use in the error.
struct RestoredGraph {
  ModelGraph b;
  std::unique_ptr<Session> sess;
};
StatusOr<RestoredGraph> RestoredPredictGraph(const ModelFn& fn, const ModelParams& params, const RunConfig& config,
                                             const EstimatorOptions& options, const Example& batch,
                                             const std::string& checkpoint, const char* what) {
  RestoredGraph r;
  ASSIGN_OR_RETURN(r.b, BuildModelGraph(fn, params, Mode::kPredict, batch, config.tf_random_seed));
  r.sess = std::make_unique<Session>(r.b.graph.get(), SessionOptions{.gpu = options.gpu});
  ASSIGN_OR_RETURN(std::string ckpt, CheckpointToUse(config, options.env, checkpoint));
  if (ckpt.empty()) return FailedPreconditionError("no checkpoint in ", config.model_dir, " to ", what, "; train first");
  ASSIGN_OR_RETURN(auto saver, ModelSaver(*r.b.graph, true, config, options));
  RETURN_IF_ERROR(saver->Restore(r.sess.get(), ckpt));
  return r;
}

}  // namespace

StatusOr<ModelGraph> BuildModelGraph(const ModelFn& fn, const ModelParams& params, Mode mode, const Example& first,
                                     std::optional<int64_t> seed) {
  ModelGraph b;
  if (seed) b.graph->set_seed(*seed);
  Scope root(b.graph.get());
  ASSIGN_OR_RETURN(b.global_step, GetOrCreateGlobalStep(root));
  Features features;
  Output labels;
  for (const auto& [name, t] : first) {
    std::vector<int64_t> dims = t.shape().dims();
    if (dims.empty()) return InvalidArgumentError("input feature '", name, "' is a scalar; batch the input");
    dims[0] = kUnknownDim;
    Output ph = ops::Placeholder(root, t.dtype(), PartialShape(dims), name);
    b.inputs[name] = ph;
    if (name == "label") labels = ph;
    else features[name] = ph;
  }
  if (mode != Mode::kPredict && !labels.valid()) {
    return InvalidArgumentError("the input has no \"label\" tensor, needed to ", ModeName(mode));
  }
  ASSIGN_OR_RETURN(b.spec, fn(root, features, labels, mode, params));
  RETURN_IF_ERROR(root.status());
  if (mode != Mode::kPredict && !b.spec.loss.valid()) return InvalidArgumentError("model_fn returned no loss");
  if (mode == Mode::kTrain && b.spec.train_op == nullptr) return InvalidArgumentError("model_fn returned no train_op");
  // TensorFlow's Estimator keeps the train op in GraphKeys.TRAIN_OP: tools
  // that import the .meta find it there.
  if (mode == Mode::kTrain) b.graph->AddToCollection("train_op", b.spec.train_op);
  return b;
}

FeedList FeedsFor(const ModelGraph& b, const Example& batch) {
  FeedList feeds;
  for (const auto& [name, ph] : b.inputs) {
    auto it = batch.find(name);
    if (it != batch.end()) feeds.emplace_back(ph, it->second);
  }
  return feeds;
}

std::string_view ModeName(Mode m) {
  switch (m) {
    case Mode::kTrain: return "train";
    case Mode::kEval: return "eval";
    case Mode::kPredict: return "infer";
  }
  return "?";
}

Estimator::Estimator(ModelFn model_fn, ModelParams params, RunConfig config, EstimatorOptions options)
    : model_fn_(std::move(model_fn)), params_(std::move(params)), config_(std::move(config)), options_(options) {}

Status Estimator::Train(const InputFn& input_fn, int64_t max_steps,
                        std::vector<std::unique_ptr<SessionRunHook>> user_hooks) {
  RETURN_IF_ERROR(config_.Check());
  ASSIGN_OR_RETURN(std::unique_ptr<Dataset> data, input_fn());
  Example batch;
  ASSIGN_OR_RETURN(bool have, data->Next(&batch));
  if (!have) return InvalidArgumentError("the training input produced no data");
  ASSIGN_OR_RETURN(ModelGraph b, BuildModelGraph(model_fn_, params_, Mode::kTrain, batch, config_.tf_random_seed));
  for (const Variable* v : b.graph->VariablesInCollection(collections::kTrainableVariables)) {
    if (v->embedding != nullptr) {
      // Rows of a dynamic table are created by the PS tasks as ids come; a
      // local session only reads what a checkpoint holds.
      return FailedPreconditionError(
          "the model has a dynamic embedding table (", v->embedding->base,
          ", from a categorical_column_with_embedding), which trains on parameter servers only: run the job with "
          "psflow-launch (ps tasks in the cluster); the Estimator evaluates, predicts and exports from its checkpoints");
    }
  }
  Scope root(b.graph.get());
  std::vector<Node*> train_deps = {b.spec.train_op};
  for (const auto& item : b.graph->GetCollection(collections::kUpdateOps)) {
    if (const auto* n = std::get_if<Node*>(&item)) train_deps.push_back(*n);
  }
  Node* train = ops::Group(root, train_deps, "train_op_with_updates");
  Node* init = GlobalVariablesInitializer(root);
  Node* local_init = LocalVariablesInitializer(root);
  RETURN_IF_ERROR(root.status());
  ASSIGN_OR_RETURN(auto saver, ModelSaver(*b.graph, false, config_, options_));
  Session sess(b.graph.get(), {.gpu = options_.gpu});
  std::vector<Tensor> out;
  ASSIGN_OR_RETURN(std::optional<std::string> latest, LatestCheckpoint(options_.env, config_.model_dir));
  if (latest) {
    RETURN_IF_ERROR(saver->Restore(&sess, *latest));
    LOG(INFO) << "Restoring parameters from " << *latest;
  } else {
    RETURN_IF_ERROR(RunInitializer(*b.graph, &sess, init));
  }
  RETURN_IF_ERROR(sess.Run({}, {}, {local_init}, &out));
  RETURN_IF_ERROR(sess.Run({}, {b.global_step->value}, &out));
  int64_t step = out[0].flat<int64_t>()[0];
  if (step >= max_steps) {
    LOG(INFO) << "Skipping training since max_steps (" << max_steps << ") has already been reached (global_step "
              << step << ")";
    return OkStatus();
  }
  std::unique_ptr<EventWriter> events;
  if (config_.save_summary_steps > 0) {
    ASSIGN_OR_RETURN(events, EventWriter::Create(options_.env, config_.model_dir));
  }
  HookList hooks;
  hooks.Add(StopAtStepHook(max_steps));
  hooks.Add(LoggingHook(config_.log_step_count_steps));
  if (events) hooks.Add(SummarySaverHook(events.get(), config_.save_summary_steps, params_.optimizer.hyper.lr));
  auto save = [&](int64_t s) { return saver->Save(&sess, config_.model_dir, s); };
  hooks.Add(CheckpointSaverHook(config_, save, events.get()));
  if (config_.profile_steps > 0) {
    hooks.Add(ProfilerHook(config_.profile_steps, options_.env, JoinPath(config_.model_dir, "profile"), "estimator"));
  }
  hooks.Add(std::move(user_hooks));
  bool stop = false;
  RETURN_IF_ERROR(hooks.Begin(step, &stop));
  std::vector<TraceEvent> trace;
  for (int64_t local = 1; !stop; ++local) {
    const StepRequest request = hooks.BeforeRun(local);
    if (request.trace) {
      trace.clear();
      sess.TraceNextRun(&trace);
    }
    RETURN_IF_ERROR(sess.Run(FeedsFor(b, batch), {b.spec.loss}, {train}, &out));
    StepInfo info{.global_step = ++step, .local_step = local, .loss = out[0].flat<float>()[0],
                  .batch_size = batch.begin()->second.shape().dim(0), .trace = request.trace ? &trace : nullptr};
    RETURN_IF_ERROR(hooks.AfterRun(info, &stop));
    if (stop) break;
    ASSIGN_OR_RETURN(have, data->Next(&batch));
    if (!have) {
      LOG(INFO) << "the training input is exhausted at step " << step;
      break;
    }
  }
  return hooks.End(step);
}

Status Estimator::TrainSteps(const InputFn& input_fn, int64_t steps, std::vector<std::unique_ptr<SessionRunHook>> hooks) {
  if (steps <= 0) return InvalidArgumentError("steps must be > 0, got ", steps);
  int64_t start = 0;
  ASSIGN_OR_RETURN(std::optional<std::string> latest, LatestCheckpoint(options_.env, config_.model_dir));
  if (latest) {
    ASSIGN_OR_RETURN(auto reader, BundleReader::Open(options_.env, *latest));
    ASSIGN_OR_RETURN(Tensor gs, reader->Lookup("global_step"));
    if (gs.dtype() != DType::kInt64 || gs.num_elements() != 1) {
      return InvalidArgumentError("global_step in ", *latest, " is not an int64 scalar");
    }
    start = gs.flat<int64_t>()[0];
  }
  return Train(input_fn, start + steps, std::move(hooks));
}

StatusOr<EvalResult> Estimator::Evaluate(const InputFn& input_fn, std::optional<int64_t> steps,
                                         const std::string& checkpoint) {
  ASSIGN_OR_RETURN(std::unique_ptr<Dataset> data, input_fn());
  Example batch;
  ASSIGN_OR_RETURN(bool have, data->Next(&batch));
  if (!have) return InvalidArgumentError("the evaluation input produced no data");
  ASSIGN_OR_RETURN(ModelGraph b, BuildModelGraph(model_fn_, params_, Mode::kEval, batch, config_.tf_random_seed));
  Scope root(b.graph.get());
  ASSIGN_OR_RETURN(metrics::Metric loss, metrics::Mean(root, b.spec.loss, "mean_loss"));
  std::map<std::string, metrics::Metric> ms = b.spec.eval_metric_ops;
  ms["loss"] = loss;
  Node* init = GlobalVariablesInitializer(root);
  Node* local_init = LocalVariablesInitializer(root);
  RETURN_IF_ERROR(root.status());
  Session sess(b.graph.get(), {.gpu = options_.gpu});
  std::vector<Tensor> out;
  EvalResult result;
  ASSIGN_OR_RETURN(result.checkpoint, CheckpointToUse(config_, options_.env, checkpoint));
  if (result.checkpoint.empty()) {
    LOG(WARNING) << "Could not find trained model in model_dir: " << config_.model_dir
                 << ", running initialization to evaluate.";
    RETURN_IF_ERROR(RunInitializer(*b.graph, &sess, init));
  } else {
    ASSIGN_OR_RETURN(auto saver, ModelSaver(*b.graph, true, config_, options_));
    RETURN_IF_ERROR(saver->Restore(&sess, result.checkpoint));
  }
  RETURN_IF_ERROR(sess.Run({}, {}, {local_init}, &out));
  std::vector<Node*> updates;
  for (const auto& [name, m] : ms) updates.push_back(m.update);
  int64_t n = 0;
  while (have && (!steps || n < *steps)) {
    RETURN_IF_ERROR(sess.Run(FeedsFor(b, batch), {}, updates, &out));
    ++n;
    ASSIGN_OR_RETURN(have, data->Next(&batch));
  }
  std::vector<Output> values;
  for (const auto& [name, m] : ms) values.push_back(m.value);
  values.push_back(b.global_step->value);
  RETURN_IF_ERROR(sess.Run({}, values, &out));
  size_t i = 0;
  for (const auto& [name, m] : ms) result.metrics[name] = out[i++].flat<float>()[0];
  result.global_step = out.back().flat<int64_t>()[0];
  return result;
}

StatusOr<std::vector<std::map<std::string, Tensor>>> Estimator::Predict(const InputFn& input_fn,
                                                                        const std::string& checkpoint) {
  ASSIGN_OR_RETURN(std::unique_ptr<Dataset> data, input_fn());
  Example batch;
  ASSIGN_OR_RETURN(bool have, data->Next(&batch));
  std::vector<std::map<std::string, Tensor>> result;
  if (!have) return result;
  ASSIGN_OR_RETURN(RestoredGraph r,
                   RestoredPredictGraph(model_fn_, params_, config_, options_, batch, checkpoint, "predict with"));
  const ModelGraph& b = r.b;
  Session& sess = *r.sess;
  std::vector<std::string> names;
  std::vector<Output> fetches;
  for (const auto& [name, o] : b.spec.predictions) {
    names.push_back(name);
    fetches.push_back(o);
  }
  std::vector<Tensor> out;
  while (have) {
    RETURN_IF_ERROR(sess.Run(FeedsFor(b, batch), fetches, &out));
    std::map<std::string, Tensor> p;
    for (size_t i = 0; i < names.size(); ++i) p[names[i]] = out[i];
    result.push_back(std::move(p));
    ASSIGN_OR_RETURN(have, data->Next(&batch));
  }
  return result;
}

StatusOr<std::vector<std::string>> Estimator::ExportFrozenGraph(const Example& sample_batch, const std::string& checkpoint,
                                                              const std::string& path) {
  ASSIGN_OR_RETURN(RestoredGraph r,
                   RestoredPredictGraph(model_fn_, params_, config_, options_, sample_batch, checkpoint, "export"));
  std::vector<std::string> outputs;
  for (const auto& [name, o] : r.b.spec.predictions) outputs.push_back(o.node->name());
  ASSIGN_OR_RETURN(tensorflow::GraphDef frozen, FreezeGraph(*r.b.graph, r.sess->variables(), outputs));
  RETURN_IF_ERROR(WriteBinaryProto(options_.env, path, frozen));
  return outputs;
}

StatusOr<std::string> Estimator::ExportSavedModel(const Example& sample_batch, const std::string& checkpoint,
                                                 const std::string& export_dir_base) {
  ASSIGN_OR_RETURN(RestoredGraph r,
                   RestoredPredictGraph(model_fn_, params_, config_, options_, sample_batch, checkpoint, "export"));
  const ModelGraph& b = r.b;
  SignatureSpec sig;
  for (const auto& [name, ph] : b.inputs) {
    if (name != "label") sig.inputs[name] = ph;
  }
  sig.outputs = b.spec.predictions;
  if (auto ids = b.spec.predictions.find("class_ids"); ids != b.spec.predictions.end() && !sig.outputs.count("classes")) {
    // TensorFlow's canned heads serve the class as a string too.
    Scope head = Scope(b.graph.get()).NameScope("head/");
    sig.outputs["classes"] = ops::AsString(head, ids->second, "classes");
    RETURN_IF_ERROR(head.status());
  }
  RETURN_IF_ERROR(options_.env->CreateDirs(export_dir_base));
  // A new directory per export, named by time as TensorFlow's exporters do.
  int64_t stamp = static_cast<int64_t>(options_.env->NowMicros() / 1000000);
  while (options_.env->FileExists(JoinPath(export_dir_base, StrCat(stamp)))) ++stamp;
  const std::string dir = JoinPath(export_dir_base, StrCat(stamp));
  RETURN_IF_ERROR(WriteSavedModel(options_.env, *b.graph, r.sess->variables(), sig, dir));
  return dir;
}

// ---------------------------------------------------------------------------
// Canned models.

namespace {

// Minimizes the loss: one gradient computation over every trainable
// variable, then each optimizer's updates of its variables; global_step
// incremented once, after all of them.
StatusOr<Node*> MinimizeLoss(const Scope& s, Output loss, const ModelParams& p) {
  const Graph* g = s.graph();
  std::vector<const Variable*> vars = g->VariablesInCollection(collections::kTrainableVariables);
  if (vars.empty()) return InvalidArgumentError("No variables to optimize.");
  const Variable* step = g->FindVariable("global_step");
  if (p.scoped_optimizers.empty()) {
    ASSIGN_OR_RETURN(auto opt, Optimizer::Create(p.optimizer.type, p.optimizer.hyper));
    return opt->Minimize(s, loss, step);
  }
  std::vector<Output> xs;
  for (const Variable* v : vars) xs.push_back(v->value);
  std::vector<Gradient> grads;
  RETURN_IF_ERROR(AddSparseGradients(s, {loss}, xs, &grads));
  // Groups in scoped_optimizers' order, then the unscoped variables.
  std::vector<std::vector<std::pair<Gradient, const Variable*>>> groups(p.scoped_optimizers.size() + 1);
  for (size_t i = 0; i < vars.size(); ++i) {
    if (!grads[i].valid()) continue;
    size_t k = 0;
    while (k < p.scoped_optimizers.size() && vars[i]->name.rfind(p.scoped_optimizers[k].first, 0) != 0) ++k;
    groups[k].emplace_back(grads[i], vars[i]);
  }
  std::vector<Node*> updates;
  for (size_t k = 0; k < groups.size(); ++k) {
    if (groups[k].empty()) continue;
    const OptimizerConfig& c = k < p.scoped_optimizers.size() ? p.scoped_optimizers[k].second : p.optimizer;
    ASSIGN_OR_RETURN(auto opt, Optimizer::Create(c.type, c.hyper));
    ASSIGN_OR_RETURN(Node* u, opt->ApplyGradients(s, groups[k]));
    updates.push_back(u);
  }
  if (updates.empty()) {
    return InvalidArgumentError("No gradients provided for any variable: the loss ", loss.name(),
                                " does not depend on the variables to optimize");
  }
  Node* applied = ops::Group(s, updates, "train_updates");
  if (step == nullptr) return applied;
  const Scope gs = s.WithControlDependencies({applied});
  Output inc = ops::AssignAdd(gs, step->ref, ops::Const(gs, Tensor::Scalar<int64_t>(1)), "global_step_inc");
  return ops::Group(s, {inc.node}, "train_op");
}

}  // namespace

StatusOr<EstimatorSpec> ClassifierHead(const Scope& s, Output logits, Output labels, Mode mode,
                                       const ModelParams& p) {
  EstimatorSpec spec;
  const Scope head = s.NameScope("head");
  const bool binary = !logits.shape().unknown_rank() && logits.shape().rank() == 2 && logits.shape().dim(1) == 1;
  Output scores;  // the positive class's probability (binary)
  if (binary) {
    Output logistic = ops::Sigmoid(head, logits, "logistic");
    Output probs = ops::Concat(head, {ops::Sub(head, ops::OnesLike(head, logistic), logistic), logistic}, 1, "probabilities");
    Output class_ids = ops::Reshape(head, ops::Cast(head, ops::Greater(head, logits, ops::ZerosLike(head, logits)), DType::kInt64),
                                    {-1}, "class_ids");
    spec.predictions = {{"logits", logits}, {"logistic", logistic}, {"probabilities", probs}, {"class_ids", class_ids}};
    scores = ops::Reshape(head, logistic, {-1});
  } else {
    Output class_ids = ops::ArgMax(head, logits, 1, "class_ids");
    Output probs = ops::Softmax(head, logits, "probabilities");
    spec.predictions = {{"logits", logits}, {"probabilities", probs}, {"class_ids", class_ids}};
    if (p.n_classes == 2) scores = ops::Reshape(head, ops::Slice(head, probs, {0, 1}, {-1, 1}), {-1});
  }
  if (mode == Mode::kPredict) return spec;
  Output int_labels = labels.dtype() == DType::kInt64 || labels.dtype() == DType::kInt32
                          ? labels
                          : ops::Cast(head, labels, DType::kInt64);
  if (!int_labels.shape().unknown_rank() && int_labels.shape().rank() == 2) int_labels = ops::Reshape(head, int_labels, {-1});
  if (binary) {
    spec.loss = losses::SigmoidCrossEntropy(s, ops::Reshape(head, ops::Cast(head, int_labels, DType::kFloat), {-1, 1}), logits);
  } else {
    spec.loss = losses::SparseSoftmaxCrossEntropy(s, int_labels, logits);
  }
  if (mode == Mode::kEval) {
    ASSIGN_OR_RETURN(spec.eval_metric_ops["accuracy"], metrics::Accuracy(s, int_labels, spec.predictions.at("class_ids")));
    if (scores.valid()) {
      ASSIGN_OR_RETURN(spec.eval_metric_ops["auc"], metrics::AUC(s, int_labels, scores));
    }
    return spec;
  }
  ASSIGN_OR_RETURN(spec.train_op, MinimizeLoss(s, spec.loss, p));
  return spec;
}

namespace {

StatusOr<Output> Features2D(const Scope& s, const Features& f) {
  auto it = f.find("x");
  if (it == f.end()) {
    return InvalidArgumentError("the canned models read a feature named \"x\" unless model.feature_columns are declared");
  }
  Output x = it->second;
  if (x.dtype() != DType::kFloat) x = ops::Cast(s, x, DType::kFloat);
  if (!x.shape().unknown_rank() && x.shape().rank() > 2) x = layers::Flatten(s, x);
  return x;
}

int64_t LogitsWidth(const ModelParams& p) { return p.n_classes == 2 ? 1 : p.n_classes; }

std::vector<std::string> ColumnsOr(const std::vector<std::string>& names, const ModelParams& p) {
  return names.empty() ? RootFeatureColumns(p.feature_columns) : names;
}

// dnn/: input_from_feature_columns/input_layer (or "x"), hidden layers, logits.
StatusOr<Output> DnnLogits(const Scope& s, const Features& f, Mode mode, const ModelParams& p) {
  const Scope dnn = s.VariableScope("dnn");
  Output h;
  if (p.feature_columns.empty()) {
    ASSIGN_OR_RETURN(h, Features2D(s, f));
  } else {
    ASSIGN_OR_RETURN(h, InputLayer(dnn.VariableScope("input_from_feature_columns"), p.feature_columns, f,
                                   ColumnsOr(p.dnn_feature_columns, p)));
  }
  for (size_t i = 0; i < p.hidden_units.size(); ++i) {
    ASSIGN_OR_RETURN(h, layers::Dense(dnn, h, p.hidden_units[i],
                                      layers::DenseOptions{.activation = p.activation, .name = StrCat("hiddenlayer_", i)}));
    h = layers::Dropout(dnn, h, p.dropout, mode == Mode::kTrain);
  }
  return layers::Dense(dnn, h, LogitsWidth(p), layers::DenseOptions{.name = "logits"});
}

StatusOr<Output> LinearLogits(const Scope& s, const Features& f, const ModelParams& p) {
  const Scope linear = s.VariableScope("linear");
  if (!p.feature_columns.empty()) {
    return LinearModel(linear, p.feature_columns, f, ColumnsOr(p.linear_feature_columns, p), LogitsWidth(p));
  }
  ASSIGN_OR_RETURN(Output x, Features2D(s, f));
  return layers::Dense(linear, x, LogitsWidth(p), layers::DenseOptions{.name = "linear_model"});
}

}  // namespace

ModelFn DnnClassifierFn() {
  return [](const Scope& s, const Features& f, Output labels, Mode mode, const ModelParams& p)
             -> StatusOr<EstimatorSpec> {
    ASSIGN_OR_RETURN(Output logits, DnnLogits(s, f, mode, p));
    return ClassifierHead(s, logits, labels, mode, p);
  };
}

ModelFn LinearClassifierFn() {
  return [](const Scope& s, const Features& f, Output labels, Mode mode, const ModelParams& p)
             -> StatusOr<EstimatorSpec> {
    ASSIGN_OR_RETURN(Output logits, LinearLogits(s, f, p));
    return ClassifierHead(s, logits, labels, mode, p);
  };
}

ModelFn DnnLinearCombinedClassifierFn() {
  return [](const Scope& s, const Features& f, Output labels, Mode mode, const ModelParams& p)
             -> StatusOr<EstimatorSpec> {
    if (p.feature_columns.empty() || p.linear_feature_columns.empty() || p.dnn_feature_columns.empty()) {
      return InvalidArgumentError("dnn_linear_combined_classifier needs feature columns and both "
                                  "linear_feature_columns and dnn_feature_columns");
    }
    ASSIGN_OR_RETURN(Output dnn, DnnLogits(s, f, mode, p));
    ASSIGN_OR_RETURN(Output linear, LinearLogits(s, f, p));
    Output logits = ops::Add(s.NameScope("add"), dnn, linear, "logits");
    return ClassifierHead(s, logits, labels, mode, p);
  };
}

ModelFn CnnClassifierFn() {
  return [](const Scope& s, const Features& f, Output labels, Mode mode, const ModelParams& p)
             -> StatusOr<EstimatorSpec> {
    auto it = f.find("x");
    if (it == f.end()) return InvalidArgumentError("cnn_classifier reads a feature named \"x\"");
    Output x = it->second;
    if (!x.shape().unknown_rank() && x.shape().rank() == 2) {
      const int64_t side = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(x.shape().dim(1)))));
      if (side * side != x.shape().dim(1)) {
        return InvalidArgumentError("cnn_classifier needs square images; got ", x.shape().dim(1), " features");
      }
      x = ops::Reshape(s, x, {-1, side, side, 1});
    }
    const Scope cnn = s.VariableScope("cnn");
    ASSIGN_OR_RETURN(Output c1, layers::Conv2D(cnn, x, 32, 5, 5, {.padding = "same", .activation = "relu"}));
    Output p1 = layers::MaxPooling2D(cnn, c1, 2, 2);
    ASSIGN_OR_RETURN(Output c2, layers::Conv2D(cnn, p1, 64, 5, 5, {.padding = "same", .activation = "relu"}));
    Output p2 = layers::MaxPooling2D(cnn, c2, 2, 2);
    const int64_t dense_units = p.hidden_units.empty() ? 1024 : p.hidden_units[0];
    ASSIGN_OR_RETURN(Output d, layers::Dense(cnn, layers::Flatten(cnn, p2), dense_units, "relu"));
    d = layers::Dropout(cnn, d, p.dropout, mode == Mode::kTrain);
    ASSIGN_OR_RETURN(Output logits, layers::Dense(cnn, d, LogitsWidth(p), layers::DenseOptions{.name = "logits"}));
    return ClassifierHead(s, logits, labels, mode, p);
  };
}

StatusOr<ModelFn> CannedModelFn(const std::string& type) {
  if (type == "dnn_classifier") return DnnClassifierFn();
  if (type == "linear_classifier") return LinearClassifierFn();
  if (type == "cnn_classifier") return CnnClassifierFn();
  if (type == "dnn_linear_combined_classifier") return DnnLinearCombinedClassifierFn();
  return InvalidArgumentError("unknown model type '", type,
                              "'; choose dnn_classifier, linear_classifier, dnn_linear_combined_classifier or "
                              "cnn_classifier, or name a model_fn plugin");
}

}  // namespace psflow
