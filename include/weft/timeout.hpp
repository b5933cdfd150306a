// Timeout scopes (gevent.Timeout) and the errors blocking calls report when interrupted.
//
// A Timeout bounds every blocking weft call its fiber makes while the scope is alive: I/O calls
// and sleeps return -ETIMEDOUT, and sync calls (locks, waits, channel operations, joins of a
// Pool) throw TimedOut, once the deadline passes. Scopes nest; an inner scope cannot extend an
// outer one, so the earliest deadline in force fires, and TimedOut::scope() names the scope it
// belonged to (the innermost one on a tie), so each level can tell its own expiry from an outer
// one's. Cancellation (Fiber::cancel) makes the same calls return -ECANCELED or throw Cancelled.
// Neither interrupts Fiber::join, weft::close/dup2/dup3, a started weft::blocking, or ~Pool:
// those finish, as what they wait for does. When a call's own deadline and a scope expire at
// the same instant, the call's own deadline is the one reported.
#pragma once

#include <stdexcept>

#include <weft/deadline.hpp>

namespace weft {

class Timeout;

namespace detail {
class FiberControl;
}  // namespace detail

// Cancelled is thrown by a blocking sync call of a fiber that has been cancelled.
class Cancelled : public std::runtime_error {
 public:
  // Cancelled() makes the exception with a fixed message.
  Cancelled() : std::runtime_error("weft: the fiber was cancelled") {}
};

// TimedOut is thrown by a blocking sync call once an enclosing Timeout scope has expired.
class TimedOut : public std::runtime_error {
 public:
  // TimedOut() makes the exception for the scope that expired.
  explicit TimedOut(const Timeout* scope)
      : std::runtime_error("weft: a Timeout scope expired"), scope_(scope) {}
  // scope() is the Timeout whose deadline expired; compare it with your own to tell them apart.
  const Timeout* scope() const noexcept { return scope_; }

 private:
  const Timeout* scope_;
};

// Timeout limits every blocking weft call of the calling fiber until the scope ends; it must be
// created on a fiber (std::logic_error otherwise) and destroyed on it in reverse order.
class Timeout {
 public:
  // Timeout() opens a scope that expires at the deadline (a duration counts from now).
  explicit Timeout(Deadline deadline);
  // ~Timeout() closes the scope, restoring the enclosing one.
  ~Timeout();
  Timeout(const Timeout&) = delete;
  Timeout& operator=(const Timeout&) = delete;

  // deadline() is the scope's own deadline.
  Deadline deadline() const noexcept { return deadline_; }
  // expired() tells whether the scope's own deadline has passed.
  bool expired() const noexcept { return deadline_.is_set() && Clock::now() >= deadline_.at(); }
  // outer() is the enclosing scope of the same fiber, or nullptr.
  const Timeout* outer() const noexcept { return outer_; }

 private:
  Deadline deadline_;
  Clock::time_point outer_effective_;
  Timeout* outer_ = nullptr;
  detail::FiberControl* fiber_ = nullptr;
};

}  // namespace weft
