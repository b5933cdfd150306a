// Mutex: mutual exclusion between fibers, with std::timed_mutex's interface.
//
// A fiber that finds the mutex held parks (its carrier runs other fibers meanwhile). unlock()
// hands the mutex straight to the longest-waiting fiber, in FIFO order, so no waiter starves: a
// fiber that unlocks and locks again queues behind the waiters instead of barging past them.
// std::lock_guard, std::unique_lock and std::scoped_lock work with it (it is Lockable and
// TimedLockable). Not recursive.
//
// Errors: a blocking call (lock, try_lock_for, try_lock_until) throws weft::Cancelled if the
// fiber is cancelled and weft::TimedOut if an enclosing weft::Timeout scope expires, but only
// when it would have to wait (taking a free mutex always succeeds); the timed calls report
// their own deadline by returning false. A blocking call off a fiber throws std::logic_error.
// try_lock() and unlock() never block and work from any thread, fiber or not. Misuse that
// std::mutex leaves undefined aborts with a message on stderr: unlock() by a caller that does
// not hold the mutex, a blocking lock by the fiber that already holds it, and destroying a
// mutex that is held or waited for.
#pragma once

#include <chrono>

#include <weft/deadline.hpp>

namespace weft {

class ConditionVariable;

// Mutex is a fiber-aware, FIFO-fair, non-recursive mutex.
class Mutex {
 public:
  // Mutex() makes an unlocked mutex.
  Mutex() noexcept;
  // ~Mutex() aborts if the mutex is still held or waited for.
  ~Mutex();
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  // lock() acquires the mutex, parking the fiber while another caller holds it.
  void lock() { lock_until(Deadline::never()); }
  // try_lock() acquires the mutex if it is free and nobody waits for it; never blocks.
  bool try_lock() noexcept;
  // try_lock_for() acquires the mutex, giving up with false after the duration.
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& timeout) {
    return lock_until(Deadline(timeout));
  }
  // try_lock_until() acquires the mutex, giving up with false at the time point.
  template <class C, class D>
  bool try_lock_until(const std::chrono::time_point<C, D>& at) {
    return lock_until(detail::to_deadline(at));
  }
  // unlock() releases the mutex, handing it to the longest waiter if there is one.
  void unlock() noexcept;

 private:
  friend class ConditionVariable;
  bool lock_until(Deadline deadline);
  void lock_uninterruptible() noexcept;

  // impl_ is the runtime's state: a lock, the owner and the queue of waiters.
  alignas(void*) unsigned char impl_[32];
};

}  // namespace weft
