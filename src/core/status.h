// Status and Result<T>: how every gpool module reports an error.
//
// Errors are values from a small, fixed set of codes; the detail that a user needs
// (which file, which line, which field) goes in the message, never in a new code.
// No exceptions cross a module boundary. A broken invariant is a bug and asserts instead.
//
// Thread safety: plain values, safe to copy between threads.
#pragma once

#include <cassert>
#include <exception>
#include <new>
#include <string>
#include <utility>
#include <variant>

namespace gpool {

enum class StatusCode {
  kOk,
  kInvalidArgument,  // the caller's input is wrong: fix it and retry
  kNotFound,         // the named thing does not exist
  kConflict,         // lost a race or violates a constraint of current state
  kUnavailable,      // a dependency (disk, peer, device) cannot be reached now: retry later
  kInternal,         // should not happen: a bug or a corrupted input we cannot explain
};

const char* StatusCodeName(StatusCode code);

class Status {
 public:
  Status() = default;  // ok
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) {
    return {StatusCode::kInvalidArgument, std::move(m)};
  }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status Conflict(std::string m) { return {StatusCode::kConflict, std::move(m)}; }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "invalid argument: <message>"; "ok" when ok.
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Either a value or a non-ok Status.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(v_).ok() && "a Result holding a Status must hold an error");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  // REQUIRES: !ok()
  const Status& status() const { return std::get<Status>(v_); }
  // REQUIRES: ok()
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

// work()'s Status or Result, or an exception that escapes it as Internal ("out of memory",
// "unexpected exception: <what>"): for thread bodies, which no exception may leave
// (std::terminate).
template <typename Work>
auto CatchAsStatus(Work&& work) -> decltype(work()) {
  try {
    return work();
  } catch (const std::bad_alloc&) {
    return Status::Internal("out of memory");
  } catch (const std::exception& e) {
    return Status::Internal(std::string("unexpected exception: ") + e.what());
  } catch (...) {
    return Status::Internal("unexpected exception");
  }
}

}  // namespace gpool
