// The CSV reader on arbitrary files: a float, an int64 and a string column
// (the string with a default), every row read.
#include <cstdint>

#include "common/data/dataset.h"
#include "fuzz/drain.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace psflow;
  static fuzz::ScratchFile file(".csv");
  CsvOptions o;
  o.columns = {{.name = "x", .dtype = DType::kFloat},
               {.name = "label", .dtype = DType::kInt64},
               {.name = "tag", .dtype = DType::kString, .default_value = "none"}};
  auto ds = CsvDataset(file.Write(data, size), o);
  fuzz::Drain(ds);
  return 0;
}
