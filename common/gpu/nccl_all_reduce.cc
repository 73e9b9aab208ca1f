// GpuAllReduce over NCCL: one communicator per CUDA device of this process
// (ncclCommInitAll), each device's tensors scaled by its weight on its
// stream, then one grouped ncclAllReduce(sum) per tensor.
#include <nccl.h>

#include <vector>

#include "common/gpu/all_reduce.h"
#include "common/gpu/gpu_backend.h"
#include "common/gpu/gpu_status.h"


namespace psflow {
namespace {

// Evaluates `expr` once and converts its result.
Status Nccl(ncclResult_t r, const char* call, int device) { return NcclStatus(static_cast<int>(r), ncclGetErrorString(r), call, device); }

class NcclAllReduce final : public GpuAllReduce {
 public:
  NcclAllReduce(std::vector<cuda::Backend*> cuda_devices, std::vector<GpuDevice*> devices)
      : GpuAllReduce(std::move(devices)), cuda_(std::move(cuda_devices)) {}
  ~NcclAllReduce() override {
    for (ncclComm_t c : comms_) ncclCommDestroy(c);
  }
  Status Init() {
    std::vector<int> ids;
    for (cuda::Backend* d : cuda_) ids.push_back(d->device().index);
    comms_.resize(cuda_.size());
    return Nccl(ncclCommInitAll(comms_.data(), static_cast<int>(ids.size()), ids.data()), "ncclCommInitAll", ids[0]);
  }
  std::string name() const override { return "nccl"; }

 protected:
  // One grouped ncclAllReduce per tensor.  The arguments were checked
  // before (a device that left the group half-way would leave the others'
  // all-reduces waiting for it forever).
  Status Sum(std::vector<std::vector<Tensor>>& t) override {
    RETURN_IF_ERROR(Nccl(ncclGroupStart(), "ncclGroupStart", devices_[0]->device().index));
    Status st;
    for (size_t i = 0; i < t.size() && st.ok(); ++i) {
      for (size_t k = 0; k < t[i].size() && st.ok(); ++k) {
        Tensor& x = t[i][k];
        st = Nccl(ncclAllReduce(x.device_data(), x.device_data(), static_cast<size_t>(x.num_elements()),
                                x.dtype() == DType::kFloat ? ncclFloat32 : ncclFloat64, ncclSum, comms_[i], cuda_[i]->stream()),
                  "ncclAllReduce", devices_[i]->device().index);
      }
    }
    // The group is closed even after an error, or NCCL stays in group mode.
    const Status end = Nccl(ncclGroupEnd(), "ncclGroupEnd", devices_[0]->device().index);
    RETURN_IF_ERROR(st);
    return end;
  }

 private:
  const std::vector<cuda::Backend*> cuda_;  // devices_, as CUDA backends
  std::vector<ncclComm_t> comms_;
};

}  // namespace

StatusOr<std::unique_ptr<GpuAllReduce>> CreateNcclAllReduce(const std::vector<GpuDevice*>& devices) {
  std::vector<cuda::Backend*> cuda_devices;
  for (GpuDevice* d : devices) {
    if (d->backend_id() != cuda::Backend::Id()) return std::unique_ptr<GpuAllReduce>();  // not CUDA: host staging
    cuda_devices.push_back(static_cast<cuda::Backend*>(d));
  }
  auto ar = std::make_unique<NcclAllReduce>(std::move(cuda_devices), devices);
  RETURN_IF_ERROR(ar->Init());
  return std::unique_ptr<GpuAllReduce>(std::move(ar));
}

}  // namespace psflow
