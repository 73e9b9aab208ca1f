// Status and StatusOr<T>: the error model of every fallible psflow call.
//
//   Status s = file->Sync();
//   if (!s.ok()) return s.WithContext("writing checkpoint ", prefix);
//   StatusOr<Tensor> t = reader.Lookup("dense/kernel");
//   ASSIGN_OR_RETURN(Tensor kernel, reader.Lookup("dense/kernel"));
//
// Codes are the canonical set.  Which code means what to a caller:
//   kUnavailable        the transport failed; retrying the same call may work
//   kAborted            a conflict (restarted peer, stale step); retry the step
//   kDeadlineExceeded   the call took too long; retry if idempotent
//   kFailedPrecondition the system is not in a state for this; do not retry
//   kDataLoss           a file or frame is corrupt; do not retry
//   kInvalidArgument, kNotFound, kAlreadyExists, ...  as usual
//
// Messages say what failed, on which file, key, task or peer, and what to do.
// Thread-safe for concurrent const access; an OK Status allocates nothing.
#pragma once

#include <cerrno>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/core/strcat.h"

namespace psflow {

enum class StatusCode : int {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

// "OK", "INVALID_ARGUMENT", ... as in TensorFlow and gRPC.
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message);

  bool ok() const { return state_ == nullptr; }
  StatusCode code() const { return ok() ? StatusCode::kOk : state_->code; }
  const std::string& message() const;
  // "NOT_FOUND: Key w not found in checkpoint" or "OK".
  std::string ToString() const;

  // Returns a copy whose message is "<context>: <message>", same code and
  // payloads.
  template <typename... Args>
  Status WithContext(const Args&... args) const {
    if (ok()) return *this;
    return WithMessage(StrCat(args..., ": ", message()));
  }

  // Payloads: typed facts about an error that callers test without reading
  // its message (absl::Status's payloads; keys like
  // "psflow.checkpoint_mismatch").  An OK status carries none.
  Status WithPayload(std::string key, std::string value) const;
  std::optional<std::string> GetPayload(std::string_view key) const;

  // Marks a status as checked when the caller deliberately drops it.
  void IgnoreError() const {}

  friend bool operator==(const Status& a, const Status& b) {
    return a.code() == b.code() && a.message() == b.message();
  }

 private:
  Status WithMessage(std::string message) const;

  struct State {
    StatusCode code;
    std::string message;
    std::vector<std::pair<std::string, std::string>> payloads;
  };
  std::shared_ptr<const State> state_;  // null means OK
};

std::ostream& operator<<(std::ostream& os, const Status& s);

inline Status OkStatus() { return Status(); }

#define PSFLOW_DECLARE_ERROR(Name, Code)                        \
  template <typename... Args>                                   \
  Status Name(const Args&... args) {                            \
    return Status(StatusCode::Code, StrCat(args...));           \
  }                                                             \
  inline bool Is##Name(const Status& s) { return s.code() == StatusCode::Code; }

PSFLOW_DECLARE_ERROR(CancelledError, kCancelled)
PSFLOW_DECLARE_ERROR(UnknownError, kUnknown)
PSFLOW_DECLARE_ERROR(InvalidArgumentError, kInvalidArgument)
PSFLOW_DECLARE_ERROR(DeadlineExceededError, kDeadlineExceeded)
PSFLOW_DECLARE_ERROR(NotFoundError, kNotFound)
PSFLOW_DECLARE_ERROR(AlreadyExistsError, kAlreadyExists)
PSFLOW_DECLARE_ERROR(PermissionDeniedError, kPermissionDenied)
PSFLOW_DECLARE_ERROR(ResourceExhaustedError, kResourceExhausted)
PSFLOW_DECLARE_ERROR(FailedPreconditionError, kFailedPrecondition)
PSFLOW_DECLARE_ERROR(AbortedError, kAborted)
PSFLOW_DECLARE_ERROR(OutOfRangeError, kOutOfRange)
PSFLOW_DECLARE_ERROR(UnimplementedError, kUnimplemented)
PSFLOW_DECLARE_ERROR(InternalError, kInternal)
PSFLOW_DECLARE_ERROR(UnavailableError, kUnavailable)
PSFLOW_DECLARE_ERROR(DataLossError, kDataLoss)
PSFLOW_DECLARE_ERROR(UnauthenticatedError, kUnauthenticated)
#undef PSFLOW_DECLARE_ERROR

// Converts an errno value from a failed system call on `context` (usually a
// file name) into a Status with the matching canonical code, e.g. ENOENT ->
// NotFound, ENOSPC -> ResourceExhausted, EACCES -> PermissionDenied.
Status ErrnoToStatus(int err, std::string_view context);

// A value or the error that prevented computing it.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(const Status& s) : v_(s) { CheckNotOk(); }  // NOLINT: implicit by design
  StatusOr(Status&& s) : v_(std::move(s)) { CheckNotOk(); }
  StatusOr(const T& value) : v_(value) {}  // NOLINT
  StatusOr(T&& value) : v_(std::move(value)) {}  // NOLINT

  bool ok() const { return v_.index() == 1; }
  Status status() const { return ok() ? OkStatus() : std::get<0>(v_); }

  // REQUIRES: ok().
  const T& value() const& { return std::get<1>(v_); }
  T& value() & { return std::get<1>(v_); }
  T&& value() && { return std::get<1>(std::move(v_)); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

 private:
  void CheckNotOk() {
    if (std::get<0>(v_).ok()) v_ = Status(StatusCode::kInternal, "StatusOr built from an OK Status");
  }
  std::variant<Status, T> v_;
};

namespace internal_status {
inline const Status& AsStatus(const Status& s) { return s; }
template <typename T>
Status AsStatus(const StatusOr<T>& s) { return s.status(); }
}  // namespace internal_status

}  // namespace psflow

#define PSFLOW_CONCAT_INNER(a, b) a##b
#define PSFLOW_CONCAT(a, b) PSFLOW_CONCAT_INNER(a, b)

// Returns from the enclosing function if `expr` (a Status or StatusOr) failed.
#define RETURN_IF_ERROR(expr)                                              \
  do {                                                                     \
    const ::psflow::Status _psflow_st = ::psflow::internal_status::AsStatus(expr); \
    if (!_psflow_st.ok()) return _psflow_st;                               \
  } while (0)

// ASSIGN_OR_RETURN(auto x, Compute()): declares/assigns `lhs` from a StatusOr
// or returns its error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  PSFLOW_ASSIGN_OR_RETURN_IMPL(PSFLOW_CONCAT(_psflow_so_, __LINE__), lhs, expr)
#define PSFLOW_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()
