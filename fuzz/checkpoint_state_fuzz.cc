// The `checkpoint` state file (text CheckpointState) on arbitrary bytes, as
// a restarted job reads it to find where to resume: parse it, pick the latest
// checkpoint, list the candidates.
#include <cstdint>

#include "common/checkpoint/checkpoint_state.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace psflow;
  fuzz::MemEnv env;
  env.files["dir/checkpoint"] = std::string(reinterpret_cast<const char*>(data), size);
  env.files["dir/model.ckpt-5.index"] = "";
  auto st = GetCheckpointState(&env, "dir");
  (void)st;
  auto latest = LatestCheckpoint(&env, "dir");
  (void)latest;
  return 0;
}
