// Optimizer updates as plain functions on tensors: the graph's Apply* ops
// call them, and parameter servers call them directly on their shards.
//
//   RETURN_IF_ERROR(apply::Adam(&var, &m, &v, {.lr = 1e-3f}, beta1_power, beta2_power, grad));
//   RETURN_IF_ERROR(apply::SparseAdagrad(&emb, &accum, {.lr = 0.1f}, rows, row_grads));
//
// The formulas are TensorFlow's (ApplyAdam, ApplyMomentum, ...), so a model
// trained with psflow and one trained with TensorFlow take the same steps.
// Dense functions require var, slots and grad of one shape; sparse ones take
// int64 row indices [n] and gradients [n, ...] for those rows (repeated rows
// are applied one after another, as TensorFlow's sparse apply kernels do;
// TensorFlow's optimizers sum them first: SumDuplicateRows).
// float and double tensors.  Not thread-safe: callers lock the variable.
#pragma once

#include <initializer_list>

#include "common/core/tensor.h"

namespace psflow::apply {

struct Hyper {
  float lr = 0.01f;
  float momentum = 0.9f;      // Momentum, RMSProp
  bool nesterov = false;      // Momentum
  float beta1 = 0.9f;         // Adam
  float beta2 = 0.999f;       // Adam
  float epsilon = 1e-8f;      // Adam (TF default 1e-8), RMSProp (1e-10)
  float rho = 0.9f;           // RMSProp decay
  float l1 = 0.f, l2 = 0.f;   // FTRL
  float lr_power = -0.5f;     // FTRL
};

Status GradientDescent(Tensor* var, const Hyper& h, const Tensor& grad);
Status Momentum(Tensor* var, Tensor* accum, const Hyper& h, const Tensor& grad);
Status Adagrad(Tensor* var, Tensor* accum, const Hyper& h, const Tensor& grad);
Status Adam(Tensor* var, Tensor* m, Tensor* v, const Hyper& h, double beta1_power,
            double beta2_power, const Tensor& grad);
Status RMSProp(Tensor* var, Tensor* ms, Tensor* mom, const Hyper& h, const Tensor& grad);
Status Ftrl(Tensor* var, Tensor* accum, Tensor* linear, const Hyper& h, const Tensor& grad);

// The dtype and shape checks every apply makes (indices null: dense), with
// the message the apply would give; the bounds of sparse indices are not
// checked here (GPU applies check them on the device).
Status CheckShapes(const char* op, const Tensor* var, std::initializer_list<const Tensor*> slots, const Tensor& grad,
                   const Tensor* indices);

// Row-sparse versions: only rows `indices` of var and slots change.
// SparseAdam is LazyAdam (tf.contrib.opt.LazyAdamOptimizer); TensorFlow's
// AdamOptimizer._apply_sparse is AdamWithSparseGradient.
Status SparseGradientDescent(Tensor* var, const Hyper& h, const Tensor& indices, const Tensor& grad);
Status SparseMomentum(Tensor* var, Tensor* accum, const Hyper& h, const Tensor& indices, const Tensor& grad);
Status SparseAdagrad(Tensor* var, Tensor* accum, const Hyper& h, const Tensor& indices, const Tensor& grad);
Status SparseAdam(Tensor* var, Tensor* m, Tensor* v, const Hyper& h, double beta1_power,
                  double beta2_power, const Tensor& indices, const Tensor& grad);
// TensorFlow's AdamOptimizer._apply_sparse: the moments of every row decay,
// the given rows' gradients are added to them, and every row of var moves
// (a pass over the whole variable per apply, as in TensorFlow).
Status AdamWithSparseGradient(Tensor* var, Tensor* m, Tensor* v, const Hyper& h, double beta1_power,
                              double beta2_power, const Tensor& indices, const Tensor& grad);
Status SparseRMSProp(Tensor* var, Tensor* ms, Tensor* mom, const Hyper& h, const Tensor& indices,
                     const Tensor& grad);
Status SparseFtrl(Tensor* var, Tensor* accum, Tensor* linear, const Hyper& h, const Tensor& indices,
                  const Tensor& grad);

// An IndexedSlices with each row once, the gradients of repeated rows
// summed (TensorFlow's Optimizer._apply_sparse_duplicate_indices); the
// inputs themselves when no row repeats.
struct RowSparse {
  Tensor indices;
  Tensor grad;
};
StatusOr<RowSparse> SumDuplicateRows(const Tensor& indices, const Tensor& grad);

}  // namespace psflow::apply
