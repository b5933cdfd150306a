#include "thread_wait.hpp"

#include <cerrno>

#include "base/sys.hpp"
#include "shim.hpp"
#include "thread_record.hpp"

namespace weft::shim {
namespace {

bool is_done(const ThreadRecord& t) noexcept {
  return t.done.load(std::memory_order_acquire) != 0;
}

// wait_off_fiber() sleeps on the futex word; a plain thread may block, it carries no fibers.
int wait_off_fiber(ThreadRecord& t, const WaitLimit& limit) noexcept {
  weft::Deadline until = limit.kind == WaitLimit::kUntil ? limit.deadline : weft::Deadline();
  return sys::futex_wait_until(&t.done, 0, until) ? 0 : ETIMEDOUT;
}

}  // namespace

int WaitLimit::until(clockid_t clock, const timespec& abstime, WaitLimit& out) noexcept {
  if (abstime.tv_nsec < 0 || abstime.tv_nsec >= 1000000000) return EINVAL;
  timespec now{};
  if (::clock_gettime(clock, &now) != 0) return EINVAL;
  auto left = std::chrono::seconds(abstime.tv_sec - now.tv_sec) +
              std::chrono::nanoseconds(abstime.tv_nsec - now.tv_nsec);
  out = WaitLimit{kUntil, weft::Deadline(left)};
  return 0;
}

int wait_thread_done(ThreadRecord& t, const WaitLimit& limit) noexcept {
  if (limit.kind == WaitLimit::kNow) return is_done(t) ? 0 : EBUSY;
  if (!on_fiber()) return wait_off_fiber(t, limit);
  ErrnoScope keep;
  try {
    if (limit.kind == WaitLimit::kForever) {
      t.done_event.wait();
    } else if (!t.done_event.wait_until(limit.deadline.at())) {
      keep.restore();
      return ETIMEDOUT;
    }
  } catch (...) {
    // Cancelled or timed out by the runtime: only at a shutdown the shim never starts.
    keep.restore();
    return is_done(t) ? 0 : EINTR;
  }
  keep.restore();
  return 0;
}

}  // namespace weft::shim
