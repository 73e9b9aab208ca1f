// Tensor: a dtype, a shape and a ref-counted, aligned buffer on a device.
//
//   Tensor t(DType::kFloat, TensorShape({2, 3}));   // uninitialised CPU memory
//   std::span<float> v = t.flat<float>();  v[0] = 1.f;
//   Tensor s = Tensor::Scalar<int64_t>(100);
//   Tensor names(DType::kString, TensorShape({2}));  names.flat<std::string>()[0] = "a";
//
// Copies of a Tensor share the buffer (copy is O(1)); use DeepCopy() for a
// private copy.  A buffer carries a Device tag so that CUDA buffers fit in the
// same type later; host accessors require a host buffer.  Thread-compatible:
// concurrent reads are fine, writers synchronize.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/core/dtype.h"
#include "common/core/status.h"
#include "common/core/tensor_shape.h"

namespace psflow {

struct Device {
  enum class Type { kCPU, kGPU };
  Type type = Type::kCPU;
  int index = 0;
  bool is_host() const { return type == Type::kCPU; }
  std::string ToString() const;  // "cpu:0", "gpu:1"
  friend bool operator==(const Device&, const Device&) = default;
};

// Memory that backs tensors.  Subclasses own the bytes; GPU devices return
// their own subclass.  Thread-safe after construction.
class TensorBuffer {
 public:
  virtual ~TensorBuffer() = default;
  virtual void* data() const = 0;
  virtual size_t size() const = 0;  // bytes
  virtual Device device() const = 0;
  // Copies bytes [offset, offset + bytes) into host memory at dst (device
  // buffers wait for the work queued on them).  The default copies host
  // memory and refuses device memory: device buffers override it.
  virtual Status CopyToHost(size_t offset, void* dst, size_t bytes) const;
};

// Alignment of host buffers; enough for AVX-512 loads and Eigen's packets.
inline constexpr size_t kTensorAlignment = 64;

class Tensor {
 public:
  Tensor() = default;  // an empty float scalar without a buffer: !initialized()
  // Allocates host memory for `shape` (strings are default-constructed,
  // numbers are left uninitialised).
  Tensor(DType dtype, TensorShape shape);
  // Wraps an existing buffer; REQUIRES buffer->size() == bytes for the shape.
  Tensor(DType dtype, TensorShape shape, std::shared_ptr<TensorBuffer> buffer);

  template <typename T>
  static Tensor Scalar(T v) {
    Tensor t(DTypeOf<T>::value, TensorShape({}));
    t.flat<T>()[0] = std::move(v);
    return t;
  }
  template <typename T>
  static Tensor FromVector(const std::vector<T>& v, TensorShape shape) {
    Tensor t(DTypeOf<T>::value, std::move(shape));
    std::span<T> f = t.flat<T>();
    for (size_t i = 0; i < f.size() && i < v.size(); ++i) f[i] = v[i];
    return t;
  }

  bool initialized() const { return buffer_ != nullptr; }
  DType dtype() const { return dtype_; }
  const TensorShape& shape() const { return shape_; }
  int64_t num_elements() const { return shape_.num_elements(); }
  // Bytes of the buffer (for strings, the std::string objects, not their text).
  size_t TotalBytes() const { return buffer_ ? buffer_->size() : 0; }
  Device device() const { return buffer_ ? buffer_->device() : Device{}; }

  // The bytes, for host code: a device tensor aborts here, naming its
  // device (copy it first), so a missing copy fails in the GPU emulator too,
  // where device memory would otherwise be readable from the host.
  void* raw_data() const {
    if (buffer_ != nullptr && !buffer_->device().is_host()) FailHostAccess();
    return device_data();
  }
  // The buffer's address on whichever device holds it: for GPU kernels and
  // host-device copies only.
  void* device_data() const { return buffer_ ? buffer_->data() : nullptr; }
  // Typed host views; REQUIRES the dtype matches T and the buffer is on the
  // host (a device tensor aborts here, as raw_data() does).
  template <typename T>
  std::span<T> flat() const {
    return std::span<T>(static_cast<T*>(raw_data()), static_cast<size_t>(num_elements()));
  }
  // This tensor when it is on the host, else a host copy of it.
  StatusOr<Tensor> ToHost() const;

  // True when dtype, shape and every element are equal (host tensors only).
  bool Equals(const Tensor& other) const;
  Tensor DeepCopy() const;
  // Rows [begin, end) of dimension 0, sharing this tensor's buffer (no copy;
  // writes show in both).  REQUIRES rank >= 1, 0 <= begin <= end <= dim(0),
  // a non-string dtype.
  Tensor SliceRows(int64_t begin, int64_t end) const;
  // The same buffer seen with another shape of as many elements (no copy).
  // REQUIRES a non-string dtype and shape.num_elements() == num_elements().
  Tensor Reshaped(TensorShape shape) const;
  // "float [2,3] {1, 2, 3, ...}" with at most `max_elements` values.
  std::string DebugString(int64_t max_elements = 10) const;
  // One element as text: numbers in shortest round-trip form, strings quoted.
  std::string ElementString(int64_t i) const;

 private:
  [[noreturn]] void FailHostAccess() const;

  DType dtype_ = DType::kFloat;
  TensorShape shape_;
  std::shared_ptr<TensorBuffer> buffer_;
};

// Allocates `bytes` of aligned host memory as a TensorBuffer.
std::shared_ptr<TensorBuffer> AllocateHostBuffer(size_t bytes);

}  // namespace psflow
