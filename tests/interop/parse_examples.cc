// Parses a TFRecord file of tf.train.Example with psflow's input pipeline
// and prints each batch as one JSON line, for tests/interop/tf_interop.py,
// which compares them with tf.io.parse_example on the same records:
//
//   psflow_parse_examples FILE BATCH NAME:DTYPE[:varlen] ...
//
// Every tensor of a batch is printed as {"dtype", "shape", "values"} (flat,
// strings JSON-quoted byte by byte).
#include <iostream>
#include <sstream>

#include "common/core/status.h"
#include "common/data/example_batches.h"

namespace psflow {
namespace {

std::string Json(const Tensor& t) {
  std::ostringstream os;
  os << "{\"dtype\": \"" << DTypeName(t.dtype()) << "\", \"shape\": [";
  for (int d = 0; d < t.shape().rank(); ++d) os << (d ? ", " : "") << t.shape().dim(d);
  os << "], \"values\": [";
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    if (i) os << ", ";
    const size_t k = static_cast<size_t>(i);
    switch (t.dtype()) {
      case DType::kInt64: os << t.flat<int64_t>()[k]; break;
      case DType::kFloat: os << t.flat<float>()[k]; break;
      case DType::kString: os << JsonQuote(t.flat<std::string>()[k]); break;
      default: os << "null";
    }
  }
  os << "]}";
  return os.str();
}

int Main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: psflow_parse_examples FILE BATCH NAME:DTYPE[:varlen] ...\n";
    return 2;
  }
  std::map<std::string, FixedLenFeature> spec;
  for (int i = 3; i < argc; ++i) {
    std::string a = argv[i];
    const size_t c1 = a.find(':');
    const size_t c2 = a.find(':', c1 + 1);
    const std::string name = a.substr(0, c1);
    const std::string dtype = a.substr(c1 + 1, c2 == std::string::npos ? std::string::npos : c2 - c1 - 1);
    FixedLenFeature f;
    f.dtype = dtype == "int64" ? DType::kInt64 : dtype == "string" ? DType::kString : DType::kFloat;
    f.var_len = c2 != std::string::npos && a.substr(c2 + 1) == "varlen";
    spec[name] = f;
  }
  // The path training takes (records batched, then parsed a batch at a
  // time); example_batches_test checks it against parsing each example.
  auto ds = TFRecordExampleBatches({argv[1]}, spec, {.batch_size = std::atoll(argv[2])});
  if (!ds.ok()) {
    std::cerr << ds.status() << "\n";
    return 1;
  }
  auto& batched = *ds;
  Example e;
  while (true) {
    auto more = batched->Next(&e);
    if (!more.ok()) {
      std::cerr << more.status() << "\n";
      return 1;
    }
    if (!*more) break;
    std::cout << "{";
    bool first = true;
    for (const auto& [k, t] : e) {
      std::cout << (first ? "" : ", ") << JsonQuote(k) << ": " << Json(t);
      first = false;
    }
    std::cout << "}\n";
  }
  return 0;
}

}  // namespace
}  // namespace psflow

int main(int argc, char** argv) { return psflow::Main(argc, argv); }
