#include "wait_node.hpp"

#include "shim.hpp"

#include "base/sys.hpp"

namespace weft::shim {

namespace {

// futex_sleep() sleeps while n.woken is 0, at most until the deadline; errno is kept.
bool futex_sleep(WaitNode& n, const weft::Deadline& deadline) noexcept {
  return sys::futex_wait_until(&n.woken, 0, deadline);
}

}  // namespace

bool wait_woken(WaitNode& n, const weft::Deadline& deadline) noexcept {
  if (n.fiber == nullptr) return futex_sleep(n, deadline);
  // The carrier's other fibers run meanwhile: with shared TLS they set its errno.
  ErrnoScope keep;
  bool woken = true;
  if (!deadline.is_set()) {
    // Nothing but the wake-up can end this wait (shim fibers are never cancelled: the process
    // ends with exit(), not with weft::run's shutdown).
    rt::park_notified(*n.fiber);
  } else {
    woken = rt::park(*n.fiber, deadline) == rt::Wake::kNotified;
  }
  keep.restore();
  return woken;
}

void wait_claimed(WaitNode& n) noexcept {
  if (n.fiber != nullptr) {
    ErrnoScope keep;
    rt::park_notified(*n.fiber);
    keep.restore();
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
  sys::futex_wake(word, 1);
}

}  // namespace weft::shim
