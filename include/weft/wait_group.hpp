// WaitGroup: waiting for a collection of tasks to finish (Go's sync.WaitGroup).
//
// The counter says how many tasks are outstanding: add(n) before starting n tasks, done() as
// each finishes, and wait() returns once the counter is zero (at once if it already is). As in
// Go, add() with a positive count should happen before the wait() it is meant to hold back.
//
// Errors: wait() throws weft::Cancelled if the fiber is cancelled and weft::TimedOut if an
// enclosing weft::Timeout scope expires, but only when it would have to wait; wait_for and
// wait_until report their own deadline by returning false. A wait off a fiber throws
// std::logic_error. add(), done() and count() never block and work from any thread, fiber or
// not. A counter that would go negative aborts with a message, as does destroying a wait
// group that fibers still wait on.
#pragma once

#include <chrono>
#include <cstddef>

#include <weft/deadline.hpp>

namespace weft {

class Pool;

// WaitGroup counts outstanding tasks and lets fibers wait for the count to reach zero.
class WaitGroup {
 public:
  // WaitGroup() makes a wait group whose counter is zero.
  WaitGroup() noexcept;
  // ~WaitGroup() aborts if fibers still wait on it.
  ~WaitGroup();
  WaitGroup(const WaitGroup&) = delete;
  WaitGroup& operator=(const WaitGroup&) = delete;

  // add() adds n (which may be negative) to the counter, waking every waiter if it reaches 0.
  void add(std::ptrdiff_t n = 1) noexcept;
  // done() subtracts one from the counter.
  void done() noexcept { add(-1); }
  // count() is the counter's value now.
  std::ptrdiff_t count() const noexcept;

  // wait() returns once the counter is zero.
  void wait() { wait_until_deadline(Deadline::never()); }
  // wait_for() waits at most the duration for the counter to reach zero; returns whether it did.
  template <class Rep, class Period>
  bool wait_for(const std::chrono::duration<Rep, Period>& timeout) {
    return wait_until_deadline(Deadline(timeout));
  }
  // wait_until() waits until the time point for the counter to reach zero; returns whether it
  // did.
  template <class C, class D>
  bool wait_until(const std::chrono::time_point<C, D>& at) {
    return wait_until_deadline(detail::to_deadline(at));
  }

 private:
  friend class Pool;
  bool wait_until_deadline(Deadline deadline);
  void wait_uninterruptible() noexcept;

  // impl_ is the runtime's state: a lock, the counter and the queue of waiters.
  alignas(void*) unsigned char impl_[32];
};

}  // namespace weft
