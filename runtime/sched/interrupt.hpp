// interrupt: turning a wait that cancellation or a Timeout scope cut short into the exception
// that blocking sync calls throw (weft::Cancelled, weft::TimedOut), per weft/timeout.hpp; and
// interrupts, which end one fiber's current wait early, as a signal ends a thread's system call
// with EINTR (the shim emulates signals with them; the public API has no use for them).
//
// An interrupt is a one-shot wake, not a state: it ends the wait the fiber is blocked in when
// its carrier handles the request, and only if that wait is inside an Interruptible scope and is
// I/O (-EINTR, the op cancelled), a sleep (-EINTR) or a park (Wake::kInterrupted). A fiber that
// is running, ready, or waiting outside a scope is left alone, as a signal that comes just
// before or after a system call does not interrupt it.
#pragma once

#include <weft/deadline.hpp>
#include <weft/timeout.hpp>

#include "fiber/fiber_control.hpp"
#include "sched/park.hpp"

namespace weft::detail {
// expired_scope() is the innermost of f's Timeout scopes holding the earliest deadline (defined
// in timeout.cpp).
const Timeout* expired_scope(const FiberControl* f) noexcept;
}  // namespace weft::detail

namespace weft::rt {

// throw_wake() throws Cancelled for kCancelled and TimedOut(the running fiber's expired scope)
// for kScope; it must not be called with kNotified, kDeadline or kInterrupted.
[[noreturn]] void throw_wake(Wake why);
// throw_if_interrupted() throws as throw_wake() does if a wait by the running fiber would fail
// at once (rt::interrupted()); it does nothing off a fiber.
void throw_if_interrupted();
// require_fiber() returns the running fiber, or throws std::logic_error saying that the call
// (what, e.g. "weft::Mutex::lock") would block off a fiber.
FiberControl* require_fiber(const char* what);
// deadline_passed() tells whether deadline is set and has already passed.
bool deadline_passed(const Deadline& deadline) noexcept;

// Interruptible marks the running fiber's waits, while it lives, as ones interrupt_fiber() may
// end early. Scopes nest; the outermost one's end forgets an interrupt no wait consumed. Must
// be made on a fiber.
class Interruptible {
 public:
  Interruptible() noexcept : self_(running_fiber()), was_(self_->interruptible_) {
    self_->interruptible_ = true;
  }
  ~Interruptible() {
    self_->interruptible_ = was_;
    if (!was_) self_->interrupted_ = false;
  }
  Interruptible(const Interruptible&) = delete;
  Interruptible& operator=(const Interruptible&) = delete;

 private:
  FiberControl* self_;
  bool was_;
};

// interrupt_fiber() asks f's carrier to end f's current interruptible wait (see above). It may
// be called from any thread, and from a signal handler: it only touches atomics and writes to
// the carrier's eventfd. f must not be destroyed during the call.
void interrupt_fiber(FiberControl* f) noexcept;

}  // namespace weft::rt
