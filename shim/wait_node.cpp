#include "wait_node.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <cerrno>
#include <chrono>

namespace weft::shim {

namespace {

// futex_sleep() sleeps while n.woken is 0, at most until the deadline; errno is kept.
bool futex_sleep(WaitNode& n, const weft::Deadline& deadline) noexcept {
  int saved = errno;
  while (n.woken.load(std::memory_order_acquire) == 0) {
    timespec rel{};
    timespec* timeout = nullptr;
    if (deadline.is_set()) {
      auto left = deadline.at() - weft::Clock::now();
      if (left <= weft::Clock::duration::zero()) break;
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      rel.tv_sec = static_cast<time_t>(ns / 1000000000);
      rel.tv_nsec = static_cast<long>(ns % 1000000000);
      timeout = &rel;
    }
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&n.woken), FUTEX_WAIT_PRIVATE, 0, timeout,
              nullptr, 0);
  }
  errno = saved;
  return n.woken.load(std::memory_order_acquire) != 0;
}

}  // namespace

bool wait_woken(WaitNode& n, const weft::Deadline& deadline) noexcept {
  if (n.fiber == nullptr) return futex_sleep(n, deadline);
  if (!deadline.is_set()) {
    // Nothing but the wake-up can end this wait (shim fibers are never cancelled: the process
    // ends with exit(), not with weft::run's shutdown).
    rt::park_notified(*n.fiber);
    return true;
  }
  return rt::park(*n.fiber, deadline) == rt::Wake::kNotified;
}

void wait_claimed(WaitNode& n) noexcept {
  if (n.fiber != nullptr) {
    rt::park_notified(*n.fiber);
  } else {
    futex_sleep(n, weft::Deadline());
  }
}

void wake(WaitNode* n) noexcept {
  if (n->ghost()) return;
  if (rt::Waiter* w = n->fiber) {
    rt::notify(*w);
    return;
  }
  // Once woken is 1 the thread may return and its frame go; the futex wake only uses the
  // address, and a stray wake of a later waiter there is a spurious wake-up it rechecks.
  std::atomic<std::uint32_t>* word = &n->woken;
  word->store(1, std::memory_order_release);
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE_PRIVATE, 1, nullptr,
            nullptr, 0);
}

}  // namespace weft::shim
