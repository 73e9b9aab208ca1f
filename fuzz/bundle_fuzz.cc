// The tensor bundle reader (a checkpoint's .index and .data, TensorFlow's V2
// format) on arbitrary files: input = [u32 index length][.index][.data].
// Open, list, and read every entry whole; a corrupt or lying file is an
// error, never a crash or an allocation the data file cannot back.
#include <cstdint>

#include "common/checkpoint/tensor_bundle.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace psflow;
  const auto parts = fuzz::SplitParts(data, size, 2);
  fuzz::MemEnv env;
  env.files["ckpt/model.ckpt-1.index"] = parts[0];
  env.files["ckpt/model.ckpt-1.data-00000-of-00001"] = parts[1];
  auto reader = BundleReader::Open(&env, "ckpt/model.ckpt-1");
  if (!reader.ok()) return 0;
  for (const std::string& key : (*reader)->Keys()) {
    auto t = (*reader)->Lookup(key);
    (void)t;
  }
  return 0;
}
