#include "common/ops/graph_io.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <map>
#include <set>

#include "common/core/logging.h"
#include "common/ops/ops.h"
#include "common/ops/tf_graph.h"

namespace psflow {

tensorflow::TensorShapeProto ShapeToProto(const PartialShape& s) {
  tensorflow::TensorShapeProto p;
  if (s.unknown_rank()) {
    p.set_unknown_rank(true);
    return p;
  }
  for (int64_t d : s.dims()) p.add_dim()->set_size(d);
  return p;
}

namespace {

PartialShape ShapeFromProto(const tensorflow::TensorShapeProto& p) {
  if (p.unknown_rank()) return PartialShape::Unknown();
  std::vector<int64_t> dims;
  for (const auto& d : p.dim()) dims.push_back(d.size());
  return PartialShape(dims);
}

}  // namespace

tensorflow::AttrValue AttrValueToProto(const AttrValue& v) {
  tensorflow::AttrValue p;
  struct Visitor {
    tensorflow::AttrValue* p;
    void operator()(int64_t x) const { p->set_i(x); }
    void operator()(float x) const { p->set_f(x); }
    void operator()(bool x) const { p->set_b(x); }
    void operator()(const std::string& x) const { p->set_s(x); }
    void operator()(DType x) const { p->set_type(static_cast<tensorflow::DataType>(x)); }
    void operator()(const PartialShape& x) const { *p->mutable_shape() = ShapeToProto(x); }
    void operator()(const Tensor& x) const { *p->mutable_tensor() = TensorToProto(x); }
    void operator()(const std::vector<int64_t>& x) const {
      auto* l = p->mutable_list();
      for (int64_t i : x) l->add_i(i);
    }
    void operator()(const std::vector<float>& x) const {
      auto* l = p->mutable_list();
      for (float f : x) l->add_f(f);
    }
    void operator()(const std::vector<std::string>& x) const {
      auto* l = p->mutable_list();
      for (const auto& s : x) l->add_s(s);
    }
  };
  std::visit(Visitor{&p}, v);
  return p;
}

StatusOr<AttrValue> AttrValueFromProto(const tensorflow::AttrValue& p) {
  switch (p.value_case()) {
    case tensorflow::AttrValue::kI: return AttrValue(static_cast<int64_t>(p.i()));
    case tensorflow::AttrValue::kF: return AttrValue(p.f());
    case tensorflow::AttrValue::kB: return AttrValue(p.b());
    case tensorflow::AttrValue::kS: return AttrValue(p.s());
    case tensorflow::AttrValue::kType:
      if (!IsSupportedDType(p.type())) return InvalidArgumentError("unsupported dtype ", p.type());
      return AttrValue(static_cast<DType>(p.type()));
    case tensorflow::AttrValue::kShape: return AttrValue(ShapeFromProto(p.shape()));
    case tensorflow::AttrValue::kTensor: {
      ASSIGN_OR_RETURN(Tensor t, TensorFromProto(p.tensor()));
      return AttrValue(t);
    }
    case tensorflow::AttrValue::kList: {
      const auto& l = p.list();
      if (l.f_size() > 0) return AttrValue(std::vector<float>(l.f().begin(), l.f().end()));
      if (l.s_size() > 0) return AttrValue(std::vector<std::string>(l.s().begin(), l.s().end()));
      if (l.type_size() > 0 || l.shape_size() > 0 || l.b_size() > 0) {
        return UnimplementedError("lists of types, shapes or bools are not psflow attributes");
      }
      return AttrValue(std::vector<int64_t>(l.i().begin(), l.i().end()));
    }
    case tensorflow::AttrValue::VALUE_NOT_SET: break;
  }
  return InvalidArgumentError("attribute has no value");
}

namespace {

Status ParseInput(const std::string& s, std::string* node, int* index, bool* control) {
  *control = !s.empty() && s[0] == '^';
  const std::string body = *control ? s.substr(1) : s;
  const size_t colon = body.rfind(':');
  *index = 0;
  if (!*control && colon != std::string::npos) {
    try {
      *index = std::stoi(body.substr(colon + 1));
    } catch (...) {
      return InvalidArgumentError("bad input name '", s, "'");
    }
    *node = body.substr(0, colon);
  } else {
    *node = body;
  }
  return OkStatus();
}

}  // namespace

namespace {

// TensorFlow's typed lists: as many values as elements, or fewer, the last
// one repeated (none: zeros).
template <typename T, typename List>
Status FillFrom(const List& values, Tensor* t) {
  auto out = t->flat<T>();
  const int64_t n = t->num_elements(), have = values.size();
  if (have > n) return DataLossError("has ", have, " values for ", n, " elements");
  for (int64_t i = 0; i < n; ++i) {
    out[static_cast<size_t>(i)] = have == 0 ? T{} : static_cast<T>(values[static_cast<int>(std::min(i, have - 1))]);
  }
  return OkStatus();
}

Status FillFromValueList(const tensorflow::TensorProto& p, Tensor* t) {
  switch (t->dtype()) {
    case DType::kFloat: return FillFrom<float>(p.float_val(), t);
    case DType::kDouble: return FillFrom<double>(p.double_val(), t);
    case DType::kInt32: return FillFrom<int32_t>(p.int_val(), t);
    case DType::kInt64: return FillFrom<int64_t>(p.int64_val(), t);
    case DType::kBool: return FillFrom<bool>(p.bool_val(), t);
    case DType::kHalf:
    case DType::kBFloat16: {
      const int64_t n = t->num_elements(), have = p.half_val_size();
      if (have > n) return DataLossError("has ", have, " values for ", n, " elements");
      auto* bits = static_cast<uint16_t*>(t->raw_data());
      for (int64_t i = 0; i < n; ++i) {
        bits[i] = have == 0 ? 0 : static_cast<uint16_t>(p.half_val(static_cast<int>(std::min(i, have - 1))));
      }
      return OkStatus();
    }
    default: return UnimplementedError("no value list for this dtype");
  }
}

}  // namespace

tensorflow::TensorProto TensorToProto(const Tensor& t) {
  tensorflow::TensorProto p;
  p.set_dtype(static_cast<tensorflow::DataType>(t.dtype()));
  *p.mutable_tensor_shape() = ShapeToProto(t.shape());
  if (t.dtype() == DType::kString) {
    for (const std::string& s : t.flat<std::string>()) p.add_string_val(s);
  } else {
    p.set_tensor_content(std::string(static_cast<const char*>(t.raw_data()), t.TotalBytes()));
  }
  return p;
}

StatusOr<Tensor> TensorFromProto(const tensorflow::TensorProto& p) {
  if (!IsSupportedDType(p.dtype())) return InvalidArgumentError("tensor has unsupported dtype ", p.dtype());
  const PartialShape ps = ShapeFromProto(p.tensor_shape());
  if (!ps.IsFullyDefined()) return InvalidArgumentError("tensor has shape ", ps.DebugString());
  ASSIGN_OR_RETURN(TensorShape shape, TensorShape::FromDims(ps.dims()));
  Tensor t(static_cast<DType>(p.dtype()), shape);
  if (t.dtype() == DType::kString) {
    // As TensorFlow: fewer values than elements repeat the last one.
    const int64_t n = t.num_elements(), have = p.string_val_size();
    if (have > n || (have == 0 && n > 0)) {
      return DataLossError("string tensor of shape ", shape.DebugString(), " has ", have, " values");
    }
    for (int64_t i = 0; i < n; ++i) {
      t.flat<std::string>()[static_cast<size_t>(i)] = p.string_val(static_cast<int>(std::min(i, have - 1)));
    }
  } else if (!p.tensor_content().empty() || t.TotalBytes() == 0) {
    if (p.tensor_content().size() != t.TotalBytes()) {
      return DataLossError("tensor of ", DTypeName(t.dtype()), " ", shape.DebugString(), " has ",
                           p.tensor_content().size(), " content bytes, expected ", t.TotalBytes());
    }
    if (t.TotalBytes() > 0) std::memcpy(t.raw_data(), p.tensor_content().data(), t.TotalBytes());
  } else {
    RETURN_IF_ERROR(FillFromValueList(p, &t).WithContext("tensor of ", DTypeName(t.dtype()), " ", shape.DebugString()));
  }
  return t;
}

namespace {

// Appends n's TensorFlow form; a node that has none is written as psflow's,
// with one warning per op type and process.
void AppendTensorFlowForm(const Node& n, tensorflow::GraphDef* def) {
  Status s = tf_graph::AppendNode(n, def);
  if (s.ok()) return;
  static std::mutex mu;
  static std::set<std::string> warned;
  std::lock_guard<std::mutex> l(mu);
  if (warned.insert(n.type()).second) {
    LOG(WARNING) << "graph export: node " << n.name() << " (" << n.type()
                 << ") is written in psflow's form, which TensorFlow cannot import: " << s;
  }
}

tensorflow::GraphDef NewGraphDef() {
  tensorflow::GraphDef def;
  def.mutable_versions()->set_producer(1);
  return def;
}

}  // namespace

tensorflow::GraphDef ToGraphDef(const Graph& graph) {
  tensorflow::GraphDef def = NewGraphDef();
  for (const auto& n : graph.nodes()) AppendTensorFlowForm(*n, &def);
  return def;
}

namespace {

// The name scopes of TensorFlow Savers in def: the SaverDef's (`restore_op`)
// and the root scopes "save/", "save_1/", ... that hold SaveV2 / RestoreV2
// ops (a RestoreV2 elsewhere, e.g. init_from_checkpoint's, stays).
std::set<std::string> SaverScopes(const tensorflow::GraphDef& def, const std::string& restore_op) {
  std::set<std::string> scopes;
  if (restore_op.find('/') != std::string::npos) scopes.insert(restore_op.substr(0, restore_op.rfind('/') + 1));
  for (const tensorflow::NodeDef& nd : def.node()) {
    if (nd.op() != "SaveV2" && nd.op() != "RestoreV2" && nd.op() != "MergeV2Checkpoints") continue;
    const std::string& name = nd.name();
    const size_t slash = name.find('/');
    if (slash == std::string::npos) continue;
    const std::string top = name.substr(0, slash);
    bool saver = top == "save";
    if (!saver && top.starts_with("save_") && top.size() > 5) {
      saver = std::all_of(top.begin() + 5, top.end(), [](char c) { return c >= '0' && c <= '9'; });
    }
    if (saver) scopes.insert(top + "/");
  }
  return scopes;
}

// ImportGraphDef, leaving out the nodes under `skip_scopes` (TensorFlow
// Savers' ops: psflow saves and restores with its own).
// name, or "^name" / "name:1", under `scope`.
std::string Scoped(const std::string& scope, const std::string& name) {
  if (scope.empty()) return name;
  if (!name.empty() && name[0] == '^') return StrCat("^", scope, "/", name.substr(1));
  return StrCat(scope, "/", name);
}

Status ImportGraphDefExcept(const tensorflow::GraphDef& tf_def, const std::set<std::string>& skip_scopes,
                            const std::string& scope, Graph* graph) {
  RegisterStandardOps();
  std::map<std::string, const tensorflow::NodeDef*> by_name;
  for (const tensorflow::NodeDef& nd : tf_def.node()) by_name[nd.name()] = &nd;
  const tf_graph::NodeLookup lookup = [&](const std::string& name) -> const tensorflow::NodeDef* {
    auto it = by_name.find(name);
    return it == by_name.end() ? nullptr : it->second;
  };
  // psflow's own form of each node; the export's helper nodes are not psflow's.
  tensorflow::GraphDef def;
  for (const tensorflow::NodeDef& nd : tf_def.node()) {
    if (tf_graph::IsHelper(nd)) continue;
    bool skip = false;
    for (const std::string& scope : skip_scopes) skip |= nd.name().starts_with(scope);
    if (skip) continue;
    tensorflow::NodeDef* d = def.add_node();
    ASSIGN_OR_RETURN(*d, tf_graph::PsflowForm(nd, lookup));
    if (!scope.empty()) {
      d->set_name(Scoped(scope, d->name()));
      for (std::string& in : *d->mutable_input()) in = Scoped(scope, in);
    }
    if (graph->FindNode(d->name()) != nullptr) {
      return AlreadyExistsError("the graph already has a node named ", d->name(),
                                "; import under a scope (ImportOptions::import_scope)");
    }
  }
  std::vector<bool> done(static_cast<size_t>(def.node_size()), false);
  int remaining = def.node_size();
  while (remaining > 0) {
    int progress = 0;
    for (int i = 0; i < def.node_size(); ++i) {
      if (done[static_cast<size_t>(i)]) continue;
      const tensorflow::NodeDef& nd = def.node(i);
      NodeSpec spec{.type = nd.op(), .name = nd.name(), .device = nd.device()};
      bool ready = true;
      for (const std::string& in : nd.input()) {
        std::string name;
        int index;
        bool control;
        RETURN_IF_ERROR(ParseInput(in, &name, &index, &control).WithContext("node ", nd.name()));
        Node* src = graph->FindNode(name);
        if (src == nullptr) {
          ready = false;
          break;
        }
        if (control) {
          spec.control_inputs.push_back(src);
        } else {
          if (index >= src->num_outputs()) {
            return InvalidArgumentError("node ", nd.name(), " reads ", in, " but ", name, " has ",
                                        src->num_outputs(), " outputs");
          }
          spec.inputs.push_back(src->output(index));
        }
      }
      if (!ready) continue;
      for (const auto& [k, v] : nd.attr()) {
        auto a = AttrValueFromProto(v);
        if (!a.ok()) return a.status().WithContext("attribute '", k, "' of node ", nd.name());
        spec.attrs[k] = *a;
      }
      graph->ReserveName(nd.name());
      auto n = graph->AddNode(std::move(spec));
      if (!n.ok()) return n.status();
      done[static_cast<size_t>(i)] = true;
      --remaining;
      ++progress;
    }
    if (progress == 0) {
      for (int i = 0; i < def.node_size(); ++i) {
        if (!done[static_cast<size_t>(i)]) {
          return InvalidArgumentError("node ", def.node(i).name(),
                                      " has an input that is neither in the graph nor imported (or a cycle)");
        }
      }
    }
  }
  return OkStatus();
}

}  // namespace

Status ImportGraphDef(const tensorflow::GraphDef& def, Graph* graph, const ImportOptions& options) {
  if (graph->num_nodes() > 0) {
    // Into a graph that holds nodes: first into a scratch graph, so that a
    // def that fails leaves the caller's graph as it was (as TensorFlow's).
    Graph scratch;
    RETURN_IF_ERROR(ImportGraphDefExcept(def, SaverScopes(def, ""), options.import_scope, &scratch));
  }
  return ImportGraphDefExcept(def, SaverScopes(def, ""), options.import_scope, graph);
}

tensorflow::MetaGraphDef ExportMetaGraph(const Graph& graph, const MetaGraphOptions& o) {
  tensorflow::MetaGraphDef meta;
  // TensorFlow parses tensorflow_version as its own release: psflow names
  // itself in meta_graph_version, the writer's free-form version string.
  meta.mutable_meta_info_def()->set_meta_graph_version("psflow 0.1");
  *meta.mutable_graph_def() = ToGraphDef(graph);
  std::map<std::string, const Variable*> saver_vars;
  if (o.saver_vars) {
    saver_vars = *o.saver_vars;
  } else {
    for (const Variable* v : graph.VariablesInCollection(collections::kGlobalVariables)) saver_vars[v->name] = v;
  }
  tf_graph::AppendSaver(saver_vars, meta.mutable_saver_def(), meta.mutable_graph_def());
  meta.mutable_saver_def()->set_max_to_keep(o.max_to_keep);
  meta.mutable_saver_def()->set_keep_checkpoint_every_n_hours(static_cast<float>(o.keep_checkpoint_every_n_hours));
  for (const std::string& key : graph.CollectionKeys()) {
    tensorflow::CollectionDef col;
    for (const CollectionItem& item : graph.GetCollection(key)) {
      if (const auto* v = std::get_if<const Variable*>(&item)) {
        tensorflow::VariableDef vd;
        vd.set_variable_name((*v)->ref.name());
        if ((*v)->initializer) vd.set_initializer_name((*v)->initializer->name());
        vd.set_snapshot_name((*v)->value.name());
        if ((*v)->initial_value.valid()) vd.set_initial_value_name((*v)->initial_value.name());
        vd.set_trainable((*v)->trainable);
        col.mutable_bytes_list()->add_value(vd.SerializeAsString());
      } else if (const auto* out = std::get_if<Output>(&item)) {
        col.mutable_node_list()->add_value(out->name());
      } else {
        col.mutable_node_list()->add_value(std::get<Node*>(item)->name());
      }
    }
    meta.mutable_collection_def()->insert({key, col});
  }
  return meta;
}

namespace {
Status ImportMetaGraphInto(const tensorflow::MetaGraphDef& meta, Graph* graph, const ImportOptions& options,
                           std::map<std::string, const Variable*>* imported);
}  // namespace

Status ImportMetaGraph(const tensorflow::MetaGraphDef& meta, Graph* graph, const ImportOptions& options,
                       std::map<std::string, const Variable*>* imported) {
  if (graph->num_nodes() > 0) {
    // A failure must leave the caller's graph as it was: try a scratch graph first.
    Graph scratch;
    RETURN_IF_ERROR(ImportMetaGraphInto(meta, &scratch, options, nullptr));
  }
  return ImportMetaGraphInto(meta, graph, options, imported);
}

namespace {
Status ImportMetaGraphInto(const tensorflow::MetaGraphDef& meta, Graph* graph, const ImportOptions& options,
                           std::map<std::string, const Variable*>* imported) {
  const std::string& scope = options.import_scope;
  // A Saver's ops live under its scope ("save/" for save/restore_all).
  RETURN_IF_ERROR(ImportGraphDefExcept(meta.graph_def(),
                                       SaverScopes(meta.graph_def(), meta.saver_def().restore_op_name()), scope,
                                       graph));
  // Collections of VariableDefs (TensorFlow keeps other protos in bytes lists too).
  static const std::set<std::string> kVariableCollections = {
      collections::kGlobalVariables, collections::kLocalVariables, collections::kTrainableVariables,
      collections::kModelVariables, collections::kMovingAverageVariables, collections::kGlobalStep,
      "metric_variables"};
  std::map<std::string, Variable*> vars;
  for (const auto& [key, col] : meta.collection_def()) {
    if (col.has_bytes_list()) {
      if (!kVariableCollections.count(key)) continue;
      for (const std::string& bytes : col.bytes_list().value()) {
        tensorflow::VariableDef vd;
        if (!vd.ParseFromString(bytes)) return DataLossError("collection ", key, " holds an unparsable VariableDef");
        if (vd.has_save_slice_info_def()) {
          return UnimplementedError("variable ", vd.variable_name(), " is one partition of ",
                                    vd.save_slice_info_def().full_name(),
                                    " (a TensorFlow partitioner); psflow does not import partitioned TensorFlow "
                                    "variables yet: build the graph without a partitioner, or freeze it first");
        }
        Variable*& v = vars[vd.variable_name()];
        if (v == nullptr) {
          ASSIGN_OR_RETURN(Output ref, graph->GetTensorByName(Scoped(scope, vd.variable_name())));
          ASSIGN_OR_RETURN(Output read, graph->GetTensorByName(Scoped(scope, vd.snapshot_name())));
          Variable nv{.name = ref.node->name(), .ref = ref, .value = read, .dtype = ref.dtype(),
                      .shape = ref.shape(), .trainable = vd.trainable()};
          if (!vd.initializer_name().empty()) {
            ASSIGN_OR_RETURN(nv.initializer, graph->GetOperationByName(Scoped(scope, vd.initializer_name())));
          }
          if (!vd.initial_value_name().empty()) {
            ASSIGN_OR_RETURN(nv.initial_value, graph->GetTensorByName(Scoped(scope, vd.initial_value_name())));
          }
          v = graph->AddVariable(std::move(nv));
        }
        graph->AddToCollection(key, v);
        if (imported != nullptr && key == collections::kGlobalVariables) {
          const std::string& name = vd.variable_name();
          (*imported)[name.substr(0, name.rfind(':'))] = v;  // "w:0" -> checkpoint key "w"
        }
      }
    } else if (col.has_node_list()) {
      for (const std::string& name : col.node_list().value()) {
        if (name.find(':') != std::string::npos) {
          ASSIGN_OR_RETURN(Output o, graph->GetTensorByName(Scoped(scope, name)));
          graph->AddToCollection(key, o);
        } else {
          ASSIGN_OR_RETURN(Node* n, graph->GetOperationByName(Scoped(scope, name)));
          graph->AddToCollection(key, n);
        }
      }
    }
  }
  return OkStatus();
}
}  // namespace

Status WriteBinaryProto(Env* env, const std::string& path, const google::protobuf::MessageLite& msg) {
  std::string bytes;
  if (!msg.SerializeToString(&bytes)) return InternalError("cannot serialize ", path);
  return WriteStringToFileAtomic(env, path, bytes);
}

Status ReadBinaryProto(Env* env, const std::string& path, google::protobuf::MessageLite* msg) {
  ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(env, path));
  if (!msg->ParseFromString(bytes)) {
    return DataLossError("cannot parse ", path, " as a ", msg->GetTypeName(), "; is it the right file?");
  }
  return OkStatus();
}

Status WriteMetaGraph(const Graph& graph, const std::string& path, const MetaGraphOptions& options) {
  return WriteBinaryProto(options.env, path, ExportMetaGraph(graph, options));
}

Status ImportMetaGraph(const std::string& path, Graph* graph, const ImportOptions& options,
                       std::map<std::string, const Variable*>* imported) {
  tensorflow::MetaGraphDef meta;
  RETURN_IF_ERROR(ReadBinaryProto(Env::Default(), path, &meta));
  return ImportMetaGraph(meta, graph, options, imported).WithContext("importing ", path);
}

StatusOr<tensorflow::GraphDef> FreezeGraph(const Graph& graph, VariableStore* variables,
                                           const std::vector<std::string>& output_nodes) {
  std::vector<bool> keep(static_cast<size_t>(graph.num_nodes()), false);
  std::vector<const Node*> stack;
  for (const std::string& name : output_nodes) {
    ASSIGN_OR_RETURN(Node* n, graph.GetOperationByName(name));
    stack.push_back(n);
  }
  while (!stack.empty()) {
    const Node* n = stack.back();
    stack.pop_back();
    if (keep[static_cast<size_t>(n->id())]) continue;
    keep[static_cast<size_t>(n->id())] = true;
    for (const Output& in : n->inputs()) stack.push_back(in.node);
    for (const Node* c : n->control_inputs()) stack.push_back(c);
  }
  tensorflow::GraphDef def = NewGraphDef();
  for (const auto& n : graph.nodes()) {
    if (!keep[static_cast<size_t>(n->id())]) continue;
    if (n->type() != "VariableV2") {
      AppendTensorFlowForm(*n, &def);
      continue;
    }
    ASSIGN_OR_RETURN(Tensor value, variables->Read(n->name()));
    ASSIGN_OR_RETURN(value, value.ToHost());  // variables of a session on a GPU live there
    tf_graph::AppendConst(n->name(), value, n->device(), &def);
  }
  return def;
}

}  // namespace psflow
