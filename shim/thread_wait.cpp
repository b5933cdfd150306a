#include "thread_wait.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cerrno>
#include <chrono>

#include "shim.hpp"
#include "thread_record.hpp"

namespace weft::shim {
namespace {

bool is_done(const ThreadRecord& t) noexcept {
  return t.done.load(std::memory_order_acquire) != 0;
}

// wait_off_fiber() sleeps on the futex word; a plain thread may block, it carries no fibers.
int wait_off_fiber(ThreadRecord& t, const WaitLimit& limit) noexcept {
  while (!is_done(t)) {
    timespec rel{};
    timespec* timeout = nullptr;
    if (limit.kind == WaitLimit::kUntil) {
      auto left = limit.deadline.at() - weft::Clock::now();
      if (left <= weft::Clock::duration::zero()) return ETIMEDOUT;
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      rel.tv_sec = static_cast<time_t>(ns / 1000000000);
      rel.tv_nsec = static_cast<long>(ns % 1000000000);
      timeout = &rel;
    }
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&t.done), FUTEX_WAIT_PRIVATE, 0, timeout,
              nullptr, 0);
  }
  return 0;
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
