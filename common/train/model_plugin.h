// A user's model_fn compiled into a shared library and named in the job file
// (model.type: plugin, model.plugin.library, model.plugin.symbol).
//
// In the plugin (see examples/plugin_model):
//
//   #include "common/train/model_plugin.h"
//   StatusOr<psflow::EstimatorSpec> MyModel(const psflow::Scope& scope, const psflow::Features& features,
//                                           psflow::Output labels, psflow::Mode mode,
//                                           const psflow::ModelParams& params) { ... }
//   PSFLOW_MODEL_FN(MyModel)                  // exports the symbol psflow_model_fn
//   PSFLOW_MODEL_FN_NAMED(my_other, Other)    // or under another name (model.plugin.symbol)
//
// Build it with -shared -fPIC against the same psflow sources (it is not
// linked with psflow's libraries: the psflow binaries that load it export
// them).  The binary checks the plugin's ABI version before using it.
//
// In psflow:
//   ASSIGN_OR_RETURN(ModelFn fn, LoadModelFnPlugin("/path/libmy_model.so", "psflow_model_fn"));
#pragma once

#include <string>

#include "common/train/estimator.h"

// Bumped whenever ModelFn, EstimatorSpec, Scope or ModelParams change layout.
#define PSFLOW_PLUGIN_ABI_VERSION 1

#define PSFLOW_MODEL_FN_NAMED(symbol, fn)                                             \
  extern "C" __attribute__((visibility("default"))) int symbol##_abi_version() {     \
    return PSFLOW_PLUGIN_ABI_VERSION;                                                 \
  }                                                                                   \
  extern "C" __attribute__((visibility("default"))) void symbol(::psflow::ModelFn* out) { *out = (fn); }

#define PSFLOW_MODEL_FN(fn) PSFLOW_MODEL_FN_NAMED(psflow_model_fn, fn)

namespace psflow {

// Opens `library` (dlopen) and returns the model_fn its `symbol` exports.
// Errors say which file or symbol is wrong and what to do.  The library
// stays loaded for the life of the process.  Thread-safe.
StatusOr<ModelFn> LoadModelFnPlugin(const std::string& library, const std::string& symbol = "psflow_model_fn");

}  // namespace psflow
