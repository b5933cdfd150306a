// owner_lock: a lock that one thread (the owner) takes often and others take rarely, cheap for
// the owner.
//
// A carrier links every fiber it starts into its list of unfinished fibers and unlinks it when
// the fiber finishes; fiber dumps and the deadlock check read that list from other threads, a
// few times in a run. With an rt::Lock the owner paid two locked instructions per section, four
// per fiber's life, about a tenth of a spawn+join (docs/design.md, "Performance choices").
//
// The owner announces itself in busy_ and then reads visitor_; a visitor announces itself in
// visitor_ and then reads busy_ (Dekker's handshake): one of them sees the other. The visitor's
// side pays for both: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) makes every running thread of
// the process execute a full barrier, so the owner needs only a compiler barrier between its
// store and its load. An owner that sees a visitor steps back and takes the lock the visitors
// share, as a visitor does; a visitor that sees the owner waits for it to leave (its sections are
// a few instructions long and never wait for anything). Where membarrier is not available
// (kernels before 4.14, seccomp filters, valgrind) both sides use a sequentially consistent
// fence instead, one on the owner's side rather than two locked instructions. ThreadSanitizer
// models neither membarrier nor fences, so TSan builds use the shared lock on both sides.
#pragma once

#include <atomic>

#include "base/lock.hpp"
#include "base/sanitizer.hpp"  // WEFT_TSAN

namespace weft::rt {

// OwnerLock guards data that its owner thread changes and other threads (or the owner) read.
class OwnerLock {
 public:
  // OwnerLock() is free; prepare() must have run in the process before its first owner_lock().
  OwnerLock() noexcept = default;
  // prepare() decides, once per process, how owners and visitors fence (registering for
  // membarrier); idempotent and thread-safe.
  static void prepare() noexcept;

  // owner_lock() enters a section on the owner's thread; the owner never nests sections.
  void owner_lock() noexcept {
#if defined(WEFT_TSAN)
    lock_.lock();
#else
    busy_.store(true, std::memory_order_relaxed);
    owner_fence();
    if (visitor_.load(std::memory_order_relaxed)) [[unlikely]]
      owner_lock_slow();
#endif
  }
  // owner_unlock() leaves the owner's section.
  void owner_unlock() noexcept {
#if defined(WEFT_TSAN)
    lock_.unlock();
#else
    if (owner_locked_) [[unlikely]] {
      owner_locked_ = false;
      lock_.unlock();
      return;
    }
    busy_.store(false, std::memory_order_release);
#endif
  }
  // lock() enters a visitor's section, from any thread (the owner's too, outside its own
  // sections); it may make a system call.
  void lock() noexcept;
  // unlock() leaves a visitor's section.
  void unlock() noexcept;
  // reset() makes the lock free, in a forked child where its holders may be gone.
  void reset() noexcept;

 private:
  static void owner_fence() noexcept;
  void owner_lock_slow() noexcept;

  std::atomic<bool> busy_{false};     // the owner is in a section (without lock_)
  std::atomic<bool> visitor_{false};  // a visitor holds lock_ or wants it
  bool owner_locked_ = false;         // the owner's section holds lock_ (it met a visitor)
  Lock lock_;                         // visitors', and the owner's when it meets one
};

// Owner-side fence: a compiler barrier when visitors use membarrier, else a full fence.
extern bool g_owner_lock_membarrier;

inline void OwnerLock::owner_fence() noexcept {
  if (g_owner_lock_membarrier) {
    std::atomic_signal_fence(std::memory_order_seq_cst);
  } else {
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
}

}  // namespace weft::rt
