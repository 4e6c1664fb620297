#pragma once

#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace hallmark::core {

// Why an operation failed. kInvalidInput is the caller's fault (a peer, a file, a user): it
// carries a message a person can act on. The other codes are local failures.
enum class StatusCode {
  kOk,
  kInvalidInput,  // Bad input from outside: a clear error, nothing changed.
  kNotFound,
  kCorruption,  // Stored data failed a check: stop, never serve it.
  kIoError,
  kInternal,   // Our own bug surfaced as a value (prefer HM_ASSERT).
  kCancelled,  // Stopped on request (a node stopping): nothing is wrong, nothing half done.
};

std::string_view StatusCodeName(StatusCode code);

// The outcome of a fallible operation. Cheap to copy when ok. Thread-compatible.
class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status InvalidInput(std::string msg) {
    return {StatusCode::kInvalidInput, std::move(msg)};
  }
  static Status NotFound(std::string msg) { return {StatusCode::kNotFound, std::move(msg)}; }
  static Status Corruption(std::string msg) { return {StatusCode::kCorruption, std::move(msg)}; }
  static Status IoError(std::string msg) { return {StatusCode::kIoError, std::move(msg)}; }
  static Status Internal(std::string msg) { return {StatusCode::kInternal, std::move(msg)}; }
  static Status Cancelled(std::string msg) { return {StatusCode::kCancelled, std::move(msg)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "corruption: block 12 is missing" style text for logs and users.
  std::string ToString() const;

  // Returns a copy whose message is prefixed with `context: `.
  Status WithContext(std::string_view context) const;

 private:
  Status(StatusCode code, std::string msg) : code_(code), message_(std::move(msg)) {}
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// A value or a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design.
  Result(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design.
    if (std::get<Status>(v_).ok()) {
      std::fprintf(stderr, "Result constructed from an ok Status\n");
      std::abort();
    }
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  // REQUIRES: ok().
  T& value() & { return Checked(); }
  const T& value() const& { return const_cast<Result*>(this)->Checked(); }
  T&& value() && { return std::move(Checked()); }
  T* operator->() { return &Checked(); }
  const T* operator->() const { return &const_cast<Result*>(this)->Checked(); }
  T& operator*() & { return Checked(); }
  const T& operator*() const& { return const_cast<Result*>(this)->Checked(); }

 private:
  T& Checked() {
    if (!ok()) {
      std::fprintf(stderr, "Result::value() on error: %s\n", status().ToString().c_str());
      std::abort();
    }
    return std::get<T>(v_);
  }
  std::variant<T, Status> v_;
};

[[noreturn]] void AssertFail(const char* expr, const char* file, int line, const char* msg);

}  // namespace hallmark::core

// Always-on assertion for our own bugs. Never use it on input.
#define HM_ASSERT(expr)                                                            \
  do {                                                                             \
    if (!(expr)) ::hallmark::core::AssertFail(#expr, __FILE__, __LINE__, nullptr); \
  } while (0)
#define HM_ASSERT_MSG(expr, msg)                                                 \
  do {                                                                           \
    if (!(expr)) ::hallmark::core::AssertFail(#expr, __FILE__, __LINE__, (msg)); \
  } while (0)

// Propagates a non-ok Status from an expression returning Status.
#define HM_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::hallmark::core::Status hm_s_ = (expr); \
    if (!hm_s_.ok()) return hm_s_;           \
  } while (0)
