// ConditionVariable: waiting for a condition under a weft::Mutex, with
// std::condition_variable's interface for std::unique_lock<weft::Mutex>.
//
// wait() queues the fiber, releases the mutex and parks; notify_one() wakes the longest waiter,
// notify_all() every waiter. Waiters are woken only by a notify, their own deadline, their
// Timeout scope or cancellation (weft has no spurious wakeups), but a woken fiber retakes the
// mutex after the notifier and others may have run, so check the condition in a loop, or use
// the predicate overloads, which do.
//
// Errors: every wait returns with the mutex held again, the failures included: on cancellation
// it retakes the mutex and then throws weft::Cancelled, on an enclosing Timeout scope's expiry
// weft::TimedOut. Retaking the mutex is never interrupted. wait_for/wait_until report their own
// deadline with std::cv_status::timeout (or the predicate's value). A notifier claims its waiter
// when it notifies, so a notification that races with a waiter's timeout or cancellation is
// never lost: that waiter returns as notified (and sees the cancellation on its next call).
// A wait off a fiber, or without the lock held, throws std::logic_error. notify_one() and
// notify_all() never block and work from any thread. Destroying a condition variable that
// fibers still wait on (not yet notified) aborts with a message.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include <weft/deadline.hpp>
#include <weft/mutex.hpp>

namespace weft {

// ConditionVariable lets fibers wait until another fiber or thread notifies them.
class ConditionVariable {
 public:
  // ConditionVariable() makes a condition variable nobody waits on.
  ConditionVariable() noexcept;
  // ~ConditionVariable() aborts if fibers still wait on it.
  ~ConditionVariable();
  ConditionVariable(const ConditionVariable&) = delete;
  ConditionVariable& operator=(const ConditionVariable&) = delete;

  // notify_one() wakes the fiber that has waited longest, if any.
  void notify_one() noexcept;
  // notify_all() wakes every waiting fiber.
  void notify_all() noexcept;

  // wait() releases the lock, waits for a notification and retakes the lock.
  void wait(std::unique_lock<Mutex>& lock) { wait_until_deadline(lock, Deadline::never()); }
  // wait() with a predicate waits until pred() is true, checking it under the lock.
  template <class Pred>
  void wait(std::unique_lock<Mutex>& lock, Pred pred) {
    while (!pred()) wait(lock);
  }
  // wait_until() waits for a notification until the time point.
  template <class C, class D>
  std::cv_status wait_until(std::unique_lock<Mutex>& lock,
                            const std::chrono::time_point<C, D>& at) {
    return wait_until_deadline(lock, detail::to_deadline(at)) ? std::cv_status::no_timeout
                                                              : std::cv_status::timeout;
  }
  // wait_until() with a predicate waits until pred() is true or the time point passes, and
  // returns pred().
  template <class C, class D, class Pred>
  bool wait_until(std::unique_lock<Mutex>& lock, const std::chrono::time_point<C, D>& at,
                  Pred pred) {
    return wait_pred(lock, detail::to_deadline(at), pred);
  }
  // wait_for() waits for a notification for at most the duration.
  template <class Rep, class Period>
  std::cv_status wait_for(std::unique_lock<Mutex>& lock,
                          const std::chrono::duration<Rep, Period>& timeout) {
    return wait_until_deadline(lock, Deadline(timeout)) ? std::cv_status::no_timeout
                                                        : std::cv_status::timeout;
  }
  // wait_for() with a predicate waits until pred() is true or the duration passes, and
  // returns pred().
  template <class Rep, class Period, class Pred>
  bool wait_for(std::unique_lock<Mutex>& lock, const std::chrono::duration<Rep, Period>& timeout,
                Pred pred) {
    return wait_pred(lock, Deadline(timeout), pred);
  }

 private:
  template <class Pred>
  bool wait_pred(std::unique_lock<Mutex>& lock, Deadline deadline, Pred& pred) {
    while (!pred()) {
      if (!wait_until_deadline(lock, deadline)) return pred();
    }
    return true;
  }
  bool wait_until_deadline(std::unique_lock<Mutex>& lock, Deadline deadline);

  // impl_ is the runtime's state: a lock and the queue of waiters.
  alignas(void*) unsigned char impl_[24];
};

}  // namespace weft
