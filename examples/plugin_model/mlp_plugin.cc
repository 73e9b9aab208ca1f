// An example model_fn plugin: a multilayer perceptron whose depth and width
// come from model.params, under its own variable names.
//
//   model:
//     type: plugin
//     plugin: {library: path/to/libpsflow_mlp_plugin.so}   # symbol: psflow_model_fn
//     params: {depth: "2", width: "64"}
//
// Build it like this file's CMakeLists.txt does, or by hand:
//   c++ -std=c++20 -O2 -shared -fPIC -I<psflow source> -I<psflow build> -I/usr/include/eigen3
//       mlp_plugin.cc -o libmy_model.so     (one command line)
#include <string>

#include "common/core/strcat.h"
#include "common/train/layers.h"
#include "common/train/model_plugin.h"

namespace {

int64_t Param(const psflow::ModelParams& p, const std::string& key, int64_t fallback) {
  auto it = p.extra.find(key);
  return it == p.extra.end() ? fallback : std::stoll(it->second);
}

psflow::StatusOr<psflow::EstimatorSpec> Mlp(const psflow::Scope& scope, const psflow::Features& features,
                                            psflow::Output labels, psflow::Mode mode, const psflow::ModelParams& params) {
  auto x = features.find("x");
  if (x == features.end()) return psflow::InvalidArgumentError("the mlp plugin reads a feature named \"x\"");
  psflow::Output h = x->second;
  if (h.shape().rank() > 2) h = psflow::layers::Flatten(scope, h);
  const psflow::Scope mlp = scope.VariableScope("plugin_mlp");
  const int64_t depth = Param(params, "depth", 2), width = Param(params, "width", 64);
  for (int64_t i = 0; i < depth; ++i) {
    ASSIGN_OR_RETURN(h, psflow::layers::Dense(mlp, h, width,
                                              psflow::layers::DenseOptions{.activation = "relu",
                                                                           .name = psflow::StrCat("layer_", i)}));
  }
  ASSIGN_OR_RETURN(psflow::Output logits,
                   psflow::layers::Dense(mlp, h, params.n_classes, psflow::layers::DenseOptions{.name = "logits"}));
  return psflow::ClassifierHead(scope, logits, labels, mode, params);
}

}  // namespace

PSFLOW_MODEL_FN(Mlp)
