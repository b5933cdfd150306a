// carrier_tasks: the little the shim's signal emulation needs to know about carriers. A
// program's signal mask is emulated per thread, and the kernel mask of every carrier is the set
// of signals that every thread of the program blocks (shim/sigmask.hpp): when that set changes,
// each carrier must set its own mask, since a thread can only change its own. And a signal whose
// handler must run on a fiber that runs right now on another carrier is sent to that carrier.
#pragma once

#include <cstdint>

#include "fiber/fiber_control.hpp"

namespace weft::rt {

// post_to_every_carrier() runs fn() once on every other carrier of the calling thread's run, in
// each one's loop between two fibers (the caller does its own part itself); does nothing off a
// carrier. fn must not block. Returns how many carriers it posted to.
unsigned post_to_every_carrier(void (*fn)() noexcept) noexcept;
// running_tid() is the kernel thread id of the carrier that runs f at this moment, or 0 if f
// is not running (async-signal-safe; the answer may be stale by the time it is used).
int running_tid(const FiberControl* f) noexcept;
// carrier_word() is a word the shim keeps per OS thread (the signal mask it applied there): the
// calling carrier's, or off a carrier the calling thread's own. Not TLS: on a carrier that
// follows the fiber running (Tls::kPerFiber), the OS thread's state must not.
std::uint64_t& carrier_word() noexcept;
// carrier_stats_slot() is a pointer the shim's stats keep per carrier (their counters), or null
// off a carrier.
void** carrier_stats_slot() noexcept;
// in_interruptible_wait() tells whether f is parked in a wait that interrupt_fiber() ends (the
// answer may be stale by the time it is used).
bool in_interruptible_wait(const FiberControl* f) noexcept;

// SignalWait marks, while it lives, a wait of the calling fiber that only a signal from outside
// the run may end (pause, sigsuspend): the run is not deadlocked while every fiber waits so,
// just as a process in pause() is not. Must be made on a fiber.
class SignalWait {
 public:
  // SignalWait() counts the wait in.
  SignalWait() noexcept;
  // ~SignalWait() counts it out.
  ~SignalWait();
  SignalWait(const SignalWait&) = delete;
  SignalWait& operator=(const SignalWait&) = delete;
};

}  // namespace weft::rt
