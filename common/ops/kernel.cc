#include "common/ops/kernel.h"

#include "common/core/logging.h"

namespace psflow {

KernelRegistry* KernelRegistry::Global() {
  static KernelRegistry* const r = new KernelRegistry();
  return r;
}

void KernelRegistry::Register(const std::string& type, DeviceKind device, KernelFn fn) {
  CHECK(kernels_.emplace(std::make_pair(type, device), std::move(fn)).second)
      << "kernel for " << type << " registered twice";
}

const KernelFn* KernelRegistry::Lookup(std::string_view type, DeviceKind device) const {
  auto it = kernels_.find(std::make_pair(std::string(type), device));
  return it == kernels_.end() ? nullptr : &it->second;
}

}  // namespace psflow

namespace psflow {

std::vector<std::string> KernelRegistry::Types(DeviceKind device) const {
  std::vector<std::string> out;
  for (const auto& [key, fn] : kernels_) {
    if (key.second == device) out.push_back(key.first);
  }
  return out;
}

}  // namespace psflow
