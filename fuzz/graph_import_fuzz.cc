// GraphDef / MetaGraphDef import (TensorFlow's .meta and frozen .pb into
// psflow) on arbitrary bytes: a MetaGraphDef when they parse as one with a
// graph, else a GraphDef; what imports is exported again.  Unknown ops, bad
// attributes, shapes and cycles are errors naming the node, never a crash.
#include <cstdint>

#include <google/protobuf/stubs/logging.h>

#include "common/graph/graph.h"
#include "common/ops/graph_io.h"
#include "common/ops/ops.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace psflow;
  static const bool quiet = [] {
    google::protobuf::SetLogHandler(nullptr);  // invalid UTF-8 in string fields is logged per input
    return true;
  }();
  (void)quiet;
  RegisterStandardOps();
  tensorflow::MetaGraphDef meta;
  Graph g;
  Status s;
  if (meta.ParseFromArray(data, static_cast<int>(size)) && meta.graph_def().node_size() > 0) {
    s = ImportMetaGraph(meta, &g);
  } else {
    tensorflow::GraphDef def;
    if (!def.ParseFromArray(data, static_cast<int>(size))) return 0;
    s = ImportGraphDef(def, &g);
  }
  if (s.ok()) {
    tensorflow::GraphDef back = ToGraphDef(g);
    (void)back;
  }
  return 0;
}
