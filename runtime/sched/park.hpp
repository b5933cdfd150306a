// park: how a fiber waits to be woken by another fiber or thread; every sync primitive,
// channel, join and the blocking pool are built on it.
//
// Protocol. A primitive keeps its waiters in lists of Waiter nodes guarded by its own rt::Lock:
//   waiter:   lock; link w; unlock; r = park(w, deadline);
//             if r != kNotified: lock; if w still linked: unlink, unlock, give up (timeout or
//             cancellation); else: unlock, park_notified(w) -- a notifier already claimed w and
//             its wake-up is on the way, so the wait succeeded after all.
//   notifier: lock; unlink w (claiming it: nobody else can notify it now); fill w's payload;
//             unlock; notify(w).
// notify() may run on any carrier or on a thread that is no carrier at all. A notify for a fiber
// of another carrier goes through that carrier's mailbox, and only the owning carrier ever sets
// w.notified, so w stays alive until its fiber has seen the notification: the notifier must not
// touch w after notify(). A fiber may be made ready spuriously (a timer, a cancel, a stale wake);
// park() loops until one of its own conditions holds.
#pragma once

#include <cstdint>

#include <weft/deadline.hpp>

#include "fiber/fiber_control.hpp"

namespace weft::rt {

// running_fiber() returns the fiber running on the calling thread, or nullptr.
FiberControl* running_fiber() noexcept;
// hold_carrier() adds delta to the running fiber's count of reasons to keep its carrier while it
// waits (the shim: the stdio locks the thread took with flockfile). While the count is not zero
// its waits and yields let no other fiber of the carrier run: the carrier waits for the fiber's
// event alone (still reaping I/O and timers), as a thread's wait holds only that thread. A
// fiber that holds a lock glibc takes by thread without a hook (a FILE's) must not let another
// fiber of its carrier block the carrier in that lock. Does nothing off a fiber.
void hold_carrier(int delta) noexcept;

// Waiter is one fiber's wait, owned by the waiting frame and linked into a primitive's list.
struct Waiter {
  // Waiter() makes a node for the running fiber, which must link it before calling park().
  explicit Waiter(const char* what_ = "wait", const void* object_ = nullptr) noexcept
      : fiber(running_fiber()), what(what_), object(object_) {}
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;

  // fiber is the waiting fiber (the one that constructed the node).
  FiberControl* fiber;
  // what names the wait for fiber dumps ("mutex", "channel recv", ...); a string literal.
  const char* what;
  // object is the primitive waited on, for fiber dumps.
  const void* object;
  // prev and next link the waiter into the primitive's list (free for the primitive to use).
  Waiter* prev = nullptr;
  // next is the following waiter in the primitive's list.
  Waiter* next = nullptr;
  // data is the primitive's payload (a channel's value slot, a select's case, ...).
  void* data = nullptr;
  // result is what the notifier tells the waiter (primitive-defined), written before notify().
  long result = 0;
  // notified is set by the waiter's own carrier once a notify() for it arrived.
  bool notified = false;
  // in_run_only is set for waits that only a fiber of the same run can end (join, gather,
  // close): the deadlock check may then count the fiber as stuck for good. Other waits (sync
  // primitives, channels) may be ended by a plain thread or another run.
  bool in_run_only = false;
  // mail_next links the waiter into a carrier's mailbox while a remote notify is in transit.
  Waiter* mail_next = nullptr;
};

// Wake says why park() returned.
enum class Wake : std::uint8_t {
  // kNotified: notify() was called for the waiter.
  kNotified,
  // kDeadline: the deadline passed to park() expired first.
  kDeadline,
  // kScope: an enclosing weft::Timeout scope expired first.
  kScope,
  // kCancelled: the fiber was cancelled.
  kCancelled,
  // kInterrupted: Carrier::interrupt() ended the wait (only inside an rt::Interruptible scope).
  kInterrupted,
};

// park() blocks the running fiber until notify(w), the deadline, the fiber's innermost
// weft::Timeout scope, cancellation, or (inside an rt::Interruptible scope) an interrupt,
// whichever comes first. It returns at once (without
// waiting) when the fiber is already cancelled or its scope already expired, and kNotified at
// once when w was notified before park() was called. Must run on a fiber.
Wake park(Waiter& w, const Deadline& deadline) noexcept;

// park_notified() waits for a notification already claimed by a notifier; it ignores
// deadlines, scopes and cancellation, since the wake-up is certain and near.
void park_notified(Waiter& w) noexcept;

// notify() wakes w's fiber from any thread; the caller must have unlinked (claimed) w, and must
// not touch w afterwards.
void notify(Waiter& w) noexcept;

// measure_waits() turns on (or off) timing every wait of every fiber (swap_call()); off, a wait
// pays one relaxed load for it.
void measure_waits(bool on) noexcept;
// CallWait is one call of a fiber and how long the fiber was blocked during it.
struct CallWait {
  // tag is the call's tag (swap_call()), or -1 for none.
  int tag = -1;
  // waited_ns is how long the fiber was blocked since the call began (0 unless measure_waits()).
  std::int64_t waited_ns = 0;
};
// swap_call() ends the running fiber's current call and begins one tagged tag (-1: none);
// returns the call it ended. Off a fiber, returns {-1, 0}. The shim's stats tag each call that
// goes through weft with its symbol: a fiber blocks only inside such calls, so what it waited
// between two calls' beginnings is the first one's.
CallWait swap_call(int tag) noexcept;

// interrupted() returns kCancelled or kScope if a wait by the running fiber would fail at once
// (it is cancelled, or its scope has expired), else kNotified; off a fiber, kNotified.
Wake interrupted() noexcept;

}  // namespace weft::rt
