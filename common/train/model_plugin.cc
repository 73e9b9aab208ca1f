#include "common/train/model_plugin.h"

#include <dlfcn.h>

#include "common/core/logging.h"

namespace psflow {

StatusOr<ModelFn> LoadModelFnPlugin(const std::string& library, const std::string& symbol) {
  if (library.empty()) return InvalidArgumentError("model.plugin.library is empty; name the plugin's .so file");
  void* handle = ::dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = ::dlerror();
    return FailedPreconditionError("cannot load model plugin ", library, ": ", why ? why : "unknown error",
                                   ". Check model.plugin.library (relative paths are relative to the job file) and "
                                   "that the plugin was built against this psflow (undefined symbols mean it uses "
                                   "something this binary does not have)");
  }
  auto* version = reinterpret_cast<int (*)()>(::dlsym(handle, (symbol + "_abi_version").c_str()));
  auto* fn = reinterpret_cast<void (*)(ModelFn*)>(::dlsym(handle, symbol.c_str()));
  if (fn == nullptr || version == nullptr) {
    ::dlclose(handle);
    return NotFoundError("model plugin ", library, " does not export ", symbol,
                         " (set model.plugin.symbol, and define it with PSFLOW_MODEL_FN_NAMED(", symbol, ", your_fn))");
  }
  if (version() != PSFLOW_PLUGIN_ABI_VERSION) {
    const int v = version();
    ::dlclose(handle);
    return FailedPreconditionError("model plugin ", library, " was built for plugin ABI ", v, ", this psflow has ",
                                   PSFLOW_PLUGIN_ABI_VERSION, "; rebuild the plugin against this psflow");
  }
  ModelFn out;
  fn(&out);
  if (!out) return InvalidArgumentError("model plugin ", library, ": ", symbol, " returned an empty model_fn");
  LOG(INFO) << "model_fn " << symbol << " loaded from " << library;
  return out;
}

}  // namespace psflow
