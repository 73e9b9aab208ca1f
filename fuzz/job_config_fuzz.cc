// The job-file loader on arbitrary YAML and --set overrides: input =
// [u32 YAML length][YAML][overrides, one KEY.PATH=VALUE per line].  Every
// bad file is an error naming the field, never a crash.
#include <cstdint>
#include <sstream>

#include "common/cluster/job_config.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace psflow;
  const auto parts = fuzz::SplitParts(data, size, 2);
  std::vector<std::string> overrides;
  std::istringstream lines(parts[1]);
  for (std::string line; std::getline(lines, line) && overrides.size() < 8;) overrides.push_back(line);
  auto job = ParseJobConfig(parts[0], "fuzz.yaml", overrides);
  if (job.ok()) {
    for (const auto& [scope, o] : ScopedOptimizers(job->model)) (void)scope;
  }
  return 0;
}
