// Errors are values in Lok: every fallible function returns a Status or a
// StatusOr<T>; exceptions from libraries are caught and converted at the edge.
//
//   StatusOr<Record> record = log.Read(...);
//   if (!record.ok()) return record.status();
//   Use(*record);
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace lok {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // the caller's input breaks a rule; the message names it
  kNotFound,
  kAlreadyExists,
  kFailedPrecondition,  // the system is not in a state that allows the call
  kResourceExhausted,   // a limit was hit (size, count)
  kDeadlineExceeded,
  kUnavailable,  // a dependency (broker, disk) is unreachable; retry may help
  kDataLoss,     // stored data is corrupt
  kCancelled,
  kUnauthenticated,    // no or unknown credentials
  kPermissionDenied,   // a known caller not allowed to do this
  kInternal,  // a bug or an unexpected library failure
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "INVALID_ARGUMENT: client_id: required" or "OK".
  std::string ToString() const;

  // Returns a copy whose message is "context: <message>".
  Status WithContext(std::string_view context) const;

  friend bool operator==(const Status&, const Status&) = default;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgumentError(std::string message) {
  return {StatusCode::kInvalidArgument, std::move(message)};
}
inline Status NotFoundError(std::string message) {
  return {StatusCode::kNotFound, std::move(message)};
}
inline Status FailedPreconditionError(std::string message) {
  return {StatusCode::kFailedPrecondition, std::move(message)};
}
inline Status ResourceExhaustedError(std::string message) {
  return {StatusCode::kResourceExhausted, std::move(message)};
}
inline Status DeadlineExceededError(std::string message) {
  return {StatusCode::kDeadlineExceeded, std::move(message)};
}
inline Status UnavailableError(std::string message) {
  return {StatusCode::kUnavailable, std::move(message)};
}
inline Status DataLossError(std::string message) {
  return {StatusCode::kDataLoss, std::move(message)};
}
inline Status UnauthenticatedError(std::string message) {
  return {StatusCode::kUnauthenticated, std::move(message)};
}
inline Status PermissionDeniedError(std::string message) {
  return {StatusCode::kPermissionDenied, std::move(message)};
}
inline Status InternalError(std::string message) {
  return {StatusCode::kInternal, std::move(message)};
}

// A value or the Status that explains its absence.
// REQUIRES: a StatusOr is never built from an OK status.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(Status status) : state_(std::move(status)) {}  // NOLINT: implicit by design
  StatusOr(T value) : state_(std::move(value)) {}         // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(state_); }
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(state_); }

  // REQUIRES: ok().
  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<Status, T> state_;
};

}  // namespace lok

#define LOK_STATUS_CONCAT_INNER(a, b) a##b
#define LOK_STATUS_CONCAT(a, b) LOK_STATUS_CONCAT_INNER(a, b)

// Returns the status from the enclosing function when it is not OK.
#define LOK_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::lok::Status lok_status_ = (expr);        \
    if (!lok_status_.ok()) return lok_status_; \
  } while (false)

// `LOK_ASSIGN_OR_RETURN(auto value, Fallible());` declares `value` or returns
// the error from the enclosing function.
#define LOK_ASSIGN_OR_RETURN(lhs, expr) \
  LOK_ASSIGN_OR_RETURN_IMPL(LOK_STATUS_CONCAT(lok_statusor_, __LINE__), lhs, expr)
#define LOK_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()
