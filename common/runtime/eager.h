// Eager execution: run one op on tensors at once, with the same kernels the
// graph uses (for debugging, tests and the parameter server's own math).
//
//   EagerContext ctx;
//   ASSIGN_OR_RETURN(Tensor c, ctx.Run1("MatMul", {a, b}, {{"transpose_a", false}, {"transpose_b", false}}));
//   ASSIGN_OR_RETURN(Tensor r, eager::Relu(ctx, c));
//
// Shape functions run first, so errors are the ones graph building gives.
// Thread-safe (each call builds its own one-node graph).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/graph/attr_value.h"
#include "common/ops/variable_store.h"

namespace psflow {

class EigenCpu;

class EagerContext {
 public:
  explicit EagerContext(int intra_op_threads = 0);
  ~EagerContext();

  StatusOr<std::vector<Tensor>> Run(const std::string& op_type, const std::vector<Tensor>& inputs,
                                    std::map<std::string, AttrValue> attrs = {});
  // The first output.
  StatusOr<Tensor> Run1(const std::string& op_type, const std::vector<Tensor>& inputs,
                        std::map<std::string, AttrValue> attrs = {});
  VariableStore* variables() { return &variables_; }

 private:
  std::shared_ptr<EigenCpu> cpu_;
  LocalVariableStore variables_;
};

namespace eager {
StatusOr<Tensor> Add(EagerContext& c, const Tensor& x, const Tensor& y);
StatusOr<Tensor> Sub(EagerContext& c, const Tensor& x, const Tensor& y);
StatusOr<Tensor> Mul(EagerContext& c, const Tensor& x, const Tensor& y);
StatusOr<Tensor> Div(EagerContext& c, const Tensor& x, const Tensor& y);
StatusOr<Tensor> MatMul(EagerContext& c, const Tensor& a, const Tensor& b, bool transpose_a = false,
                        bool transpose_b = false);
StatusOr<Tensor> Relu(EagerContext& c, const Tensor& x);
StatusOr<Tensor> Softmax(EagerContext& c, const Tensor& x);
StatusOr<Tensor> Sum(EagerContext& c, const Tensor& x, std::vector<int64_t> axes, bool keep_dims = false);
StatusOr<Tensor> Mean(EagerContext& c, const Tensor& x, std::vector<int64_t> axes, bool keep_dims = false);
StatusOr<Tensor> ArgMax(EagerContext& c, const Tensor& x, int64_t axis);
}  // namespace eager

}  // namespace psflow
