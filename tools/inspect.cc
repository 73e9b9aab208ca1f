// psflow-inspect: lists or prints the tensors of a checkpoint, like
// TensorFlow's inspect_checkpoint.
//
//   psflow-inspect model_dir                      # latest checkpoint: name (DT_FLOAT) [2,3]
//   psflow-inspect model_dir/model.ckpt-100 --tensor_name dense/kernel
//   psflow-inspect model_dir --all_tensors
//
// Exit codes: 0 success, 1 the checkpoint or tensor could not be read, 2 usage.
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "common/checkpoint/checkpoint_state.h"
#include "common/checkpoint/tensor_bundle.h"
#include "common/cluster/cli.h"
#include "common/core/logging.h"

namespace psflow {
namespace {


// Values nested by dimension, numpy style: [[1, 2], [3, 4]].
void PrintValues(const Tensor& t, std::ostream& os) {
  const auto& dims = t.shape().dims();
  if (dims.empty()) {
    os << t.ElementString(0) << "\n";
    return;
  }
  const int64_t n = t.num_elements();
  // block[d]: elements in one sub-array starting at dimension d.
  std::vector<int64_t> block(dims.size() + 1, 1);
  for (int d = static_cast<int>(dims.size()) - 1; d >= 0; --d) {
    block[static_cast<size_t>(d)] = block[static_cast<size_t>(d) + 1] * dims[static_cast<size_t>(d)];
  }
  if (n == 0) {
    os << std::string(dims.size(), '[') << std::string(dims.size(), ']') << "\n";
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    int opens = 0;
    for (size_t d = 0; d < dims.size(); ++d) {
      if (i % block[d] == 0) ++opens;
    }
    if (i > 0) {
      os << (opens > 0 ? ",\n" + std::string(dims.size() - static_cast<size_t>(opens), ' ') : ", ");
    }
    os << std::string(static_cast<size_t>(opens), '[') << t.ElementString(i);
    int closes = 0;
    for (size_t d = 0; d < dims.size(); ++d) {
      if ((i + 1) % block[d] == 0) ++closes;
    }
    os << std::string(static_cast<size_t>(closes), ']');
  }
  os << "\n";
}

std::string JsonNumber(const std::string& s) {
  if (s == "nan" || s == "-nan") return "NaN";
  if (s == "inf") return "Infinity";
  if (s == "-inf") return "-Infinity";
  return s;
}

// Flat values as a JSON array; strings as lower-case hex of their bytes.
void PrintJsonValues(const Tensor& t, std::ostream& os) {
  os << "[";
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    if (i > 0) os << ",";
    if (t.dtype() == DType::kString) {
      os << '"' << HexEncode(t.flat<std::string>()[static_cast<size_t>(i)]) << '"';
    } else if (t.dtype() == DType::kBool) {
      os << (t.flat<bool>()[static_cast<size_t>(i)] ? "true" : "false");
    } else {
      os << JsonNumber(t.ElementString(i));
    }
  }
  os << "]";
}

int Run(int argc, char** argv) {
  std::string path, tensor_name;
  bool all = false, json = false;
  CLI::App app("psflow-inspect: the tensors of a checkpoint, as TensorFlow's inspect_checkpoint lists them", "psflow-inspect");
  app.add_option("PREFIX_OR_DIR", path,
                 "a checkpoint prefix (model_dir/model.ckpt-100) or a directory, meaning its latest complete checkpoint; required");
  app.add_option("--tensor_name", tensor_name, "print that tensor's values");
  app.add_flag("--all_tensors", all, "print every tensor's values");
  app.add_flag("--json", json,
               "print one JSON object: {\"prefix\": ..., \"tensors\": {name: {\"dtype\", \"shape\", \"values\" (flat; strings as hex)}}};"
               " values only with --all_tensors or --tensor_name");
  if (auto exit = ParseCommandLine(app, argc, argv)) return *exit;
  if (path.empty()) return MissingArgument(app, "PREFIX_OR_DIR");
  Env* env = Env::Default();
  std::string prefix = path;
  if (!env->FileExists(BundleIndexFilename(path)) && env->GetChildren(path).ok()) {
    auto latest = LatestCheckpoint(env, path);
    if (!latest.ok()) {
      std::cerr << "psflow-inspect: " << latest.status() << "\n";
      return 1;
    }
    if (!*latest) {
      std::cerr << "psflow-inspect: no checkpoint in directory " << path
                << " (neither a `checkpoint` state file nor any <name>-<step>.index file)\n";
      return 1;
    }
    prefix = **latest;
  }
  auto reader = BundleReader::Open(env, prefix);
  if (!reader.ok()) {
    std::cerr << "psflow-inspect: " << reader.status() << "\n";
    return 1;
  }
  auto print_tensor = [&](const std::string& name) -> bool {
    auto t = (*reader)->Lookup(name);
    if (!t.ok()) {
      std::cerr << "psflow-inspect: " << t.status() << "\n";
      return false;
    }
    std::cout << "tensor_name:  " << name << "\n";
    PrintValues(*t, std::cout);
    return true;
  };
  if (json) {
    std::vector<std::string> keys = tensor_name.empty() ? (*reader)->Keys()
                                                        : std::vector<std::string>{tensor_name};
    std::ostringstream os;
    os << "{\"prefix\": " << JsonQuote(prefix) << ", \"tensors\": {";
    for (size_t i = 0; i < keys.size(); ++i) {
      auto info = (*reader)->GetInfo(keys[i]);
      if (!info.ok()) {
        std::cerr << "psflow-inspect: " << info.status() << "\n";
        return 1;
      }
      os << (i > 0 ? ", " : "") << JsonQuote(keys[i]) << ": {\"dtype\": \""
         << DTypeEnumName(info->dtype) << "\", \"shape\": [" << StrJoin(info->shape.dims(), ", ")
         << "]";
      if (all || !tensor_name.empty()) {
        auto t = (*reader)->Lookup(keys[i]);
        if (!t.ok()) {
          std::cerr << "psflow-inspect: " << t.status() << "\n";
          return 1;
        }
        os << ", \"values\": ";
        PrintJsonValues(*t, os);
      }
      os << "}";
    }
    os << "}}\n";
    std::cout << os.str();
    return 0;
  }
  if (!tensor_name.empty()) return print_tensor(tensor_name) ? 0 : 1;
  int rc = 0;
  for (const std::string& key : (*reader)->Keys()) {
    if (all) {
      if (!print_tensor(key)) rc = 1;
      continue;
    }
    auto info = (*reader)->GetInfo(key);
    if (!info.ok()) {
      std::cerr << "psflow-inspect: " << info.status() << "\n";
      rc = 1;
      continue;
    }
    std::cout << key << " (" << DTypeEnumName(info->dtype) << ") " << info->shape.DebugString()
              << "\n";
  }
  return rc;
}

}  // namespace
}  // namespace psflow

int main(int argc, char** argv) {
  psflow::SetLogIdentity("inspect", 0);
  return psflow::Run(argc, argv);
}
