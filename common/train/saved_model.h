// SavedModel export and load, in TensorFlow's format: what TensorFlow
// Serving, `saved_model_cli` and `tf.saved_model.load` read.
//
//   DIR/saved_model.pb                     a SavedModel: one meta graph tagged "serve",
//                                          its signatures, TensorFlow's Saver ops
//   DIR/variables/variables.index          the variables (a V2 checkpoint, one shard)
//   DIR/variables/variables.data-00000-of-00001
//
//   RETURN_IF_ERROR(WriteSavedModel(env, graph, sess.variables(), {.inputs = {{"x", x}},
//                                    .outputs = {{"logits", logits}}}, dir));
//   ASSIGN_OR_RETURN(LoadedSavedModel m, LoadSavedModel(env, dir));
//   m.session->Run({{m.inputs.at("x"), batch}}, {m.outputs.at("logits")}, &out);
//
// The graph is written in TensorFlow's ops (common/ops/tf_graph.h).  Errors
// name the directory and what is wrong with it.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "common/core/env.h"
#include "common/graph/graph.h"
#include "common/ops/variable_store.h"
#include "common/runtime/session.h"

namespace psflow {

inline constexpr char kServingTag[] = "serve";
inline constexpr char kDefaultSignature[] = "serving_default";
inline constexpr char kPredictMethod[] = "tensorflow/serving/predict";

struct SignatureSpec {
  std::map<std::string, Output> inputs;   // signature key -> tensor
  std::map<std::string, Output> outputs;
};

// Writes the SavedModel of `graph` (an inference graph) with the current
// values of its global variables.  `dir` must not exist yet: the model is
// written beside it and renamed into place, so a reader never sees half of one.
Status WriteSavedModel(Env* env, const Graph& graph, VariableStore* variables, const SignatureSpec& signature,
                       const std::string& dir);

// Keeps the newest `keep` exports (directories named by unix seconds) under
// export_dir_base and removes the older ones.
Status PruneExports(const std::string& export_dir_base, int keep);

struct LoadedSavedModel {
  std::unique_ptr<Graph> graph;
  std::unique_ptr<Session> session;  // variables restored
  std::map<std::string, Output> inputs, outputs;
  std::string method_name;
};

// Loads the meta graph tagged "serve" of a SavedModel psflow wrote, restores
// its variables and resolves `signature`'s tensors.
StatusOr<LoadedSavedModel> LoadSavedModel(Env* env, const std::string& dir,
                                          const std::string& signature = kDefaultSignature);

}  // namespace psflow
