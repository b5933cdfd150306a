#include "sched/park.hpp"

#include <utility>

#include "sched/carrier.hpp"

namespace weft::rt {

FiberControl* running_fiber() noexcept {
  Carrier* c = Carrier::current();
  return c != nullptr ? c->running() : nullptr;
}

Wake interrupted() noexcept {
  FiberControl* self = running_fiber();
  if (self == nullptr) return Wake::kNotified;
  if (self->cancel_seen()) return Wake::kCancelled;
  if (self->scope_deadline_ != Clock::time_point::max() && Clock::now() >= self->scope_deadline_) {
    return Wake::kScope;
  }
  return Wake::kNotified;
}

Wake park(Waiter& w, const Deadline& deadline) noexcept {
  Carrier* c = Carrier::current();
  FiberControl* self = w.fiber;
  if (w.notified) return Wake::kNotified;
  if (self->cancel_seen()) return Wake::kCancelled;
  Clock::time_point own = deadline.is_set() ? deadline.at() : Clock::time_point::max();
  // On a tie the call's own deadline wins: it is the more specific of the two.
  bool scope_first = self->scope_deadline_ < own;
  Clock::time_point until = scope_first ? self->scope_deadline_ : own;
  TimerNode timer;
  if (until != Clock::time_point::max()) {
    timer.deadline = until;
    timer.fiber = self;
    c->timers().add(&timer);
  }
  c->park_begin(&w);
  while (!w.notified && !timer.fired && !self->cancelled_ && !self->interrupted_) {
    c->block(WaitKind::kPark, &w);
  }
  c->park_end();
  c->timers().remove(&timer);
  bool interrupted = std::exchange(self->interrupted_, false);
  if (w.notified) return Wake::kNotified;
  if (self->cancelled_) return Wake::kCancelled;
  if (interrupted && !timer.fired) return Wake::kInterrupted;
  return scope_first ? Wake::kScope : Wake::kDeadline;
}

void park_notified(Waiter& w) noexcept {
  Carrier* c = Carrier::current();
  c->park_begin(&w);
  while (!w.notified) c->block(WaitKind::kPark, &w);
  c->park_end();
}

void notify(Waiter& w) noexcept {
  FiberControl* f = w.fiber;
  // A ghost's carrier may be this one (readying it would run it) or one that is gone.
  if (f->fork_epoch_ != fork_epoch()) [[unlikely]]
    return;
  Carrier* owner = f->carrier_;
  if (owner == Carrier::current()) {
    w.notified = true;
    owner->ready(f);
  } else {
    owner->post(&w);
  }
}

}  // namespace weft::rt
