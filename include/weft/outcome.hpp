// Outcome: what a call produced, a value or the exception it threw (weft::gather's results).
#pragma once

#include <exception>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace weft {

template <class T>
class Outcome;

namespace detail {
// throw_empty_outcome throws std::logic_error for value() on an Outcome that holds nothing.
[[noreturn]] void throw_empty_outcome();

// capture calls f() and stores its result, or the exception it threw, in an empty out.
template <class T, class F>
void capture(Outcome<T>& out, F&& f) noexcept;
}  // namespace detail

// Outcome holds either a value of type T, or the exception a call threw instead, or (when
// default-constructed) nothing yet.
template <class T>
class Outcome {
 public:
  // Outcome() makes an empty outcome: no value and no error.
  Outcome() = default;
  // Outcome(std::in_place, args...) holds a value constructed from args.
  template <class... Args>
  explicit Outcome(std::in_place_t, Args&&... args)
      : value_(std::in_place, std::forward<Args>(args)...) {}
  // Outcome(error) holds an exception (a null pointer makes an empty outcome).
  explicit Outcome(std::exception_ptr error) noexcept : error_(std::move(error)) {}

  // has_value() tells whether the outcome holds a value.
  bool has_value() const noexcept { return value_.has_value(); }
  // error() is the exception the call threw, or a null pointer.
  std::exception_ptr error() const noexcept { return error_; }
  // value() returns the value, rethrows the error, or throws std::logic_error when empty.
  T& value() & {
    check();
    return *value_;
  }
  // value() returns the value, rethrows the error, or throws std::logic_error when empty.
  const T& value() const& {
    check();
    return *value_;
  }
  // value() moves the value out, rethrows the error, or throws std::logic_error when empty.
  T&& value() && {
    check();
    return std::move(*value_);
  }

 private:
  template <class U, class F>
  friend void detail::capture(Outcome<U>& out, F&& f) noexcept;
  void check() const {
    if (error_) std::rethrow_exception(error_);
    if (!value_) detail::throw_empty_outcome();
  }

  std::optional<T> value_;
  std::exception_ptr error_;
};

// Outcome<void> records that a call returned, or the exception it threw instead.
template <>
class Outcome<void> {
 public:
  // Outcome() makes an empty outcome: the call has not returned.
  Outcome() = default;
  // Outcome(std::in_place) records a call that returned normally.
  explicit Outcome(std::in_place_t) noexcept : done_(true) {}
  // Outcome(error) holds an exception (a null pointer makes an empty outcome).
  explicit Outcome(std::exception_ptr error) noexcept : error_(std::move(error)) {}

  // has_value() tells whether the call returned normally.
  bool has_value() const noexcept { return done_; }
  // error() is the exception the call threw, or a null pointer.
  std::exception_ptr error() const noexcept { return error_; }
  // value() returns if the call returned, rethrows the error, or throws std::logic_error when
  // empty.
  void value() const {
    if (error_) std::rethrow_exception(error_);
    if (!done_) detail::throw_empty_outcome();
  }

 private:
  template <class U, class F>
  friend void detail::capture(Outcome<U>& out, F&& f) noexcept;
  bool done_ = false;
  std::exception_ptr error_;
};

namespace detail {
template <class T, class F>
void capture(Outcome<T>& out, F&& f) noexcept {
  try {
    if constexpr (std::is_void_v<T>) {
      std::forward<F>(f)();
      out.done_ = true;
    } else {
      out.value_.emplace(std::forward<F>(f)());
    }
  } catch (...) {
    out.error_ = std::current_exception();
  }
}
}  // namespace detail

}  // namespace weft
