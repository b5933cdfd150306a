// Deadlines for blocking calls: an absolute steady-clock instant, or none.
#pragma once

#include <chrono>
#include <type_traits>

namespace weft {

// Clock is the clock every weft deadline and sleep is measured on.
using Clock = std::chrono::steady_clock;

// Deadline is the instant a blocking call stops waiting (I/O then fails with -ETIMEDOUT, timed
// sync calls return false, channel calls kTimeout, sleeps return 0); the default is never.
class Deadline {
 public:
  // Deadline() makes a deadline that never expires.
  constexpr Deadline() noexcept = default;
  // Deadline(timeout) expires timeout from now; a zero or negative timeout has already expired,
  // and one too long for the clock to represent never comes in practice (it saturates).
  template <class Rep, class Period>
  Deadline(std::chrono::duration<Rep, Period> timeout) noexcept  // NOLINT: implicit on purpose
      : set_(true) {
    Clock::time_point now = Clock::now();
    // Compared in floating point: converting hours::max() to nanoseconds would overflow, and so
    // would time_point::min() - now.
    using Seconds = std::chrono::duration<double>;
    Seconds since_epoch = now.time_since_epoch();
    // Half the range leaves room for double's rounding; it is still about 146 years.
    if (Seconds(timeout) >= (Seconds(Clock::duration::max()) - since_epoch) / 2) {
      at_ = Clock::time_point::max();
    } else if (Seconds(timeout) <= (Seconds(Clock::duration::min()) - since_epoch) / 2) {
      at_ = Clock::time_point::min();
    } else {
      at_ = now + std::chrono::ceil<Clock::duration>(timeout);
    }
  }
  // Deadline(at) expires at the given instant.
  Deadline(Clock::time_point at) noexcept : at_(at), set_(true) {}  // NOLINT: implicit on purpose

  // never() returns a deadline that never expires.
  static constexpr Deadline never() noexcept { return Deadline(); }
  // is_set() tells whether the deadline can expire at all.
  constexpr bool is_set() const noexcept { return set_; }
  // at() returns the instant of expiry; meaningless when is_set() is false.
  constexpr Clock::time_point at() const noexcept { return at_; }

 private:
  Clock::time_point at_{};
  bool set_ = false;
};

namespace detail {

// to_deadline() turns a time point of any clock into a Deadline on weft's Clock, as the
// std::chrono *_until calls accept: another clock's instant is taken as the same distance from
// now on Clock, and a time point too far out for Clock saturates like a long duration.
template <class C, class D>
Deadline to_deadline(const std::chrono::time_point<C, D>& t) noexcept {
  if constexpr (std::is_same_v<C, Clock> && std::is_same_v<D, Clock::duration>) {
    return Deadline(t);
  } else {
    using Seconds = std::chrono::duration<double>;
    return Deadline(Seconds(t.time_since_epoch()) - Seconds(C::now().time_since_epoch()));
  }
}

}  // namespace detail

}  // namespace weft
