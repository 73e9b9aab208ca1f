// Graphs as protobufs: GraphDef export/import, MetaGraphDef (`.meta`) with
// variables, collections and saver settings, and frozen graphs (variables
// replaced by constants) that run without a checkpoint.
//
//   RETURN_IF_ERROR(WriteMetaGraph(graph, prefix + ".meta", {}));
//   Graph g2;
//   RETURN_IF_ERROR(ImportMetaGraph(prefix + ".meta", &g2));   // then Saver + Restore + Run
//   ASSIGN_OR_RETURN(auto frozen, FreezeGraph(graph, sess.variables(), {"dense_1/BiasAdd"}));
//   RETURN_IF_ERROR(WriteBinaryProto(Env::Default(), "model.pb", frozen));
//
// Errors name the file, node and attribute.  Not thread-safe (graph building).
#pragma once

#include <google/protobuf/message_lite.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/core/env.h"
#include "common/graph/graph.h"
#include "common/ops/variable_store.h"
#include "common/proto/graph.pb.h"

namespace psflow {

tensorflow::TensorProto TensorToProto(const Tensor& t);
// Reads tensor_content or TensorFlow's typed value lists (one value fills
// the shape, as TensorFlow's own constants do).
StatusOr<Tensor> TensorFromProto(const tensorflow::TensorProto& p);
tensorflow::AttrValue AttrValueToProto(const AttrValue& v);
StatusOr<AttrValue> AttrValueFromProto(const tensorflow::AttrValue& p);
tensorflow::TensorShapeProto ShapeToProto(const PartialShape& s);

// The graph in TensorFlow's terms (common/ops/tf_graph.h).  A node whose op
// has no TensorFlow form is written as psflow's, with a warning naming it.
tensorflow::GraphDef ToGraphDef(const Graph& graph);

struct ImportOptions {
  // Every imported name becomes "<import_scope>/<name>", as TensorFlow's
  // import_graph_def(name=...) and import_meta_graph(import_scope=...) do.
  // Empty (the default of TensorFlow's C++ ImportGraphDef): names unchanged.
  std::string import_scope;
};
// Adds every node of `def` to `graph`, which may hold nodes already (a name
// in use is an error naming it: import under a scope), inputs in any order;
// reads psflow's own form of the nodes it wrote and TensorFlow's graphs
// (tf_graph::PsflowForm).  TensorFlow Savers' ops are left out: psflow's
// Saver restores the variables.
Status ImportGraphDef(const tensorflow::GraphDef& def, Graph* graph, const ImportOptions& options = {});

struct MetaGraphOptions {
  int max_to_keep = 5;
  double keep_checkpoint_every_n_hours = 10000;
  // The Saver's checkpoint keys (its var_list); default: every global
  // variable under its own name.
  std::optional<std::map<std::string, const Variable*>> saver_vars;
  Env* env = Env::Default();  // WriteMetaGraph writes through it
};
// The graph, its collections and TensorFlow's Saver ops over the Saver's
// variables (SaverDef: TensorFlow's import_meta_graph returns a Saver that
// restores psflow's checkpoints).
tensorflow::MetaGraphDef ExportMetaGraph(const Graph& graph, const MetaGraphOptions& options = {});
// Rebuilds nodes, variables and collections into `graph`.  `imported`, if
// given, receives the meta graph's global variables by checkpoint key (their
// names before the import scope).
Status ImportMetaGraph(const tensorflow::MetaGraphDef& meta, Graph* graph, const ImportOptions& options = {},
                       std::map<std::string, const Variable*>* imported = nullptr);
Status WriteMetaGraph(const Graph& graph, const std::string& path, const MetaGraphOptions& options = {});
Status ImportMetaGraph(const std::string& path, Graph* graph, const ImportOptions& options = {},
                       std::map<std::string, const Variable*>* imported = nullptr);

// The subgraph computing `output_nodes`, with every variable it reads
// replaced by a constant holding the variable's current value.
StatusOr<tensorflow::GraphDef> FreezeGraph(const Graph& graph, VariableStore* variables,
                                           const std::vector<std::string>& output_nodes);

// Binary protobuf files, written atomically.
Status WriteBinaryProto(Env* env, const std::string& path, const google::protobuf::MessageLite& msg);
Status ReadBinaryProto(Env* env, const std::string& path, google::protobuf::MessageLite* msg);

}  // namespace psflow
