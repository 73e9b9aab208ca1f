// Graph: a static dataflow graph of named nodes, following TensorFlow's
// naming rules exactly.
//
//   Graph g;
//   Scope root(&g);
//   Output a = ops::Const(root, 1.0f);            // node "Const",   output "Const:0"
//   Output b = ops::Const(root, 2.0f);            // node "Const_1"
//   g.UniqueName("const") == "const_2"            // case-insensitive uniquification
//   ASSIGN_OR_RETURN(Output t, g.GetTensorByName("Const_1:0"));
//
// Nodes are created through Graph::AddNode, which runs the op's shape
// function (see op_registry.h) so every output has a dtype and a partial
// shape from the start.  Nodes are owned by the graph and never removed, so
// Node* and Output stay valid for the graph's lifetime.
// Not thread-safe: build a graph from one thread, then run it from many.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "common/graph/attr_value.h"

namespace psflow {

class Graph;
class Node;

// One output of a node: "node:index".
struct Output {
  Node* node = nullptr;
  int index = 0;

  bool valid() const { return node != nullptr; }
  std::string name() const;
  DType dtype() const;
  const PartialShape& shape() const;
  friend bool operator==(const Output&, const Output&) = default;
  friend bool operator<(const Output& a, const Output& b);
};

// What a caller asks for when creating a node.
struct NodeSpec {
  std::string type;
  std::string name;  // the full, unique name (Scope::OpName makes one)
  std::vector<Output> inputs;
  std::vector<Node*> control_inputs;
  std::map<std::string, AttrValue> attrs;
  std::string device;
};

class Node {
 public:
  int id() const { return id_; }
  const std::string& name() const { return name_; }
  const std::string& type() const { return type_; }
  const std::string& device() const { return device_; }
  const std::vector<Output>& inputs() const { return inputs_; }
  const std::vector<Node*>& control_inputs() const { return control_inputs_; }
  const std::map<std::string, AttrValue>& attrs() const { return attrs_; }
  int num_outputs() const { return static_cast<int>(output_dtypes_.size()); }
  DType output_dtype(int i) const { return output_dtypes_[static_cast<size_t>(i)]; }
  const PartialShape& output_shape(int i) const { return output_shapes_[static_cast<size_t>(i)]; }
  Output output(int i) { return Output{this, i}; }
  Graph* graph() const { return graph_; }

  bool HasAttr(std::string_view name) const { return attrs_.find(std::string(name)) != attrs_.end(); }
  // The attribute as T; InvalidArgument naming node, attribute and types if
  // it is missing or of another type.
  template <typename T>
  StatusOr<T> GetAttr(std::string_view name) const {
    auto it = attrs_.find(std::string(name));
    if (it == attrs_.end()) return MissingAttr(name);
    if (const T* v = std::get_if<T>(&it->second)) return *v;
    return WrongAttrType(name, it->second);
  }
  void AddControlInput(Node* n);
  // Narrows an output's shape (e.g. set_shape); InvalidArgument if incompatible.
  Status RefineOutputShape(int i, const PartialShape& shape);

 private:
  friend class Graph;
  Status MissingAttr(std::string_view name) const;
  Status WrongAttrType(std::string_view name, const AttrValue& v) const;

  Graph* graph_ = nullptr;
  int id_ = 0;
  std::string name_;
  std::string type_;
  std::string device_;
  std::vector<Output> inputs_;
  std::vector<Node*> control_inputs_;
  std::map<std::string, AttrValue> attrs_;
  std::vector<DType> output_dtypes_;
  std::vector<PartialShape> output_shapes_;
};

// A dynamic embedding table (no fixed vocabulary; DeepRec's
// EmbeddingVariable): in a graph, the variables <base>-keys (int64 [?]),
// <base>-values (float [?, dim], the trainable one, which carries this),
// <base>-freqs and <base>-versions (int64 [?]), empty at first and read by
// DynamicEmbeddingLookup; on parameter servers, a hash table per PS task
// (ps/dynamic_table.h) that creates rows as ids come.
struct EmbeddingVariableSpec {
  std::string base;
  int64_t dim = 0;
  bool zeros_init = false;  // else truncated normal of `stddev`
  float stddev = 1.f;
  uint64_t seed = 0;          // a row's initial value depends on (seed, id) only
  int64_t filter_freq = 0;    // rows for ids seen this many times (<= 1: at once)
  int64_t steps_to_live = 0;  // rows unseen this many global steps are evicted (0: never)
  int64_t max_rows = 0;       // cap over all PS tasks (0: none)
  bool evict_when_full = true;  // at the cap: evict the least recently seen rows, or fail
};

// A variable of the graph, as tf.Variable / tf.get_variable describe it.
struct Variable {
  std::string name;      // "dense/kernel" (the checkpoint key)
  Output ref;            // the VariableV2 node's output
  Output value;          // "dense/kernel/read:0", what the model reads
  Node* initializer = nullptr;  // the Assign node that sets the initial value
  Output initial_value;
  DType dtype = DType::kFloat;
  PartialShape shape;
  bool trainable = true;
  std::shared_ptr<const EmbeddingVariableSpec> embedding;  // set on a dynamic table's -values variable
};

// Standard collection names (TensorFlow's GraphKeys).
namespace collections {
inline constexpr char kGlobalVariables[] = "variables";
inline constexpr char kLocalVariables[] = "local_variables";
inline constexpr char kTrainableVariables[] = "trainable_variables";
inline constexpr char kModelVariables[] = "model_variables";
inline constexpr char kMovingAverageVariables[] = "moving_average_variables";
inline constexpr char kGlobalStep[] = "global_step";
inline constexpr char kUpdateOps[] = "update_ops";
inline constexpr char kLosses[] = "losses";
inline constexpr char kSummaries[] = "summaries";
}  // namespace collections

using CollectionItem = std::variant<const Variable*, Output, Node*>;

class Graph {
 public:
  Graph();
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  // Adds a node after running its op's shape function.  The name must not
  // be in use (make it with UniqueName or Scope::OpName).  Errors name the
  // node and op type.
  StatusOr<Node*> AddNode(NodeSpec spec);

  // TensorFlow's Graph.unique_name: `name` if unused, else name_1, name_2...;
  // comparisons ignore case.  mark_as_used=false only peeks.
  std::string UniqueName(const std::string& name, bool mark_as_used = true);
  // Marks an exact name as used (for names that must not be uniquified,
  // such as variables); false if it was already in use.
  bool ReserveName(const std::string& name);

  Node* FindNode(std::string_view name) const;
  // "scope/op": NotFound naming the operation if missing.
  StatusOr<Node*> GetOperationByName(std::string_view name) const;
  // "scope/op:0": the tensor; errors explain the "op:index" form.
  StatusOr<Output> GetTensorByName(std::string_view name) const;
  const std::vector<std::unique_ptr<Node>>& nodes() const { return nodes_; }
  int num_nodes() const { return static_cast<int>(nodes_.size()); }

  // Variables (owned by the graph) and collections.
  Variable* AddVariable(Variable v);
  const Variable* FindVariable(std::string_view name) const;
  std::vector<const Variable*> VariablesInCollection(const std::string& key) const;
  void AddToCollection(const std::string& key, CollectionItem item);
  const std::vector<CollectionItem>& GetCollection(const std::string& key) const;
  std::vector<std::string> CollectionKeys() const;

  // Graph-level random seed (tf.set_random_seed); ops combine it with their
  // op seed.  nullopt: nondeterministic unless an op seed is set.
  std::optional<int64_t> seed() const { return seed_; }
  void set_seed(int64_t s) { seed_ = s; }
  // A fresh op seed for random ops without one when the graph seed is set
  // (TensorFlow uses the op count; so does psflow).
  int64_t NextOpSeed() { return static_cast<int64_t>(nodes_.size()); }

 private:
  std::vector<std::unique_ptr<Node>> nodes_;
  std::unordered_map<std::string, Node*> by_name_;
  std::unordered_map<std::string, int> names_in_use_;  // lower-cased name -> count
  std::vector<std::unique_ptr<Variable>> variables_;
  std::map<std::string, std::vector<CollectionItem>, std::less<>> collections_;
  std::optional<int64_t> seed_;
};

}  // namespace psflow
