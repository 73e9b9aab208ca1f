// GpuAllReduce through the host, and the choice between it and NCCL.
#include "common/gpu/all_reduce.h"

#include <set>

#include "common/core/strcat.h"

namespace psflow {

// nccl_all_reduce.cc (CUDA builds): NCCL over CUDA devices, or null when
// `devices` are not all CUDA devices.
StatusOr<std::unique_ptr<GpuAllReduce>> CreateNcclAllReduce(const std::vector<GpuDevice*>& devices);

Status CheckAllReduceArgs(const std::vector<GpuDevice*>& devices, const std::vector<std::vector<Tensor>>& t,
                   const std::vector<double>& weights) {
  if (t.size() != devices.size() || weights.size() != devices.size()) {
    return InvalidArgumentError("all-reduce over ", devices.size(), " devices got ", t.size(), " tensor lists and ",
                                weights.size(), " weights");
  }
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i].size() != t[0].size()) return InvalidArgumentError("all-reduce: devices hold different numbers of tensors");
    for (size_t k = 0; k < t[i].size(); ++k) {
      const Tensor& x = t[i][k];
      if (x.dtype() != DType::kFloat && x.dtype() != DType::kDouble) {
        return InvalidArgumentError("all-reduce of ", DTypeName(x.dtype()), " tensors (float or double only)");
      }
      if (x.dtype() != t[0][k].dtype() || !(x.shape() == t[0][k].shape())) {
        return InvalidArgumentError("all-reduce: tensor ", k, " is ", DTypeName(x.dtype()), " ", x.shape().DebugString(),
                                    " on ", devices[i]->device().ToString(), " but ", DTypeName(t[0][k].dtype()), " ",
                                    t[0][k].shape().DebugString(), " on ", devices[0]->device().ToString());
      }
      if (x.device() != devices[i]->device()) {
        return InvalidArgumentError("all-reduce: tensor ", k, " of ", devices[i]->device().ToString(), " lives on ",
                                    x.device().ToString());
      }
    }
  }
  return OkStatus();
}

namespace {

class HostAllReduce final : public GpuAllReduce {
 public:
  explicit HostAllReduce(std::vector<GpuDevice*> devices) : GpuAllReduce(std::move(devices)) {}
  std::string name() const override { return "host"; }

 protected:
  Status Sum(std::vector<std::vector<Tensor>>& t) override {
    for (size_t k = 0; k < (t.empty() ? 0 : t[0].size()); ++k) {
      const int64_t n = t[0][k].num_elements();
      std::vector<double> sum(static_cast<size_t>(n), 0.0);
      for (size_t i = 0; i < t.size(); ++i) {
        ASSIGN_OR_RETURN(Tensor h, t[i][k].ToHost());
        for (int64_t e = 0; e < n; ++e) {
          const size_t u = static_cast<size_t>(e);
          sum[u] += h.dtype() == DType::kFloat ? h.flat<float>()[u] : h.flat<double>()[u];
        }
      }
      Tensor out(t[0][k].dtype(), t[0][k].shape());
      for (int64_t e = 0; e < n; ++e) {
        const size_t u = static_cast<size_t>(e);
        if (out.dtype() == DType::kFloat) out.flat<float>()[u] = static_cast<float>(sum[u]);
        else out.flat<double>()[u] = sum[u];
      }
      for (size_t i = 0; i < t.size(); ++i) {
        RETURN_IF_ERROR(devices_[i]->MemcpyHostToDevice(t[i][k].device_data(), out.device_data(), out.TotalBytes()));
      }
    }
    return OkStatus();
  }
};

}  // namespace

#if !defined(PSFLOW_HAVE_NCCL)
StatusOr<std::unique_ptr<GpuAllReduce>> CreateNcclAllReduce(const std::vector<GpuDevice*>&) {
  return std::unique_ptr<GpuAllReduce>();
}
#endif

Status GpuAllReduce::WeightedSum(std::vector<std::vector<Tensor>>& t, const std::vector<double>& weights) {
  RETURN_IF_ERROR(CheckAllReduceArgs(devices_, t, weights));
  for (size_t i = 0; i < t.size(); ++i) {
    if (weights[i] == 1.0) continue;
    RETURN_IF_ERROR(devices_[i]->MakeCurrent());  // kernels launch on the current device's streams only
    for (const Tensor& x : t[i]) RETURN_IF_ERROR(devices_[i]->Scale(x, weights[i]));
  }
  return Sum(t);
}

StatusOr<std::unique_ptr<GpuAllReduce>> GpuAllReduce::Create(std::vector<GpuDevice*> devices) {
  std::set<Device::Type> kinds;
  std::set<int> indices;
  for (GpuDevice* d : devices) {
    if (d == nullptr) return InvalidArgumentError("all-reduce over a null device");
    if (!indices.insert(d->device().index).second) {
      return InvalidArgumentError("all-reduce over ", d->device().ToString(), " twice; list each GPU once");
    }
  }
  if (devices.empty()) return InvalidArgumentError("all-reduce over no devices");
  ASSIGN_OR_RETURN(std::unique_ptr<GpuAllReduce> nccl, CreateNcclAllReduce(devices));
  if (nccl != nullptr) return nccl;
  return std::unique_ptr<GpuAllReduce>(new HostAllReduce(std::move(devices)));
}

}  // namespace psflow
