// OpRegistry: what psflow knows about each op type, kept in one place per op:
// its shape function here, its gradient (GradFn) and its kernels per device
// (common/ops).
//
//   OpRegistry::Global()->Register({.type = "Relu", .shape_fn = UnchangedShape,
//                                   .grad = ReluGrad});
//
// Registration happens once, from ops::RegisterStandardOps().  Thread-safe
// for lookups after registration.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/graph/graph.h"

namespace psflow {

class Scope;

// Handed to an op's shape function while its node is created.
class InferenceContext {
 public:
  explicit InferenceContext(const NodeSpec& spec) : spec_(spec) {}
  const NodeSpec& spec() const { return spec_; }
  int num_inputs() const { return static_cast<int>(spec_.inputs.size()); }
  DType input_dtype(int i) const { return spec_.inputs[static_cast<size_t>(i)].dtype(); }
  const PartialShape& input_shape(int i) const { return spec_.inputs[static_cast<size_t>(i)].shape(); }
  template <typename T>
  StatusOr<T> GetAttr(const std::string& name) const {
    auto it = spec_.attrs.find(name);
    if (it == spec_.attrs.end()) return InvalidArgumentError("missing attribute '", name, "'");
    if (const T* v = std::get_if<T>(&it->second)) return *v;
    return InvalidArgumentError("attribute '", name, "' is a ", AttrTypeName(it->second));
  }
  void AddOutput(DType dtype, PartialShape shape) {
    dtypes_.push_back(dtype);
    shapes_.push_back(std::move(shape));
  }
  const std::vector<DType>& output_dtypes() const { return dtypes_; }
  const std::vector<PartialShape>& output_shapes() const { return shapes_; }

 private:
  const NodeSpec& spec_;
  std::vector<DType> dtypes_;
  std::vector<PartialShape> shapes_;
};

using ShapeFn = std::function<Status(InferenceContext&)>;

// Builds the gradient subgraph of one node.  grads_out[i] is the gradient
// flowing into output i (invalid if none reaches it); the function sets
// grads_in[j] to the gradient for input j, or leaves it invalid when the
// input gets none (integer inputs, indices, ...).
struct GradContext {
  const Scope& scope;
  Node* node;
  const std::vector<Output>& grads_out;
  std::vector<Output>* grads_in;
  // Sparse gradients (IndexedSlices) for Gather: rows and their values.
  std::vector<std::optional<std::pair<Output, Output>>>* sparse_grads_in;
};
using GradFn = std::function<Status(GradContext&)>;

struct OpDef {
  std::string type;
  int num_inputs = -1;       // -1: any number
  ShapeFn shape_fn;          // required
  GradFn grad;               // empty: not differentiable
  bool stateful = false;     // reads or writes state (variables, random)
  bool caches = false;       // its kernel keeps a cache across runs (KernelState), e.g. an index
  // Inputs that name a variable rather than read its value (Assign's
  // input 0): they may be uninitialized when the op runs.
  std::vector<int> ref_inputs;
};

class OpRegistry {
 public:
  static OpRegistry* Global();
  // REQUIRES: the type is not registered yet.
  void Register(OpDef def);
  const OpDef* Lookup(std::string_view type) const;
  std::vector<std::string> Types() const;

 private:
  std::map<std::string, OpDef, std::less<>> ops_;
};

}  // namespace psflow
