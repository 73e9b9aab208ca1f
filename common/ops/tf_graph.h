// psflow graphs in TensorFlow's terms: the GraphDefs psflow writes (`.meta`,
// frozen `.pb`, SavedModel) use TensorFlow's op types, inputs and required
// attributes, so TensorFlow imports and runs them.
//
// Most psflow ops are TensorFlow's and only gain the attributes TensorFlow's
// op definitions require (`T`, `Tidx`, `data_format`, ...).  Where psflow's
// form differs (an attribute that TensorFlow takes as an input tensor, an
// optimizer's hyperparameters, a helper op of psflow's gradients such as
// SumToShapeOf), the node is written as the TensorFlow ops that compute the
// same thing: helper nodes under `<node>/_tf/...` and a last node with the
// psflow node's name.  Such a node records psflow's own form in attributes
// whose names start with `_psflow` (TensorFlow ignores attributes that
// start with `_`), so psflow reads its graphs back exactly:
//
//   _psflow_op, _psflow_inputs, _psflow_attr_<name>   the psflow node it stands for
//   _psflow_added                                     attributes the export added
//   _psflow_helper                                    a helper: psflow skips it
//
// An op with no TensorFlow form is written as psflow's (TensorFlow names it
// when importing).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/graph/graph.h"
#include "common/proto/graph.pb.h"

namespace psflow::tf_graph {

// Appends n's TensorFlow form to def.
Status AppendNode(const Node& n, tensorflow::GraphDef* def);

// Appends a Const named `name` (a variable frozen to its value).
void AppendConst(const std::string& name, const Tensor& value, const std::string& device,
                 tensorflow::GraphDef* def);

// Appends TensorFlow's Saver ops over `vars` (save/Const, save/SaveV2,
// save/control_dependency, save/RestoreV2, save/Assign_*, save/restore_all:
// checkpoint format V2, one shard) and names them in `saver`, so TensorFlow's
// import_meta_graph returns a Saver that saves and restores psflow's
// checkpoints.  The nodes are helpers: psflow's own Saver does not use them.
// `vars` maps checkpoint keys to variables (a Saver's var_list).
void AppendSaver(const std::map<std::string, const Variable*>& vars, tensorflow::SaverDef* saver,
                 tensorflow::GraphDef* def);

// Import side: whether d is an export helper (not a psflow node), and
// psflow's own form of d: what the export recorded, or for a node that
// TensorFlow wrote, its inputs that psflow takes as attributes (a Reshape's
// shape, a Mean's axes, ...: they must be constants, found through
// `node_by_name`) moved into attributes and TensorFlow's type attributes
// dropped.  An op psflow does not have, or an option it does not support
// (NCHW, dilations), is an error naming the node.
bool IsHelper(const tensorflow::NodeDef& d);
using NodeLookup = std::function<const tensorflow::NodeDef*(const std::string& name)>;
StatusOr<tensorflow::NodeDef> PsflowForm(const tensorflow::NodeDef& d, const NodeLookup& node_by_name);

}  // namespace psflow::tf_graph
