#include "base/owner_lock.hpp"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <new>

#include "base/sys.hpp"

namespace weft::rt {

bool g_owner_lock_membarrier = false;

namespace {

bool register_membarrier() noexcept {
  return sys::call(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

bool decide() noexcept {
#if defined(WEFT_TSAN)
  return false;
#else
  long cmds = sys::call(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
  g_owner_lock_membarrier = cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
                            register_membarrier() &&
                            sys::call(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0;
  return g_owner_lock_membarrier;
#endif
}

// visitor_fence() is the heavy side of the handshake: after it, a store the owner made before its
// own (compiler-only) fence is visible here, or the owner's load after that fence sees ours.
void visitor_fence() noexcept {
  if (!g_owner_lock_membarrier) {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return;
  }
  if (sys::call(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0) return;
  // The registration is the process's, kept across fork and lost only at exec; registering again
  // is harmless if it was somehow lost.
  if (register_membarrier() &&
      sys::call(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0) {
    return;
  }
  sys::write_stderr("weft: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) failed after it worked\n");
  __builtin_trap();
}

}  // namespace

void OwnerLock::prepare() noexcept {
  // Decided once, before any owner's first section: a thread that passes this line sees the
  // choice (static initialisation is synchronised).
  static const bool decided = decide();
  (void)decided;
}

void OwnerLock::owner_lock_slow() noexcept {
  // A visitor is in, or coming: step back (it may be waiting for busy_ to clear) and queue
  // behind it on the lock.
  busy_.store(false, std::memory_order_release);
  lock_.lock();
  owner_locked_ = true;
}

void OwnerLock::lock() noexcept {
  lock_.lock();
#if !defined(WEFT_TSAN)
  visitor_.store(true, std::memory_order_relaxed);
  visitor_fence();
  // The owner's sections are a few instructions and never wait; it may have been preempted in
  // one, though.
  for (int spins = 0; busy_.load(std::memory_order_acquire); ++spins) {
    if (spins < 128) {
      cpu_relax();
    } else {
      sys::yield_thread();
    }
  }
#endif
}

void OwnerLock::unlock() noexcept {
#if !defined(WEFT_TSAN)
  visitor_.store(false, std::memory_order_release);
#endif
  lock_.unlock();
}

void OwnerLock::reset() noexcept {
  busy_.store(false, std::memory_order_relaxed);
  visitor_.store(false, std::memory_order_relaxed);
  owner_locked_ = false;
  new (&lock_) Lock();
}

}  // namespace weft::rt
