// sigwait: the calls that wait for a signal (sigwait, sigwaitinfo, sigtimedwait, sigsuspend,
// pause) park only their fiber.
//
// A signal a thread waits for with the sigwait family is one it blocks, so it is either queued
// on the thread (pthread_kill), held by the shim for the process, or, when every thread blocks
// it, pending for the process in the kernel, which no carrier takes (sigmask.hpp). The wait
// looks in that order, the kernel through rt_sigtimedwait with a zero timeout on its carrier
// (which blocks the signal too), and otherwise parks on a signalfd of the set: the kernel makes
// it readable when such a signal becomes pending, and a signal queued on the thread interrupts
// the park. sigsuspend and pause wait until a handler of the program has run on the thread: a
// signal the mask lets through is taken by this thread's wrapper or queued on it and its park
// interrupted (signals.cpp).
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <cerrno>
#include <chrono>
#include <cstring>

#include <weft/deadline.hpp>
#include <weft/fiber.hpp>

#include "base/own_fd.hpp"
#include "base/sys.hpp"
#include "poll_wait.hpp"
#include "real.hpp"
#include "sched/carrier_tasks.hpp"
#include "shim.hpp"
#include "sigmask.hpp"
#include "signals.hpp"
#include "sigwait.hpp"
#include "stats.hpp"
#include "thread_record.hpp"

namespace weft::shim {

namespace {

// fold() reports a signal sent with tgkill as glibc's sigwaitinfo and sigtimedwait do: SI_USER,
// since raise() sends with tgkill too.
long fold(long sig, siginfo_t* info) noexcept {
  if (sig > 0 && info != nullptr && info->si_code == SI_TKILL) info->si_code = SI_USER;
  return sig;
}

// wait_signal() is rt_sigtimedwait(2) for the calling fiber: the signal taken, or -EAGAIN at the
// deadline, or -EINTR (a handler ran).
long wait_signal(SigBits want, siginfo_t* info, const weft::Deadline& deadline) noexcept {
  ThreadRecord* t = current_thread();
  want &= ~kNeverMasked;
  sigset_t kset;
  sigset_of(want, &kset);
  return interruptible(Restart::kNever, [&]() -> long {
    for (;;) {
      int sig;
      SigSlot slot;
      if (take_queued(t, want, &sig, &slot) || take_process_pending(want, &sig, &slot)) {
        if (info != nullptr) info_of(sig, slot, info);
        return sig;
      }
      timespec zero{0, 0};
      siginfo_t got;
      long r = sys::call(SYS_rt_sigtimedwait, &kset, &got, &zero, _NSIG / 8);
      // The carrier's own pending signals come too: a kick for another fiber is none of ours.
      if (r > 0 && redeliver_kick(static_cast<int>(r), &got)) continue;
      if (r > 0) {
        if (info != nullptr) *info = got;
        return r;
      }
      if (deadline.is_set() && weft::Clock::now() >= deadline.at()) return -EAGAIN;
      rt::OwnFd fd;
      int made = fd.make([&] {
        return sys::call(SYS_signalfd4, -1, &kset, _NSIG / 8, SFD_NONBLOCK | SFD_CLOEXEC);
      });
      if (made < 0) return made;
      pollfd p{fd.current(), POLLIN, 0};
      long pr = poll_fiber(&p, 1, deadline);
      fd.close();
      if (pr < 0) return pr;  // -EINTR: something was queued on the thread, or a handler ran
      if (pr == 0) return -EAGAIN;
    }
  });
}

// suspend() waits until a handler of the program has run on the calling fiber, with mask as its
// mask meanwhile when one is given; returns -EINTR, as sigsuspend(2) and pause(2) always do.
long suspend(const SigBits* mask) noexcept {
  ThreadRecord* t = current_thread();
  unsigned start = t->sig_handled.load(std::memory_order_acquire);
  SigBits old = 0;
  // A signal pending and now let through is delivered here, before the wait.
  if (mask != nullptr) old = set_thread_mask(t, *mask);
  rt::SignalWait outside;
  interruptible(Restart::kNever, [&]() -> long {
    if (t->sig_handled.load(std::memory_order_acquire) != start) return 0;
    return weft::this_fiber::sleep_until(weft::Deadline{});
  });
  if (mask != nullptr) set_thread_mask(t, old);
  return -EINTR;
}

weft::Deadline deadline_of(const timespec* timeout) noexcept {
  if (timeout == nullptr) return weft::Deadline{};
  return weft::Deadline(std::chrono::seconds(timeout->tv_sec) +
                        std::chrono::nanoseconds(timeout->tv_nsec));
}

}  // namespace

long sigtimedwait_fiber(const sigset_t& set, siginfo_t* info, const timespec* timeout) noexcept {
  if (timeout != nullptr && (timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000L)) {
    return -EINVAL;
  }
  return wait_signal(bits_of(set), info, deadline_of(timeout));
}

}  // namespace weft::shim

using namespace weft::shim;  // NOLINT: the hooks below are this file's whole content

extern "C" {

WEFT_EXPORT int sigwait(const sigset_t* set, int* sig) {
  if (!on_fiber()) {
    count(Sym::sigwait, Route::kOffFiber);
    auto real = WEFT_REAL(sigwait);
    return real != nullptr ? real(set, sig) : ENOSYS;
  }
  count(Sym::sigwait, Route::kWeft);
  // sigwait() never fails with EINTR: a handler that ran is followed by another wait.
  for (;;) {
    long r = wait_signal(bits_of(*set), nullptr, weft::Deadline{});
    if (r > 0) {
      *sig = static_cast<int>(r);
      return 0;
    }
    if (r != -EINTR) return static_cast<int>(-r);
  }
}

WEFT_EXPORT int sigwaitinfo(const sigset_t* set, siginfo_t* info) {
  if (!on_fiber()) {
    count(Sym::sigwaitinfo, Route::kOffFiber);
    auto real = WEFT_REAL(sigwaitinfo);
    return real != nullptr ? real(set, info) : (errno = ENOSYS, -1);
  }
  count(Sym::sigwaitinfo, Route::kWeft);
  ErrnoScope e;
  return e.result<int>(fold(wait_signal(bits_of(*set), info, weft::Deadline{}), info));
}

WEFT_EXPORT int sigtimedwait(const sigset_t* set, siginfo_t* info, const timespec* timeout) {
  if (!on_fiber()) {
    count(Sym::sigtimedwait, Route::kOffFiber);
    auto real = WEFT_REAL(sigtimedwait);
    return real != nullptr ? real(set, info, timeout) : (errno = ENOSYS, -1);
  }
  count(Sym::sigtimedwait, Route::kWeft);
  ErrnoScope e;
  return e.result<int>(fold(sigtimedwait_fiber(*set, info, timeout), info));
}

WEFT_EXPORT int sigsuspend(const sigset_t* mask) {
  if (!on_fiber()) {
    count(Sym::sigsuspend, Route::kOffFiber);
    auto real = WEFT_REAL(sigsuspend);
    return real != nullptr ? real(mask) : (errno = ENOSYS, -1);
  }
  count(Sym::sigsuspend, Route::kWeft);
  SigBits bits = bits_of(*mask);
  ErrnoScope e;
  return e.result<int>(suspend(&bits));
}

WEFT_EXPORT int pause() {
  if (!on_fiber()) {
    count(Sym::pause, Route::kOffFiber);
    auto real = WEFT_REAL(pause);
    return real != nullptr ? real() : (errno = ENOSYS, -1);
  }
  count(Sym::pause, Route::kWeft);
  ErrnoScope e;
  return e.result<int>(suspend(nullptr));
}

}  // extern "C"
