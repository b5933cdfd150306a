// timed_wait: the one way a fiber blocks with a time limit.
//
// Three waits block a fiber with a time limit: park() (until a notify), await_op() (until an I/O
// op completes) and this_fiber::sleep_until() (until the time comes). Each is bounded by the
// earlier of the call's own deadline and the fiber's innermost Timeout scope (one field,
// FiberControl::scope_deadline_, holds the earliest of its scopes). On a tie the call's own
// deadline wins: it is the more specific of the two, so a call whose own deadline and scope
// expire together reports its own (false, or 0 for a sleep) rather than throwing TimedOut.
//
// A TimedWait arms one TimerNode for that limit in its frame (none when neither is set), blocks
// the fiber until the wait is over, and disarms the node when it goes. What may end the wait:
// - Without an op (park, sleep): done() (a notification), the timer (which readies the fiber),
//   a cancel or an interrupt (which ready it too: Carrier::cancel, Carrier::interrupt).
// - With an op (await_op): only the op's completion. The timer, a cancel and an interrupt all
//   act by cancelling the op instead (TimerNode::op, Carrier::cancel, Carrier::interrupt), so the
//   kernel is done with the frame's buffers when the wait returns (invariant 1).
// Why a wait was cut short is one rule for all three, cause(): the limit if the timer fired
// (kDeadline for the call's own, kScope for the scope's), else cancellation, else an interrupt.
// A wait whose own condition came true meanwhile (a notify, a completion with its real result)
// succeeded; each caller checks that first.
#pragma once

#include <weft/deadline.hpp>

#include "fiber/fiber_control.hpp"
#include "sched/carrier.hpp"
#include "sched/park.hpp"
#include "timer/timer_heap.hpp"

namespace weft::rt {

// TimedWait is one bounded wait of the running fiber on its carrier.
class TimedWait {
 public:
  // TimedWait() arms the timer for the earlier of own and the fiber's scope (ties: own); with
  // op set, the timer cancels op when it fires instead of readying the fiber.
  TimedWait(Carrier& c, FiberControl* self, const Deadline& own, IoOp* op = nullptr) noexcept;
  // ~TimedWait() disarms the timer if it did not fire.
  ~TimedWait() { carrier_.timers().remove(&timer_); }
  TimedWait(const TimedWait&) = delete;
  TimedWait& operator=(const TimedWait&) = delete;

  // block() blocks the fiber (recording kind and obj for cancels, interrupts and dumps) until
  // done() holds or, without an op, the wait is cut short; the interrupt that ended it, if any,
  // is consumed.
  template <class Done>
  void block(WaitKind kind, void* obj, Done done) noexcept {
    if (timer_.op != nullptr) {
      while (!done()) carrier_.block(kind, obj);
    } else {
      while (!done() && !timer_.fired && !self_->cancelled_ && !self_->interrupted_) {
        carrier_.block(kind, obj);
      }
    }
    interrupted_ = self_->interrupted_;
    self_->interrupted_ = false;
  }

  // cause() is why the wait was cut short (see above): kDeadline, kScope, kCancelled or
  // kInterrupted, or kNotified when nothing cut it short.
  Wake cause() const noexcept {
    if (timer_.fired) return scope_first_ ? Wake::kScope : Wake::kDeadline;
    if (self_->cancelled_) return Wake::kCancelled;
    if (interrupted_) return Wake::kInterrupted;
    return Wake::kNotified;
  }
  // timer() is the armed node (what a sleep blocks on, so a cancel can disarm it).
  TimerNode* timer() noexcept { return &timer_; }

 private:
  Carrier& carrier_;
  FiberControl* self_;
  TimerNode timer_;
  bool scope_first_;
  bool interrupted_ = false;
};

inline TimedWait::TimedWait(Carrier& c, FiberControl* self, const Deadline& own, IoOp* op) noexcept
    : carrier_(c), self_(self) {
  Clock::time_point mine = own.is_set() ? own.at() : Clock::time_point::max();
  // The tie rule: only a strictly earlier scope wins.
  scope_first_ = self->scope_deadline_ < mine;
  Clock::time_point until = scope_first_ ? self->scope_deadline_ : mine;
  timer_.fiber = self;
  timer_.op = op;
  if (until != Clock::time_point::max()) {
    timer_.deadline = until;
    c.timers().add(&timer_);
  }
}

}  // namespace weft::rt
