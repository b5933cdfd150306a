#include "base/lock.hpp"

#include "base/sys.hpp"

namespace weft::rt {

void Lock::lock_slow() noexcept {
  for (int i = 0; i < 64; ++i) {
    cpu_relax();
    std::uint32_t expected = 0;
    if (state_.load(std::memory_order_relaxed) == 0 &&
        state_.compare_exchange_weak(expected, 1, std::memory_order_acquire,
                                     std::memory_order_relaxed)) {
      return;
    }
  }
  // From here on the lock is taken as "contended" (2), so the unlock that follows wakes the next
  // sleeper even if this thread was the last one.
  while (state_.exchange(2, std::memory_order_acquire) != 0) {
    sys::futex_wait(&state_, 2);
  }
}

void Lock::wake_one() noexcept {
  sys::futex_wake(&state_, 1);
}

}  // namespace weft::rt
