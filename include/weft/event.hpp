// Event: a flag fibers can wait for (gevent.event.Event).
//
// set() raises the flag and wakes every waiter; while it is up, wait() returns at once; clear()
// lowers it again. A fiber woken by set() returns true even if clear() ran before it resumed:
// it was woken by that set().
//
// Errors: wait() throws weft::Cancelled if the fiber is cancelled and weft::TimedOut if an
// enclosing weft::Timeout scope expires, but only when it would have to wait; wait_for and
// wait_until report their own deadline by returning false. A wait off a fiber throws
// std::logic_error. set(), clear() and is_set() never block and work from any thread, fiber or
// not. Destroying an event that fibers still wait on aborts with a message.
#pragma once

#include <chrono>

#include <weft/deadline.hpp>

namespace weft {

// Event is a flag with set/clear and waits for it to be set.
class Event {
 public:
  // Event() makes an event whose flag is down.
  Event() noexcept;
  // ~Event() aborts if fibers still wait on it.
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  // set() raises the flag and wakes every waiting fiber.
  void set() noexcept;
  // clear() lowers the flag.
  void clear() noexcept;
  // is_set() tells whether the flag is up.
  bool is_set() const noexcept;

  // wait() returns once the flag is up.
  void wait() { wait_until_deadline(Deadline::never()); }
  // wait_for() waits at most the duration for the flag; returns whether it was set.
  template <class Rep, class Period>
  bool wait_for(const std::chrono::duration<Rep, Period>& timeout) {
    return wait_until_deadline(Deadline(timeout));
  }
  // wait_until() waits until the time point for the flag; returns whether it was set.
  template <class C, class D>
  bool wait_until(const std::chrono::time_point<C, D>& at) {
    return wait_until_deadline(detail::to_deadline(at));
  }

 private:
  bool wait_until_deadline(Deadline deadline);

  // impl_ is the runtime's state: a lock, the flag and the queue of waiters.
  alignas(void*) unsigned char impl_[32];
};

}  // namespace weft
