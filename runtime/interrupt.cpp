#include "interrupt.hpp"

#include <cstdlib>

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

}  // namespace weft::rt
