// wait: poll and the sleeps, yielding on fibers.
//
// poll on a fiber: a timeout of 0 is a plain poll(2) (it never blocks). One fd waits as one
// io_uring poll. Several fds are first polled with a zero timeout, and if none is ready, put in
// a short-lived epoll set that one io_uring poll waits on; once it fires, poll(2) with a zero
// timeout fills in revents (looping if another thread took the readiness meanwhile). An fd
// whose poll(2) would say POLLNVAL is seen by the first zero-timeout poll, so the epoll set only
// ever holds open fds. Regular files (which epoll refuses) are always ready for what they can
// be ready for, so the first poll returns them too. The sleeps are weft timers on the fiber.
// Signals do not interrupt a fiber's wait (no EINTR): the handler runs on whichever fiber its
// carrier was running.
#include <poll.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <cerrno>
#include <chrono>
#include <climits>

#include <weft/fiber.hpp>
#include <weft/io.hpp>

#include "real.hpp"
#include "shim.hpp"
#include "stats.hpp"

extern "C" {
int __poll_chk(pollfd* fds, nfds_t nfds, int timeout, size_t fdslen);
[[noreturn]] void __chk_fail();
}

namespace weft::shim {
namespace {

using std::chrono::nanoseconds;

// use_weft() tells whether a wait call of s goes to weft (on a fiber) and counts it.
bool use_weft(Sym s) noexcept {
  bool weft = on_fiber();
  count(s, weft ? Route::kWeft : Route::kOffFiber);
  return weft;
}

int real_poll(pollfd* fds, nfds_t nfds, int timeout) noexcept {
  auto real = WEFT_REAL(poll);
  if (real != nullptr) return real(fds, nfds, timeout);
  return static_cast<int>(::syscall(SYS_poll, fds, nfds, timeout));
}

weft::Deadline deadline_ms(int timeout) noexcept {
  return timeout < 0 ? weft::Deadline() : weft::Deadline(std::chrono::milliseconds(timeout));
}

// sleep_until() sleeps the fiber; returns 0 or -errno (only a cancelled fiber wakes early).
int sleep_until(const weft::Deadline& d) noexcept {
  return weft::this_fiber::sleep_until(d);
}

// poll_set() waits for several fds through an epoll set; returns what poll(2) returns.
long poll_set(pollfd* fds, nfds_t nfds, const weft::Deadline& d) noexcept {
  int ep = static_cast<int>(::syscall(SYS_epoll_create1, EPOLL_CLOEXEC));
  if (ep < 0) return -errno;
  for (nfds_t i = 0; i < nfds; ++i) {
    if (fds[i].fd < 0) continue;
    epoll_event ev{};
    // poll's and epoll's event bits have the same values on Linux.
    for (nfds_t j = 0; j <= i; ++j) {
      if (fds[j].fd == fds[i].fd) ev.events |= static_cast<std::uint16_t>(fds[j].events);
    }
    int op = EPOLL_CTL_ADD;
    for (nfds_t j = 0; j < i; ++j) {
      if (fds[j].fd == fds[i].fd) op = EPOLL_CTL_MOD;
    }
    // EPERM: a file epoll cannot watch (a regular file), ready whenever it can be.
    ::syscall(SYS_epoll_ctl, ep, op, fds[i].fd, &ev);
  }
  long r;
  for (;;) {
    r = weft::poll(ep, POLLIN, d);
    if (r == -ETIMEDOUT) {
      r = 0;
      break;
    }
    if (r < 0) break;
    r = real_poll(fds, nfds, 0);
    if (r != 0) {
      if (r < 0) r = -errno;
      break;
    }
  }
  ::syscall(SYS_close, ep);
  return r;
}

long poll_fiber(pollfd* fds, nfds_t nfds, int timeout) noexcept {
  weft::Deadline d = deadline_ms(timeout);
  pollfd* only = nullptr;
  nfds_t open = 0;
  for (nfds_t i = 0; i < nfds; ++i) {
    if (fds[i].fd >= 0) {
      ++open;
      only = &fds[i];
    }
    fds[i].revents = 0;
  }
  if (open == 0) {
    int r = sleep_until(d);
    return r == -ECANCELED ? -EINTR : 0;
  }
  if (open == 1) {
    for (;;) {
      int r = weft::poll(only->fd, only->events, d);
      if (r == -ETIMEDOUT) return 0;
      if (r < 0) return r;
      auto revents = static_cast<short>(r & (only->events | POLLERR | POLLHUP | POLLNVAL));
      if (revents != 0) {
        only->revents = revents;
        return 1;
      }
    }
  }
  int ready = real_poll(fds, nfds, 0);
  if (ready != 0) return ready < 0 ? -errno : ready;
  return poll_set(fds, nfds, d);
}

bool valid(const timespec* t) noexcept {
  return t->tv_sec >= 0 && t->tv_nsec >= 0 && t->tv_nsec < 1000000000;
}

nanoseconds to_ns(const timespec& t) noexcept {
  return std::chrono::seconds(t.tv_sec) + nanoseconds(t.tv_nsec);
}

}  // namespace
}  // namespace weft::shim

using namespace weft::shim;  // NOLINT: the hooks below are this file's whole content

extern "C" {

WEFT_EXPORT int poll(pollfd* fds, nfds_t nfds, int timeout) {
  if (timeout == 0 || !use_weft(Sym::poll)) return real_poll(fds, nfds, timeout);
  ErrnoScope e;
  return e.result<int>(poll_fiber(fds, nfds, timeout));
}

WEFT_EXPORT int __poll_chk(pollfd* fds, nfds_t nfds, int timeout, size_t fdslen) {
  if (fdslen / sizeof(pollfd) < nfds) __chk_fail();
  if (timeout == 0 || !use_weft(Sym::__poll_chk)) return real_poll(fds, nfds, timeout);
  ErrnoScope e;
  return e.result<int>(poll_fiber(fds, nfds, timeout));
}

WEFT_EXPORT int nanosleep(const timespec* req, timespec* rem) {
  if (!use_weft(Sym::nanosleep)) {
    auto real = WEFT_REAL(nanosleep);
    if (real != nullptr) return real(req, rem);
    return static_cast<int>(::syscall(SYS_nanosleep, req, rem));
  }
  ErrnoScope e;
  if (req == nullptr) return e.result<int>(-EFAULT);
  if (!valid(req)) return e.result<int>(-EINVAL);
  sleep_until(weft::Deadline(to_ns(*req)));
  return e.result<int>(0);
}

WEFT_EXPORT int clock_nanosleep(clockid_t clock, int flags, const timespec* req, timespec* rem) {
  // A CPU-time clock advances only while something computes: not a wait a timer can stand for.
  bool timer_clock = clock == CLOCK_REALTIME || clock == CLOCK_MONOTONIC ||
                     clock == CLOCK_BOOTTIME || clock == CLOCK_TAI;
  if (!timer_clock || !use_weft(Sym::clock_nanosleep)) {
    if (timer_clock == false) count(Sym::clock_nanosleep, Route::kOffFiber);
    auto real = WEFT_REAL(clock_nanosleep);
    return real != nullptr ? real(clock, flags, req, rem) : ENOSYS;
  }
  // clock_nanosleep returns the error number and leaves errno alone.
  ErrnoScope keep;
  if (req == nullptr) return EFAULT;
  if (req->tv_nsec < 0 || req->tv_nsec >= 1000000000) return EINVAL;
  nanoseconds wait = to_ns(*req);
  if ((flags & TIMER_ABSTIME) != 0) {
    timespec now{};
    ::clock_gettime(clock, &now);
    wait -= to_ns(now);
  } else if (req->tv_sec < 0) {
    return EINVAL;
  }
  if (wait > nanoseconds::zero()) sleep_until(weft::Deadline(wait));
  keep.restore();
  return 0;
}

WEFT_EXPORT unsigned int sleep(unsigned int seconds) {
  if (!use_weft(Sym::sleep)) {
    auto real = WEFT_REAL(sleep);
    return real != nullptr ? real(seconds) : seconds;
  }
  ErrnoScope keep;
  sleep_until(weft::Deadline(std::chrono::seconds(seconds)));
  keep.restore();
  return 0;
}

WEFT_EXPORT int usleep(useconds_t usec) {
  if (!use_weft(Sym::usleep)) {
    auto real = WEFT_REAL(usleep);
    return real != nullptr ? real(usec) : 0;
  }
  ErrnoScope e;
  sleep_until(weft::Deadline(std::chrono::microseconds(usec)));
  return e.result<int>(0);
}

WEFT_EXPORT int sched_yield() noexcept {
  if (!use_weft(Sym::sched_yield)) {
    auto real = WEFT_REAL(sched_yield);
    return real != nullptr ? real() : static_cast<int>(::syscall(SYS_sched_yield));
  }
  weft::this_fiber::yield();
  return 0;
}

}  // extern "C"
