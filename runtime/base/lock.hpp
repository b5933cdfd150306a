// lock: the runtime's own mutex, for state shared between carriers.
//
// Not std::mutex: under the shim, pthread_mutex_lock is interposed and turns into a fiber-aware
// lock built on this one, so the runtime must never call it. This is the classic three-state
// futex mutex (0 free, 1 locked, 2 locked with sleepers): an uncontended lock/unlock is one
// atomic RMW each; a contended one spins briefly, then sleeps in futex(2) through syscall(2).
// Critical sections it guards are short (list splices), so the OS-level sleep is rare; it blocks
// the whole carrier while it lasts, which is why nothing ever waits for a fiber under it.
#pragma once

#include <atomic>
#include <cstdint>

namespace weft::rt {

// cpu_relax() tells the CPU the caller spins, waiting for another thread (a pause).
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// Lock is a small futex mutex; it meets BasicLockable, so std::lock_guard works with it.
class Lock {
 public:
  // lock() acquires the lock, spinning a little, then sleeping in the kernel.
  void lock() noexcept {
    std::uint32_t expected = 0;
    if (state_.compare_exchange_strong(expected, 1, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
      return;
    }
    lock_slow();
  }
  // try_lock() acquires the lock if it is free.
  bool try_lock() noexcept {
    std::uint32_t expected = 0;
    return state_.compare_exchange_strong(expected, 1, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }
  // unlock() releases the lock, waking one sleeper if there is one.
  void unlock() noexcept {
    if (state_.exchange(0, std::memory_order_release) == 2) wake_one();
  }

 private:
  void lock_slow() noexcept;
  void wake_one() noexcept;

  std::atomic<std::uint32_t> state_{0};
};

}  // namespace weft::rt
