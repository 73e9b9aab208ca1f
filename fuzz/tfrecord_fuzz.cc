// The TFRecord reader and tf.train.Example parser on arbitrary files: length
// and CRCs, then each record parsed by a spec of var-len features.
#include <cstdint>

#include "common/data/dataset.h"
#include "fuzz/drain.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace psflow;
  static fuzz::ScratchFile file(".tfrecord");
  std::map<std::string, FixedLenFeature> spec;
  // The features of tests/testdata/tf/varlen/examples.tfrecord (the seed).
  spec["ids"] = {.dtype = DType::kInt64, .var_len = true};
  spec["tags"] = {.dtype = DType::kString, .var_len = true};
  spec["w"] = {.dtype = DType::kFloat, .var_len = true};
  auto ds = TFRecordExampleDataset({file.Write(data, size)}, spec);
  fuzz::Drain(ds);
  return 0;
}
