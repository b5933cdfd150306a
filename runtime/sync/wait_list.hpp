// wait_list: what the sync primitives (Mutex, ConditionVariable, Event, Semaphore, WaitGroup,
// Pool) share: their FIFO of parked waiters (WaiterList), the waiter's half of park.hpp's protocol
// written once, and the way a wait that did not succeed is reported.
//
// Every primitive keeps its state and a WaiterList under its own rt::Lock. A waiter links a
// Waiter from its own frame, releases the lock and parks. A notifier, under the lock, unlinks
// ("claims") the waiters it wakes, grants them what they waited for right there (the mutex, a
// permit, the event), and notifies them only after releasing the lock. Granting at claim time
// is the hand-off: the woken fiber has nothing left to race for when it runs, and a waiter whose
// deadline or cancellation comes after the claim still got what it waited for, so nothing is
// lost. After notify() the notifier touches neither the waiter nor, in the primitives written
// here, the primitive: a woken fiber may destroy it at once.
#pragma once

#include <cstddef>
#include <new>

#include <weft/deadline.hpp>
#include <weft/timeout.hpp>

#include "base/list.hpp"
#include "base/lock.hpp"
#include "sched/interrupt.hpp"
#include "sched/park.hpp"

namespace weft::rt {

// WakeChain collects claimed waiters in order, to be notified once the lock is released; it
// links them through Waiter::next, free once a waiter has left its WaiterList.
class WakeChain : public List<Waiter, &Waiter::next> {
 public:
  // notify_all() notifies every collected waiter, oldest first; call it without the lock.
  void notify_all() noexcept {
    while (Waiter* w = pop_front()) notify(*w);  // unlinked before notify: the frame may go
  }
};

// WaiterList is a FIFO of parked Waiters, linked both ways: a waiter that gives up (a deadline,
// a cancel) unlinks itself from wherever it is.
class WaiterList : public List<Waiter, &Waiter::next, &Waiter::prev> {
 public:
  // pop_live() unlinks and returns the longest waiter, or nullptr. Waiters left by fibers of a
  // parent process (fiber/fork_epoch.hpp) are dropped on the way: a grant must not go to a
  // ghost. They were all queued before the fork, so they are the list's head.
  Waiter* pop_live() noexcept {
    drop_front_while([](const Waiter* w) { return w->fiber->fork_epoch_ != fork_epoch(); });
    return pop_front();
  }
  // take_all() unlinks every live waiter into out, longest first.
  void take_all(WakeChain& out) noexcept {
    while (Waiter* w = pop_live()) out.push_back(w);
  }
};

// has_waiters() tells, under lock, whether anyone waits in list: a destructor's check, which
// must not race with a waiter of another carrier that is still linking itself.
inline bool has_waiters(Lock& lock, const WaiterList& list) noexcept {
  lock.lock();
  bool any = !list.empty();
  lock.unlock();
  return any;
}

// wait_linked() is the waiter's half of the protocol: w is linked in list and lock is not held.
// It parks until a notifier claims w or the deadline, the fiber's Timeout scope or a cancel
// comes first. kNotified means w was claimed (a claim wins over a deadline or cancel that came
// after it); any other result means w gave up and is unlinked again.
Wake wait_linked(Lock& lock, WaiterList& list, Waiter& w, const Deadline& deadline) noexcept;

// wait_in() is a whole wait for the common case, called with lock held once the caller found
// it has to wait: it fails at once as early_wake() says, or links w, releases the lock, waits
// and returns finish_wait()'s answer. It returns (or throws) with the lock released.
bool wait_in(Lock& lock, WaiterList& list, Waiter& w, const Deadline& deadline);

// wait_uninterruptible_in() links w and waits, with lock held on entry and released on return,
// until a notifier claims w; deadlines, scopes and cancellation do not end it. For waits that
// must not fail: retaking a condition variable's mutex, a pool's destructor.
void wait_uninterruptible_in(Lock& lock, WaiterList& list, Waiter& w) noexcept;

// early_wake() is checked before a fiber starts to wait: kCancelled or kScope if the wait would
// fail at once, kDeadline if the call's own deadline has already passed, else kNotified (go on
// and park). Pass a result other than kNotified to finish_wait().
Wake early_wake(const Deadline& deadline) noexcept;

// finish_wait() turns wait_linked()'s result into the call's: true for kNotified, false for
// kDeadline; it throws weft::Cancelled for kCancelled and weft::TimedOut for kScope.
bool finish_wait(Wake why);

// misuse() reports a checked error of the sync API on stderr and aborts.
[[noreturn]] void misuse(const char* msg) noexcept;

// impl_of() is the runtime's state a public class keeps in its opaque storage.
template <class Impl, std::size_t N>
Impl& impl_of(unsigned char (&storage)[N]) noexcept {
  static_assert(sizeof(Impl) <= N, "the public header's storage is too small");
  static_assert(alignof(Impl) <= alignof(void*), "the public header's storage is underaligned");
  return *std::launder(reinterpret_cast<Impl*>(storage));
}

// impl_of() for a const object.
template <class Impl, std::size_t N>
const Impl& impl_of(const unsigned char (&storage)[N]) noexcept {
  static_assert(sizeof(Impl) <= N, "the public header's storage is too small");
  static_assert(alignof(Impl) <= alignof(void*), "the public header's storage is underaligned");
  return *std::launder(reinterpret_cast<const Impl*>(storage));
}

}  // namespace weft::rt
