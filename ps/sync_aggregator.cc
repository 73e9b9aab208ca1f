#include "ps/sync_aggregator.h"

namespace psflow {
namespace {

Tensor Scaled(const Tensor& g, int64_t replicas) {
  Tensor s = g.DeepCopy();
  if (s.dtype() == DType::kFloat) {
    for (float& x : s.flat<float>()) x /= static_cast<float>(replicas);
  } else if (s.dtype() == DType::kDouble) {
    for (double& x : s.flat<double>()) x /= static_cast<double>(replicas);
  }
  return s;
}

}  // namespace

SyncAggregator::Outcome SyncAggregator::Add(const std::vector<PushItem>& grads, int64_t step) {
  if (step < step_) return kStale;
  for (const PushItem& g : grads) pending_[g.name].push_back(g);
  return ++received_ < replicas_ ? kPending : kComplete;
}

StatusOr<SyncAggregator::Mean> SyncAggregator::TakeMean() {
  Mean mean;
  for (auto& [name, items] : pending_) {
    VariableStats& in = mean.received[name];
    Tensor sum;
    for (const PushItem& g : items) {
      ++in.pushes;
      in.bytes_in += static_cast<int64_t>(g.grad.TotalBytes());
      Tensor scaled = Scaled(g.grad, replicas_);
      if (g.rows.initialized()) {
        mean.items.push_back({.name = name, .grad = std::move(scaled), .rows = g.rows});
        continue;
      }
      if (!sum.initialized()) {
        sum = std::move(scaled);
      } else if (!(sum.shape() == scaled.shape()) || sum.dtype() != scaled.dtype()) {
        // The error first: Reset frees `name` (a key of pending_; found by ASan).
        Status error = InvalidArgumentError("pushes for ", name, " disagree on the gradient's shape");
        Reset(step_);  // the step's pushes are dropped; the step is aggregated again
        return error;
      } else if (sum.dtype() == DType::kFloat) {
        auto a = sum.flat<float>();
        auto b = scaled.flat<float>();
        for (size_t i = 0; i < a.size(); ++i) a[i] += b[i];
      } else if (sum.dtype() == DType::kDouble) {
        auto a = sum.flat<double>();
        auto b = scaled.flat<double>();
        for (size_t i = 0; i < a.size(); ++i) a[i] += b[i];
      } else {
        Status error = InvalidArgumentError("cannot average ", DTypeName(sum.dtype()), " gradients of ", name);
        Reset(step_);
        return error;
      }
    }
    if (sum.initialized()) mean.items.push_back({.name = name, .grad = std::move(sum)});
  }
  Reset(step_ + 1);
  return mean;
}

void SyncAggregator::Reset(int64_t step) {
  pending_.clear();
  received_ = 0;
  step_ = step;
}

}  // namespace psflow
