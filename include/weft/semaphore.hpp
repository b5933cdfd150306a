// Semaphore: a counting semaphore for fibers (std::counting_semaphore, gevent's
// BoundedSemaphore).
//
// The count is how many permits are free. acquire() takes one, parking while none is free;
// release(n) returns n, handing each straight to the longest waiter, in FIFO order, so a waiter
// is never overtaken by a later try_acquire() or acquire(). The count may never exceed max().
//
// Errors: the blocking calls (acquire, try_acquire_for, try_acquire_until) throw
// weft::Cancelled if the fiber is cancelled and weft::TimedOut if an enclosing weft::Timeout
// scope expires, but only when they would have to wait; the timed calls report their own
// deadline by returning false. A blocking call off a fiber throws std::logic_error.
// try_acquire(), release() and value() never block and work from any thread, fiber or not.
// release() that would raise the count past max() (or a negative release) aborts with a
// message, as does destroying a semaphore that fibers still wait on; constructing one with a
// count outside 0..max throws std::invalid_argument.
#pragma once

#include <chrono>
#include <cstddef>
#include <limits>

#include <weft/deadline.hpp>

namespace weft {

// Semaphore counts free permits that fibers acquire and release.
class Semaphore {
 public:
  // Semaphore() makes a semaphore with initial free permits and a maximum count of max_value.
  explicit Semaphore(std::ptrdiff_t initial,
                     std::ptrdiff_t max_value = std::numeric_limits<std::ptrdiff_t>::max());
  // ~Semaphore() aborts if fibers still wait on it.
  ~Semaphore();
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  // acquire() takes one permit, parking the fiber until one is free.
  void acquire() { acquire_until(Deadline::never()); }
  // try_acquire() takes one permit if one is free and nobody waits; never blocks.
  bool try_acquire() noexcept;
  // try_acquire_for() takes one permit, giving up with false after the duration.
  template <class Rep, class Period>
  bool try_acquire_for(const std::chrono::duration<Rep, Period>& timeout) {
    return acquire_until(Deadline(timeout));
  }
  // try_acquire_until() takes one permit, giving up with false at the time point.
  template <class C, class D>
  bool try_acquire_until(const std::chrono::time_point<C, D>& at) {
    return acquire_until(detail::to_deadline(at));
  }
  // release() returns n permits, waking up to n waiters.
  void release(std::ptrdiff_t n = 1) noexcept;

  // value() is the number of free permits now.
  std::ptrdiff_t value() const noexcept;
  // max() is the largest count the semaphore may hold.
  std::ptrdiff_t max() const noexcept;

 private:
  bool acquire_until(Deadline deadline);

  // impl_ is the runtime's state: a lock, the count, its maximum and the queue of waiters.
  alignas(void*) unsigned char impl_[40];
};

}  // namespace weft
