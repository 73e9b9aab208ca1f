// The IDX reader (MNIST's format, gzip or not) on arbitrary files.
#include <cstdint>

#include "common/data/idx.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static psflow::fuzz::ScratchFile file(".idx");
  auto a = psflow::ReadIdxFile(file.Write(data, size));
  (void)a;
  return 0;
}
