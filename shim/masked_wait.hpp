// masked_wait: a fiber wait with a signal mask of its own, as ppoll, pselect and epoll_pwait
// wait: the mask is the thread's for the wait and the old one is back afterwards, and a signal
// the mask lets through ends the wait with EINTR once its handler has run, also when it was
// pending before the wait began (which is the point of those calls).
#pragma once

#include <signal.h>
#include <cerrno>

#include "sigmask.hpp"
#include "signals.hpp"
#include "thread_record.hpp"

namespace weft::shim {

// masked_wait() runs wait (a weft wait returning -errno) as an interruptible call that never
// restarts, with *mask as the calling fiber's mask meanwhile (no change when mask is null).
template <class Wait>
long masked_wait(const sigset_t* mask, Wait&& wait) noexcept {
  if (mask == nullptr) return interruptible(Restart::kNever, wait);
  ThreadRecord* t = current_thread();
  unsigned start = t->sig_handled.load(std::memory_order_acquire);
  SigBits old = set_thread_mask(t, bits_of(*mask));
  bool restart;
  run_queued_signals(&restart);
  long n = -EINTR;
  if (t->sig_handled.load(std::memory_order_acquire) == start) {
    n = interruptible(Restart::kNever, wait);
  }
  set_thread_mask(t, old);
  return n;
}

}  // namespace weft::shim
