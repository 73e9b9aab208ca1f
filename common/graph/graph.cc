#include "common/graph/graph.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "common/core/logging.h"
#include "common/graph/op_registry.h"

namespace psflow {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::string Output::name() const { return StrCat(node->name(), ":", index); }
DType Output::dtype() const { return node->output_dtype(index); }
const PartialShape& Output::shape() const { return node->output_shape(index); }
bool operator<(const Output& a, const Output& b) {
  if (a.node != b.node) return a.node->id() < b.node->id();
  return a.index < b.index;
}

Status Node::MissingAttr(std::string_view name) const {
  return InvalidArgumentError("node ", name_, " (", type_, ") has no attribute '", name, "'");
}

Status Node::WrongAttrType(std::string_view name, const AttrValue& v) const {
  return InvalidArgumentError("attribute '", name, "' of node ", name_, " (", type_, ") is a ",
                              AttrTypeName(v), ", not the type asked for");
}

void Node::AddControlInput(Node* n) {
  if (std::find(control_inputs_.begin(), control_inputs_.end(), n) == control_inputs_.end()) {
    control_inputs_.push_back(n);
  }
}

Status Node::RefineOutputShape(int i, const PartialShape& shape) {
  auto merged = output_shapes_[static_cast<size_t>(i)].Merge(shape);
  if (!merged.ok()) {
    return InvalidArgumentError("cannot set the shape of ", name_, ":", i, " to ",
                                shape.DebugString(), ": it is ",
                                output_shapes_[static_cast<size_t>(i)].DebugString());
  }
  output_shapes_[static_cast<size_t>(i)] = *merged;
  return OkStatus();
}

Graph::Graph() = default;
Graph::~Graph() = default;

std::string Graph::UniqueName(const std::string& name, bool mark_as_used) {
  std::string key = Lower(name);
  int i = 0;
  if (auto it = names_in_use_.find(key); it != names_in_use_.end()) i = it->second;
  if (mark_as_used) names_in_use_[key] = i + 1;
  if (i == 0) return name;
  const std::string base_key = key;
  while (names_in_use_.count(key) != 0) {
    key = StrCat(base_key, "_", i);
    ++i;
  }
  if (mark_as_used) names_in_use_[key] = 1;
  return StrCat(name, "_", i - 1);
}

bool Graph::ReserveName(const std::string& name) {
  auto [it, inserted] = names_in_use_.emplace(Lower(name), 1);
  return inserted;
}

StatusOr<Node*> Graph::AddNode(NodeSpec spec) {
  if (spec.name.empty()) return InvalidArgumentError("node of type ", spec.type, " has no name");
  if (by_name_.count(spec.name) != 0) {
    return AlreadyExistsError("a node named ", spec.name, " already exists in the graph");
  }
  const OpDef* def = OpRegistry::Global()->Lookup(spec.type);
  if (def == nullptr) {
    return NotFoundError("op type ", spec.type, " (node ", spec.name, ") is not registered");
  }
  if (def->num_inputs >= 0 && static_cast<int>(spec.inputs.size()) != def->num_inputs) {
    return InvalidArgumentError("node ", spec.name, " (", spec.type, ") takes ", def->num_inputs,
                                " inputs, got ", spec.inputs.size());
  }
  for (size_t i = 0; i < spec.inputs.size(); ++i) {
    if (!spec.inputs[i].valid() || spec.inputs[i].node->graph() != this) {
      return InvalidArgumentError("input ", i, " of node ", spec.name,
                                  " is not a tensor of this graph");
    }
  }
  InferenceContext ctx(spec);
  Status s = def->shape_fn(ctx);
  if (!s.ok()) return s.WithContext("node ", spec.name, " (", spec.type, ")");
  auto node = std::make_unique<Node>();
  node->graph_ = this;
  node->id_ = static_cast<int>(nodes_.size());
  node->name_ = std::move(spec.name);
  node->type_ = std::move(spec.type);
  node->device_ = std::move(spec.device);
  node->inputs_ = std::move(spec.inputs);
  node->control_inputs_ = std::move(spec.control_inputs);
  node->attrs_ = std::move(spec.attrs);
  node->output_dtypes_ = ctx.output_dtypes();
  node->output_shapes_ = ctx.output_shapes();
  names_in_use_.emplace(Lower(node->name_), 1);
  Node* raw = node.get();
  by_name_[raw->name_] = raw;
  nodes_.push_back(std::move(node));
  return raw;
}

Node* Graph::FindNode(std::string_view name) const {
  auto it = by_name_.find(std::string(name));
  return it == by_name_.end() ? nullptr : it->second;
}

StatusOr<Node*> Graph::GetOperationByName(std::string_view name) const {
  if (name.find(':') != std::string_view::npos) {
    return InvalidArgumentError("'", name, "' names a tensor; an operation name has no ':<index>'");
  }
  Node* n = FindNode(name);
  if (n == nullptr) return NotFoundError("The name '", name, "' refers to an Operation not in the graph.");
  return n;
}

StatusOr<Output> Graph::GetTensorByName(std::string_view name) const {
  const size_t colon = name.rfind(':');
  int index = -1;
  if (colon != std::string_view::npos) {
    auto r = std::from_chars(name.data() + colon + 1, name.data() + name.size(), index);
    if (r.ec != std::errc() || r.ptr != name.data() + name.size()) index = -1;
  }
  if (index < 0) {
    return InvalidArgumentError("The name '", name,
                                "' looks like an (invalid) Operation name, not a Tensor. Tensor "
                                "names must be of the form \"<op_name>:<output_index>\".");
  }
  const std::string_view op = name.substr(0, colon);
  Node* n = FindNode(op);
  if (n == nullptr) {
    return NotFoundError("The name '", name, "' refers to a Tensor which does not exist. The "
                         "operation, '", op, "', does not exist in the graph.");
  }
  if (index >= n->num_outputs()) {
    return NotFoundError("The name '", name, "' refers to a Tensor which does not exist. The "
                         "operation, '", op, "', exists but only has ", n->num_outputs(),
                         " outputs.");
  }
  return Output{n, index};
}

Variable* Graph::AddVariable(Variable v) {
  variables_.push_back(std::make_unique<Variable>(std::move(v)));
  return variables_.back().get();
}

const Variable* Graph::FindVariable(std::string_view name) const {
  for (const auto& v : variables_) {
    if (v->name == name) return v.get();
  }
  return nullptr;
}

std::vector<const Variable*> Graph::VariablesInCollection(const std::string& key) const {
  std::vector<const Variable*> out;
  for (const CollectionItem& item : GetCollection(key)) {
    if (const auto* v = std::get_if<const Variable*>(&item)) out.push_back(*v);
  }
  return out;
}

void Graph::AddToCollection(const std::string& key, CollectionItem item) {
  collections_[key].push_back(item);  // a list, as TensorFlow's: adding twice keeps both
}

const std::vector<CollectionItem>& Graph::GetCollection(const std::string& key) const {
  static const std::vector<CollectionItem>* const kEmpty = new std::vector<CollectionItem>();
  auto it = collections_.find(key);
  return it == collections_.end() ? *kEmpty : it->second;
}

std::vector<std::string> Graph::CollectionKeys() const {
  std::vector<std::string> keys;
  for (const auto& [k, v] : collections_) keys.push_back(k);
  return keys;
}

// ---------------------------------------------------------------------------

OpRegistry* OpRegistry::Global() {
  static OpRegistry* const r = new OpRegistry();
  return r;
}

void OpRegistry::Register(OpDef def) {
  CHECK(def.shape_fn) << "op " << def.type << " registered without a shape function";
  const std::string type = def.type;
  CHECK(ops_.emplace(type, std::move(def)).second) << "op " << type << " registered twice";
}

const OpDef* OpRegistry::Lookup(std::string_view type) const {
  auto it = ops_.find(type);
  return it == ops_.end() ? nullptr : &it->second;
}

std::vector<std::string> OpRegistry::Types() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : ops_) out.push_back(k);
  return out;
}

}  // namespace psflow
