#include "sched/interrupt.hpp"

#include <cstdlib>
#include <stdexcept>
#include <string>

#include "sched/carrier.hpp"

namespace weft::rt {

void throw_wake(Wake why) {
  if (why == Wake::kCancelled) throw Cancelled();
  if (why == Wake::kScope) throw TimedOut(detail::expired_scope(running_fiber()));
  std::abort();  // kNotified and kDeadline are not errors of the wait itself
}

void throw_if_interrupted() {
  Wake why = interrupted();
  if (why != Wake::kNotified) throw_wake(why);
}

FiberControl* require_fiber(const char* what) {
  FiberControl* self = running_fiber();
  if (self == nullptr) throw std::logic_error(std::string(what) + " would block off a fiber");
  return self;
}

bool deadline_passed(const Deadline& deadline) noexcept {
  return deadline.is_set() && Clock::now() >= deadline.at();
}

void interrupt_fiber(FiberControl* f) noexcept {
  f->carrier_->post_interrupt(f);
}

}  // namespace weft::rt
