// psflow_run_graph: runs a graph file with psflow, for
// tests/interop/tf_graph_interop.py to compare with TensorFlow running the
// same file.
//
//   psflow_run_graph meta MODEL.meta PREFIX OUT_DIR [feed=TENSOR=FILE:DTYPE:D0,D1..]... [target=OP]... [fetch=TENSOR]...
//       imports the meta graph, restores PREFIX with psflow's Saver, runs the
//       targets (with the feeds) once, then the fetches
//   psflow_run_graph pb GRAPH.pb OUT_DIR [feed=...]... [fetch=TENSOR]...
//       the same for a GraphDef (a frozen graph)
//   psflow_run_graph saved SAVED_MODEL_DIR OUT_DIR [feed=KEY=...]... [fetch=KEY]...
//       loads a SavedModel (tag serve) and runs its serving_default
//       signature: feeds and fetches name the signature's keys
//   psflow_run_graph freeze MODEL.meta PREFIX OUTPUT_NODE OUT.pb
//       writes the frozen graph of OUTPUT_NODE
//
// Feeds are raw little-endian files; fetch i is written to OUT_DIR/i.bin and
// described on stdout as one JSON line {"fetch": ..., "dtype": ..., "shape": [...]}.
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "common/core/env.h"
#include "common/core/logging.h"
#include "common/ops/graph_io.h"
#include "common/runtime/session.h"
#include "common/train/optimizer.h"
#include "common/train/saved_model.h"
#include "common/train/saver.h"

namespace psflow {
namespace {

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at - start));
    if (at == std::string::npos) return out;
    start = at + 1;
  }
}

struct Args {
  std::vector<std::pair<std::string, std::string>> feeds;  // name, spec
  std::vector<std::string> targets, fetches;
};

Args ParseArgs(int argc, char** argv, int from) {
  Args a;
  for (int i = from; i < argc; ++i) {
    const std::string s = argv[i];
    if (s.starts_with("feed=")) {
      const size_t eq = s.find('=', 5);
      a.feeds.emplace_back(s.substr(5, eq - 5), eq == std::string::npos ? "" : s.substr(eq + 1));
    } else if (s.starts_with("target=")) {
      a.targets.push_back(s.substr(7));
    } else if (s.starts_with("fetch=")) {
      a.fetches.push_back(s.substr(6));
    }
  }
  return a;
}

// FILE:DTYPE:D0,D1,...
StatusOr<Tensor> ReadFeed(const std::string& spec) {
  const auto parts = Split(spec, ':');
  if (parts.size() != 3) return InvalidArgumentError("feed spec '", spec, "' is not FILE:DTYPE:DIMS");
  ASSIGN_OR_RETURN(DType dt, DTypeFromString(parts[1]));
  std::vector<int64_t> dims;
  for (const std::string& d : Split(parts[2], ',')) {
    if (!d.empty()) dims.push_back(std::stoll(d));
  }
  ASSIGN_OR_RETURN(TensorShape shape, TensorShape::FromDims(dims));
  ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(Env::Default(), parts[0]));
  Tensor t(dt, shape);
  if (bytes.size() != t.TotalBytes()) {
    return InvalidArgumentError(parts[0], " holds ", bytes.size(), " bytes, ", shape.DebugString(), " needs ",
                                t.TotalBytes());
  }
  std::memcpy(t.raw_data(), bytes.data(), bytes.size());
  return t;
}

Status Run(Graph& g, Session& sess, const Args& a, const std::string& out_dir) {
  FeedList feeds;
  for (const auto& [name, spec] : a.feeds) {
    ASSIGN_OR_RETURN(Output o, g.GetTensorByName(name));
    ASSIGN_OR_RETURN(Tensor t, ReadFeed(spec));
    feeds.emplace_back(o, t);
  }
  std::vector<Tensor> out;
  if (!a.targets.empty()) {
    std::vector<Node*> targets;
    for (const std::string& t : a.targets) {
      ASSIGN_OR_RETURN(Node* n, g.GetOperationByName(t));
      targets.push_back(n);
    }
    RETURN_IF_ERROR(sess.Run(feeds, {}, targets, &out));
  }
  std::vector<Output> fetches;
  for (const std::string& f : a.fetches) {
    ASSIGN_OR_RETURN(Output o, g.GetTensorByName(f));
    fetches.push_back(o);
  }
  RETURN_IF_ERROR(sess.Run(feeds, fetches, &out));
  for (size_t i = 0; i < out.size(); ++i) {
    const Tensor& t = out[i];
    RETURN_IF_ERROR(WriteStringToFileAtomic(Env::Default(), StrCat(out_dir, "/", i, ".bin"),
                                            std::string(static_cast<const char*>(t.raw_data()), t.TotalBytes())));
    std::string dims;
    for (int d = 0; d < t.shape().rank(); ++d) dims += StrCat(d ? ", " : "", t.shape().dim(d));
    std::cout << "{\"fetch\": \"" << a.fetches[i] << "\", \"dtype\": \"" << DTypeName(t.dtype()) << "\", \"shape\": ["
              << dims << "]}" << std::endl;
  }
  return OkStatus();
}

Status Main(int argc, char** argv) {
  RegisterTrainOps();
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "meta" && argc >= 5) {
    Graph g;
    RETURN_IF_ERROR(ImportMetaGraph(argv[2], &g));
    Session sess(&g);
    ASSIGN_OR_RETURN(auto saver, Saver::Create(&g));
    RETURN_IF_ERROR(saver->Restore(&sess, argv[3]));
    return Run(g, sess, ParseArgs(argc, argv, 5), argv[4]);
  }
  if (mode == "pb" && argc >= 4) {
    tensorflow::GraphDef def;
    RETURN_IF_ERROR(ReadBinaryProto(Env::Default(), argv[2], &def));
    Graph g;
    RETURN_IF_ERROR(ImportGraphDef(def, &g).WithContext("importing ", argv[2]));
    Session sess(&g);
    return Run(g, sess, ParseArgs(argc, argv, 4), argv[3]);
  }
  if (mode == "saved" && argc >= 4) {
    ASSIGN_OR_RETURN(LoadedSavedModel m, LoadSavedModel(Env::Default(), argv[2]));
    Args a = ParseArgs(argc, argv, 4);
    // Signature keys to tensor names.
    for (auto& [name, spec] : a.feeds) {
      auto it = m.inputs.find(name);
      if (it == m.inputs.end()) return NotFoundError("the signature has no input ", name);
      name = it->second.name();
    }
    for (std::string& f : a.fetches) {
      auto it = m.outputs.find(f);
      if (it == m.outputs.end()) return NotFoundError("the signature has no output ", f);
      f = it->second.name();
    }
    return Run(*m.graph, *m.session, a, argv[3]);
  }
  if (mode == "freeze" && argc == 6) {
    Graph g;
    RETURN_IF_ERROR(ImportMetaGraph(argv[2], &g));
    Session sess(&g);
    ASSIGN_OR_RETURN(auto saver, Saver::Create(&g));
    RETURN_IF_ERROR(saver->Restore(&sess, argv[3]));
    ASSIGN_OR_RETURN(tensorflow::GraphDef frozen, FreezeGraph(g, sess.variables(), {argv[4]}));
    return WriteBinaryProto(Env::Default(), argv[5], frozen);
  }
  return InvalidArgumentError("usage: psflow_run_graph meta|pb|freeze ... (see tests/interop/run_graph.cc)");
}

}  // namespace
}  // namespace psflow

int main(int argc, char** argv) {
  psflow::Status s = psflow::Main(argc, argv);
  if (!s.ok()) {
    std::cerr << "psflow_run_graph: " << s << std::endl;
    return 1;
  }
  return 0;
}
