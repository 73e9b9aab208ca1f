// Variables as TensorFlow's ref variables: VariableV2 names a slot in the
// VariableStore; Assign/AssignAdd/AssignSub write it; reading goes through
// an Identity ("<name>/read").
#include "common/ops/op_util.h"
#include "common/ops/ops.h"

#include <mutex>

namespace psflow {
namespace {

using op_util::DefineOp;

// The variable a ref input names: the VariableV2 node's name.
StatusOr<std::string> RefName(OpKernelContext& c) {
  const Node* var = c.node().inputs()[0].node;
  if (var->type() != "VariableV2") {
    return InvalidArgumentError("input 0 of ", c.node().name(), " must be a variable, got ",
                                var->name(), " (", var->type(), ")");
  }
  return var->name();
}

Status AssignShape(InferenceContext& c) {
  if (c.input_dtype(0) != c.input_dtype(1)) {
    return InvalidArgumentError("cannot assign a ", c.input_dtype(1), " value to a ",
                                c.input_dtype(0), " variable");
  }
  if (!c.input_shape(0).IsCompatibleWith(c.input_shape(1))) {
    return InvalidArgumentError("Shapes must be equal: variable ", c.input_shape(0).DebugString(),
                                " vs value ", c.input_shape(1).DebugString());
  }
  return op_util::UnchangedShape(c);
}

template <typename T>
void Accumulate(Tensor* v, const Tensor& d, T sign) {
  auto a = v->flat<T>();
  auto b = d.flat<T>();
  for (size_t i = 0; i < a.size(); ++i) a[i] += sign * b[i];
}

Status AssignUpdate(OpKernelContext& c, int sign) {
  ASSIGN_OR_RETURN(std::string name, RefName(c));
  const Tensor& delta = c.input(1);
  Tensor result;
  RETURN_IF_ERROR(c.variables()->Update(name, [&](Tensor* v) -> Status {
    if (!(v->shape() == delta.shape())) {
      return InvalidArgumentError("cannot update variable ", name, " of shape ",
                                  v->shape().DebugString(), " with a value of shape ",
                                  delta.shape().DebugString());
    }
    PSFLOW_NUMERIC_DISPATCH(v->dtype(), Accumulate<T>(v, delta, static_cast<T>(sign)));
    result = *v;
    return OkStatus();
  }));
  c.SetOutput(0, result);
  return OkStatus();
}

}  // namespace

void RegisterStateOpsOnce() {
  DefineOp({.type = "VariableV2",
            .num_inputs = 0,
            .shape_fn = op_util::DtypeShapeFromAttrs,
            .stateful = true},
           [](OpKernelContext& c) -> Status {
             // An uninitialized variable yields an empty tensor here; the
             // executor reports it when a non-ref consumer needs the value.
             auto v = c.variables()->Read(c.node().name());
             if (v.ok()) c.SetOutput(0, *v);
             return OkStatus();
           });
  DefineOp({.type = "Assign", .num_inputs = 2, .shape_fn = AssignShape, .stateful = true,
            .ref_inputs = {0}},
           [](OpKernelContext& c) -> Status {
             ASSIGN_OR_RETURN(std::string name, RefName(c));
             const PartialShape& declared = c.node().inputs()[0].shape();
             if (!declared.IsCompatibleWith(c.input(1).shape())) {
               return InvalidArgumentError("Assign requires shapes of both tensors to match. lhs shape= ",
                                           declared.DebugString(), " rhs shape= ",
                                           c.input(1).shape().DebugString());
             }
             // A private copy, so later in-place updates never touch the source.
             Tensor value = c.input(1).DeepCopy();
             RETURN_IF_ERROR(c.variables()->Assign(name, value));
             c.SetOutput(0, value);
             return OkStatus();
           });
  DefineOp({.type = "AssignAdd", .num_inputs = 2, .shape_fn = AssignShape, .stateful = true,
            .ref_inputs = {0}},
           [](OpKernelContext& c) { return AssignUpdate(c, +1); });
  DefineOp({.type = "AssignSub", .num_inputs = 2, .shape_fn = AssignShape, .stateful = true,
            .ref_inputs = {0}},
           [](OpKernelContext& c) { return AssignUpdate(c, -1); });
  // Whether the variable has a value yet (TensorFlow's IsVariableInitialized;
  // imported graphs hold one per resource variable, VarIsInitializedOp).
  DefineOp({.type = "IsVariableInitialized",
            .num_inputs = 1,
            .shape_fn = [](InferenceContext& c) -> Status {
              c.AddOutput(DType::kBool, PartialShape({}));
              return OkStatus();
            },
            .stateful = true,
            .ref_inputs = {0}},
           [](OpKernelContext& c) -> Status {
             const Node& var = *c.node().inputs()[0].node;
             if (var.type() != "VariableV2") {
               return InvalidArgumentError("IsVariableInitialized (node ", c.node().name(), ") reads ", var.name(),
                                           ", which is not a variable");
             }
             c.SetOutput(0, Tensor::Scalar<bool>(c.variables()->IsInitialized(var.name())));
             return OkStatus();
           });
}

namespace ops {
Output VariableV2(const Scope& s, const std::string& exact_name, DType dtype, PartialShape shape) {
  RegisterStandardOps();
  auto n = s.AddNodeExact({.type = "VariableV2", .name = exact_name,
                           .attrs = {{"dtype", dtype}, {"shape", std::move(shape)}}});
  return n.ok() ? (*n)->output(0) : Output{};
}
Output Assign(const Scope& s, Output ref, Output value, const std::string& name) {
  return MakeOp(s, "Assign", name, {ref, value});
}
Output AssignAdd(const Scope& s, Output ref, Output value, const std::string& name) {
  return MakeOp(s, "AssignAdd", name, {ref, value});
}
Output AssignSub(const Scope& s, Output ref, Output value, const std::string& name) {
  return MakeOp(s, "AssignSub", name, {ref, value});
}
}  // namespace ops

void RegisterArrayOpsOnce();
void RegisterMathOpsOnce();
void RegisterNnOpsOnce();
void RegisterMatMulOnce();
void RegisterRandomOpsOnce();
void RegisterShapeOpsOnce();
void RegisterConvOpsOnce();
void RegisterEmbeddingOpsOnce();
void RegisterFeatureOpsOnce();

void RegisterStandardOps() {
  static std::once_flag once;
  std::call_once(once, [] {
    RegisterArrayOpsOnce();
    RegisterMathOpsOnce();
    RegisterNnOpsOnce();
    RegisterMatMulOnce();
    RegisterStateOpsOnce();
    RegisterRandomOpsOnce();
    RegisterShapeOpsOnce();
    RegisterConvOpsOnce();
    RegisterEmbeddingOpsOnce();
    RegisterFeatureOpsOnce();
  });
}

}  // namespace psflow
