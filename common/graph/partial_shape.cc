#include "common/graph/partial_shape.h"

namespace psflow {

bool PartialShape::IsFullyDefined() const {
  if (unknown_rank_) return false;
  for (int64_t d : dims_) {
    if (d < 0) return false;
  }
  return true;
}

int64_t PartialShape::NumElementsOrUnknown() const {
  if (!IsFullyDefined()) return kUnknownDim;
  int64_t n = 1;
  for (int64_t d : dims_) {
    if (__builtin_mul_overflow(n, d, &n)) return kUnknownDim;  // no tensor that big can exist
  }
  return n;
}

bool PartialShape::IsCompatibleWith(const PartialShape& o) const {
  if (unknown_rank_ || o.unknown_rank_) return true;
  if (dims_.size() != o.dims_.size()) return false;
  for (size_t i = 0; i < dims_.size(); ++i) {
    if (dims_[i] >= 0 && o.dims_[i] >= 0 && dims_[i] != o.dims_[i]) return false;
  }
  return true;
}

StatusOr<PartialShape> PartialShape::Merge(const PartialShape& o) const {
  if (!IsCompatibleWith(o)) {
    return InvalidArgumentError("shapes ", DebugString(), " and ", o.DebugString(),
                                " are not compatible");
  }
  if (unknown_rank_) return o;
  if (o.unknown_rank_) return *this;
  PartialShape out = *this;
  for (size_t i = 0; i < dims_.size(); ++i) {
    if (out.dims_[i] < 0) out.dims_[i] = o.dims_[i];
  }
  return out;
}

std::string PartialShape::DebugString() const {
  if (unknown_rank_) return "<unknown>";
  std::string s = "[";
  for (size_t i = 0; i < dims_.size(); ++i) {
    if (i > 0) s += ",";
    s += dims_[i] < 0 ? std::string("?") : std::to_string(dims_[i]);
  }
  return s + "]";
}

std::ostream& operator<<(std::ostream& os, const PartialShape& s) { return os << s.DebugString(); }

}  // namespace psflow
