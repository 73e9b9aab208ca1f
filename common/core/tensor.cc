#include "common/core/tensor.h"

#include <sys/mman.h>

#include <bit>
#include <charconv>
#include <map>
#include <mutex>
#include <cstdlib>
#include <cstring>
#include <new>

#include "common/core/logging.h"

namespace psflow {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kHugeThreshold = size_t{4} << 20;
constexpr size_t kPooledFrom = size_t{64} << 10;

// Freed large blocks are kept for reuse (up to kPoolBytes in all): a worker
// pulls and a PS receives tensors of the same sizes every step, and a fresh
// multi-MiB allocation costs its page faults every time.  Thread-safe.
class LargeBlockPool {
 public:
  static LargeBlockPool& Get() {
    static LargeBlockPool* const p = new LargeBlockPool();
    return *p;
  }
  void* Take(size_t bytes) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = free_.find(bytes);
    if (it == free_.end()) return nullptr;
    void* p = it->second;
    free_.erase(it);
    held_ -= bytes;
    return p;
  }
  void Give(void* p, size_t bytes) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (held_ + bytes <= kPoolBytes) {
        free_.emplace(bytes, p);
        held_ += bytes;
        return;
      }
    }
    std::free(p);
  }

 private:
  static constexpr size_t kPoolBytes = size_t{512} << 20;
  std::mutex mu_;
  std::multimap<size_t, void*> free_;  // GUARDED_BY(mu_)
  size_t held_ = 0;                    // GUARDED_BY(mu_)
};

class HostBuffer final : public TensorBuffer {
 public:
  explicit HostBuffer(size_t bytes) : size_(bytes) {
    // Large buffers (embeddings, big kernels) go on 2 MiB boundaries and ask
    // for transparent huge pages: 512x fewer page faults when they are first
    // filled (restores, pulls) and fewer TLB misses in kernels.
    const size_t align = bytes >= kHugeThreshold ? kHugePage : kTensorAlignment;
    // Buffers from 64 KiB up are pooled (the allocator would map and unmap
    // them, and every reuse would fault and zero their pages again: a
    // step's pulled rows and pushed gradients are such), their sizes rounded
    // up to one of 8 classes per power of two (at most 12.5% more) so that
    // a step's slightly different sizes reuse the same blocks.
    pooled_ = bytes >= kPooledFrom;
    size_t want = bytes;
    if (pooled_) {
      const size_t step = std::bit_floor(bytes) / 8;
      want = (bytes + step - 1) / step * step;
    }
    // aligned_alloc needs a size that is a multiple of the alignment.
    rounded_ = (want + align - 1) / align * align;
    data_ = pooled_ ? LargeBlockPool::Get().Take(rounded_) : nullptr;
    if (data_ != nullptr) return;
    data_ = rounded_ == 0 ? nullptr : std::aligned_alloc(align, rounded_);
    if (rounded_ != 0 && data_ == nullptr) throw std::bad_alloc();
    if (align == kHugePage) ::madvise(data_, rounded_, MADV_HUGEPAGE);  // a hint; failure is fine
  }
  ~HostBuffer() override {
    if (pooled_) {
      LargeBlockPool::Get().Give(data_, rounded_);
    } else {
      std::free(data_);
    }
  }
  void* data() const override { return data_; }
  size_t size() const override { return size_; }
  Device device() const override { return Device{}; }

 private:
  void* data_;
  const size_t size_;
  size_t rounded_ = 0;
  bool pooled_ = false;
};

// Holds std::string elements constructed in place.
class StringBuffer final : public TensorBuffer {
 public:
  explicit StringBuffer(int64_t n) : n_(static_cast<size_t>(n)), strings_(new std::string[n_]) {}
  void* data() const override { return strings_.get(); }
  size_t size() const override { return n_ * sizeof(std::string); }
  Device device() const override { return Device{}; }

 private:
  const size_t n_;
  std::unique_ptr<std::string[]> strings_;
};

// A window on another buffer (Tensor::SliceRows); keeps the parent alive.
class SubBuffer final : public TensorBuffer {
 public:
  SubBuffer(std::shared_ptr<TensorBuffer> parent, size_t offset, size_t size)
      : parent_(std::move(parent)), offset_(offset), size_(size) {}
  void* data() const override { return static_cast<char*>(parent_->data()) + offset_; }
  size_t size() const override { return size_; }
  Device device() const override { return parent_->device(); }
  Status CopyToHost(size_t offset, void* dst, size_t bytes) const override {
    return parent_->CopyToHost(offset_ + offset, dst, bytes);
  }

 private:
  const std::shared_ptr<TensorBuffer> parent_;
  const size_t offset_, size_;
};

template <typename T>
bool ElementsEqual(const Tensor& a, const Tensor& b) {
  auto x = a.flat<T>();
  auto y = b.flat<T>();
  for (size_t i = 0; i < x.size(); ++i) {
    if (!(x[i] == y[i])) return false;
  }
  return true;
}

template <typename T>
std::string NumberString(T v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

}  // namespace

std::string Device::ToString() const {
  return StrCat(type == Type::kCPU ? "cpu:" : "gpu:", index);
}

std::shared_ptr<TensorBuffer> AllocateHostBuffer(size_t bytes) {
  return std::make_shared<HostBuffer>(bytes);
}

Tensor::Tensor(DType dtype, TensorShape shape) : dtype_(dtype), shape_(std::move(shape)) {
  if (dtype_ == DType::kString) {
    buffer_ = std::make_shared<StringBuffer>(shape_.num_elements());
  } else {
    buffer_ = AllocateHostBuffer(static_cast<size_t>(shape_.num_elements()) * DTypeSize(dtype_));
  }
}

Tensor Tensor::SliceRows(int64_t begin, int64_t end) const {
  CHECK_GE(shape_.rank(), 1) << "SliceRows of a scalar";
  CHECK(0 <= begin && begin <= end && end <= shape_.dim(0)) << "rows [" << begin << ", " << end << ") of " << shape_.DebugString();
  CHECK(dtype_ != DType::kString) << "SliceRows of a string tensor";
  std::vector<int64_t> dims = shape_.dims();
  const size_t row_bytes = static_cast<size_t>(shape_.num_elements() / std::max<int64_t>(dims[0], 1)) * DTypeSize(dtype_);
  dims[0] = end - begin;
  return Tensor(dtype_, TensorShape(dims),
                std::make_shared<SubBuffer>(buffer_, static_cast<size_t>(begin) * row_bytes,
                                            static_cast<size_t>(end - begin) * row_bytes));
}

Status TensorBuffer::CopyToHost(size_t offset, void* dst, size_t bytes) const {
  if (!device().is_host()) {
    return InternalError("a tensor buffer on ", device().ToString(), " cannot be copied to the host by this buffer type");
  }
  if (offset + bytes > size()) return InternalError("copy of bytes [", offset, ", ", offset + bytes, ") of a ", size(), "-byte buffer");
  if (bytes > 0) std::memcpy(dst, static_cast<const char*>(data()) + offset, bytes);
  return OkStatus();
}

void Tensor::FailHostAccess() const {
  LOG(FATAL) << "host access to a " << DTypeName(dtype_) << " " << shape_.DebugString() << " tensor on "
             << buffer_->device().ToString() << ": copy it to the host first (Tensor::ToHost)";
  std::abort();
}

StatusOr<Tensor> Tensor::ToHost() const {
  if (buffer_ == nullptr || buffer_->device().is_host()) return *this;
  Tensor h(dtype_, shape_);
  RETURN_IF_ERROR(buffer_->CopyToHost(0, h.raw_data(), TotalBytes()));
  return h;
}

Tensor Tensor::Reshaped(TensorShape shape) const {
  CHECK(dtype_ != DType::kString) << "Reshaped of a string tensor";
  CHECK_EQ(shape.num_elements(), num_elements()) << shape.DebugString() << " vs " << shape_.DebugString();
  Tensor t;
  t.dtype_ = dtype_;
  t.shape_ = std::move(shape);
  t.buffer_ = buffer_;
  return t;
}

Tensor::Tensor(DType dtype, TensorShape shape, std::shared_ptr<TensorBuffer> buffer)
    : dtype_(dtype), shape_(std::move(shape)), buffer_(std::move(buffer)) {
  CHECK(dtype_ != DType::kString) << "string tensors own their buffer";
  CHECK_EQ(buffer_->size(), static_cast<size_t>(shape_.num_elements()) * DTypeSize(dtype_));
}

bool Tensor::Equals(const Tensor& o) const {
  if (dtype_ != o.dtype_ || !(shape_ == o.shape_)) return false;
  if (dtype_ == DType::kString) return ElementsEqual<std::string>(*this, o);
  if (TotalBytes() == 0) return true;
  return std::memcmp(raw_data(), o.raw_data(), TotalBytes()) == 0;
}

Tensor Tensor::DeepCopy() const {
  Tensor t(dtype_, shape_);
  if (dtype_ == DType::kString) {
    auto src = flat<std::string>();
    auto dst = t.flat<std::string>();
    for (size_t i = 0; i < src.size(); ++i) dst[i] = src[i];
  } else if (TotalBytes() > 0) {
    std::memcpy(t.raw_data(), raw_data(), TotalBytes());
  }
  return t;
}

std::string Tensor::ElementString(int64_t i) const {
  const size_t k = static_cast<size_t>(i);
  switch (dtype_) {
    case DType::kFloat: return NumberString(flat<float>()[k]);
    case DType::kDouble: return NumberString(flat<double>()[k]);
    case DType::kInt32: return NumberString(flat<int32_t>()[k]);
    case DType::kInt64: return NumberString(flat<int64_t>()[k]);
    case DType::kBool: return flat<bool>()[k] ? "True" : "False";
    case DType::kHalf: return NumberString(HalfToFloat(flat<Half>()[k]));
    case DType::kBFloat16: return NumberString(BFloat16ToFloat(flat<BFloat16>()[k]));
    case DType::kString: return StrCat("b'", CEscape(flat<std::string>()[k]), "'");
    case DType::kInvalid: break;
  }
  return "?";
}

std::string Tensor::DebugString(int64_t max_elements) const {
  std::string s = StrCat(DTypeName(dtype_), " ", shape_.DebugString(), " {");
  const int64_t n = initialized() ? num_elements() : 0;
  for (int64_t i = 0; i < n && i < max_elements; ++i) {
    if (i > 0) s += ", ";
    s += ElementString(i);
  }
  if (n > max_elements) s += ", ...";
  return s + "}";
}

}  // namespace psflow
