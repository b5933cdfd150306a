#include "sched/park.hpp"

#include "sched/carrier.hpp"
#include "sched/timed_wait.hpp"

namespace weft::rt {

FiberControl* running_fiber() noexcept {
  Carrier* c = Carrier::current();
  return c != nullptr ? c->running() : nullptr;
}

void hold_carrier(int delta) noexcept {
  FiberControl* f = running_fiber();
  if (f == nullptr || (delta < 0 && f->holds_carrier_ < static_cast<std::uint32_t>(-delta))) return;
  f->holds_carrier_ += static_cast<std::uint32_t>(delta);
}

CallWait swap_call(int tag) noexcept {
  FiberControl* f = running_fiber();
  if (f == nullptr) return CallWait{};
  CallWait ended{f->call_tag_, f->waited_ns_ - f->call_waited_};
  f->call_tag_ = tag;
  f->call_waited_ = f->waited_ns_;
  return ended;
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
  c->describe_wait(w.what, -1, !w.in_run_only);
  TimedWait wait(*c, self, deadline);
  wait.block(WaitKind::kPark, &w, [&w] { return w.notified; });
  return w.notified ? Wake::kNotified : wait.cause();
}

void park_notified(Waiter& w) noexcept {
  Carrier* c = Carrier::current();
  c->describe_wait(w.what, -1, !w.in_run_only);
  while (!w.notified) c->block(WaitKind::kPark, &w);
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
