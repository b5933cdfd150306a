// thread_wait: waiting for a fiber thread to finish, with pthread's three kinds of limit.
#pragma once

#include <time.h>

#include <weft/deadline.hpp>

namespace weft::shim {

struct ThreadRecord;

// WaitLimit is how long a join may wait: forever, not at all (tryjoin), or until a deadline.
struct WaitLimit {
  // Kind is which of the three it is.
  enum Kind { kForever, kNow, kUntil };
  // kind is the limit's kind.
  Kind kind = kForever;
  // deadline is the steady-clock instant a kUntil wait gives up.
  weft::Deadline deadline;

  // forever() is no limit.
  static WaitLimit forever() noexcept { return WaitLimit{}; }
  // now() is a wait that must not block.
  static WaitLimit now() noexcept { return WaitLimit{kNow, {}}; }
  // until() sets out to wait until abstime on clock; returns 0, or EINVAL for an invalid time
  // or clock.
  static int until(clockid_t clock, const timespec& abstime, WaitLimit& out) noexcept;
};

// wait_thread_done() waits until t's function has returned, on a fiber without blocking the
// carrier and off one on a futex; returns 0, EBUSY (kNow, still running) or ETIMEDOUT.
int wait_thread_done(ThreadRecord& t, const WaitLimit& limit) noexcept;

}  // namespace weft::shim
