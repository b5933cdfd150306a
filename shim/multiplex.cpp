// multiplex: the calls that wait for one of several fds -- poll, ppoll, select, pselect,
// epoll_wait, epoll_pwait and epoll_pwait2 -- yielding on fibers, so an event loop that runs in a
// thread yields instead of holding its carrier.
//
// poll on a fiber waits as poll_wait.hpp describes; a timeout of 0 is a plain poll(2), which
// never blocks.
// select and pselect first look with a zero timeout; if nothing is ready, they wait as poll
// does (poll_wait.hpp) on the same fds (read set -> POLLIN, write set -> POLLOUT, except set ->
// POLLPRI), then look again with a zero timeout to fill the sets, as the kernel would, and loop
// if another thread took the readiness meanwhile. select, like Linux's, writes the time not
// slept back into its timeout. epoll_wait waits for the epoll fd itself to become readable (it
// is, while any of its fds is ready) and then collects the events with a zero timeout.
//
// A handled signal ends each of them with EINTR, whatever SA_RESTART says (signal(7)); select
// then still writes back the time left. A call with a signal mask (pselect, ppoll, epoll_pwait,
// epoll_pwait2 with a non-null mask) passes through and blocks the carrier: its point is to let
// signals in atomically with the wait, which swapping the carrier's mask around a fiber's wait
// cannot do.
#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cerrno>
#include <chrono>
#include <cstdlib>

#include <weft/io.hpp>

#include "base/memory.hpp"
#include "masked_wait.hpp"
#include "poll_wait.hpp"
#include "real.hpp"
#include "shim.hpp"
#include "signals.hpp"
#include "stats.hpp"

extern "C" {
int __poll_chk(pollfd* fds, nfds_t nfds, int timeout, size_t fdslen);
[[noreturn]] void __chk_fail();
}

namespace weft::shim {
namespace {

weft::Deadline deadline_ms(int timeout) noexcept {
  return timeout < 0 ? weft::Deadline() : weft::Deadline(std::chrono::milliseconds(timeout));
}

// poll_wait() is poll's wait on a fiber.
long poll_wait(pollfd* fds, nfds_t nfds, int timeout) noexcept {
  weft::Deadline d = deadline_ms(timeout);
  return interruptible(Restart::kNever, [&] { return poll_fiber(fds, nfds, d); });
}

weft::Deadline deadline_of(const timespec* t) noexcept {
  if (t == nullptr) return {};
  return weft::Deadline(std::chrono::seconds(t->tv_sec) + std::chrono::nanoseconds(t->tv_nsec));
}

bool is_zero(const timespec* t) noexcept {
  return t != nullptr && t->tv_sec == 0 && t->tv_nsec == 0;
}

bool valid(const timespec* t) noexcept {
  return t == nullptr || (t->tv_sec >= 0 && t->tv_nsec >= 0 && t->tv_nsec < 1000000000);
}

// select_now() is select(2) with a zero timeout on copies of the sets, copied back when
// something is ready (or on an error).
int select_now(int nfds, fd_set* r, fd_set* w, fd_set* e) noexcept {
  fd_set rc, wc, ec;
  if (r != nullptr) rc = *r;
  if (w != nullptr) wc = *w;
  if (e != nullptr) ec = *e;
  timeval zero{0, 0};
  auto real = WEFT_REAL(select);
  int n = real != nullptr
              ? real(nfds, r ? &rc : nullptr, w ? &wc : nullptr, e ? &ec : nullptr, &zero)
              : static_cast<int>(weft::shim::raw(SYS_select, nfds, r ? &rc : nullptr,
                                                 w ? &wc : nullptr, e ? &ec : nullptr, &zero));
  if (n != 0) {
    if (r != nullptr) *r = rc;
    if (w != nullptr) *w = wc;
    if (e != nullptr) *e = ec;
  }
  return n;
}

// select_fiber() is select's wait on a fiber; returns select's result or -errno.
long select_fiber(int nfds, fd_set* r, fd_set* w, fd_set* e, const weft::Deadline& d) noexcept {
  if (nfds < 0) return -EINVAL;
  if (nfds > FD_SETSIZE) nfds = FD_SETSIZE;  // the kernel clamps too; an fd_set holds no more
  for (;;) {
    int n = select_now(nfds, r, w, e);
    if (n != 0) return n < 0 ? -errno : n;
    pollfd few[64];
    pollfd* fds = few;
    if (nfds > 64) {
      fds = static_cast<pollfd*>(
          weft::rt::mem_alloc(sizeof(pollfd) * static_cast<std::size_t>(nfds)));
      if (fds == nullptr) return -ENOMEM;
    }
    nfds_t count = 0;
    for (int fd = 0; fd < nfds; ++fd) {
      short events = 0;
      if (r != nullptr && FD_ISSET(fd, r)) events |= POLLIN;
      if (w != nullptr && FD_ISSET(fd, w)) events |= POLLOUT;
      if (e != nullptr && FD_ISSET(fd, e)) events |= POLLPRI;
      if (events != 0) fds[count++] = pollfd{fd, events, 0};
    }
    long ready = poll_fiber(fds, count, d);
    if (fds != few) weft::rt::mem_free(fds);
    if (ready < 0) return ready;
    if (ready == 0) {
      // Timed out: select reports empty sets.
      if (r != nullptr) FD_ZERO(r);
      if (w != nullptr) FD_ZERO(w);
      if (e != nullptr) FD_ZERO(e);
      return 0;
    }
  }
}

// epoll_fiber() waits for events on epfd; returns epoll_wait's result or -errno.
long epoll_fiber(int epfd, epoll_event* events, int max, const weft::Deadline& d) noexcept {
  auto real = WEFT_REAL(epoll_wait);
  for (;;) {
    int n = real != nullptr
                ? real(epfd, events, max, 0)
                : static_cast<int>(weft::shim::raw(SYS_epoll_wait, epfd, events, max, 0));
    if (n != 0) return n < 0 ? -errno : n;
    long r = weft::poll(epfd, POLLIN, d);
    if (r == -ETIMEDOUT) return 0;
    if (r < 0) return r;
  }
}

}  // namespace
}  // namespace weft::shim

using namespace weft::shim;  // NOLINT: the hooks below are this file's whole content

extern "C" {

WEFT_EXPORT int poll(pollfd* fds, nfds_t nfds, int timeout) {
  if (timeout == 0 || !count_fiber_call(Sym::poll)) return real_poll(fds, nfds, timeout);
  ErrnoScope e;
  return e.result<int>(poll_wait(fds, nfds, timeout));
}

WEFT_EXPORT int __poll_chk(pollfd* fds, nfds_t nfds, int timeout, size_t fdslen) {
  if (fdslen / sizeof(pollfd) < nfds) __chk_fail();
  if (timeout == 0 || !count_fiber_call(Sym::__poll_chk)) return real_poll(fds, nfds, timeout);
  ErrnoScope e;
  return e.result<int>(poll_wait(fds, nfds, timeout));
}

WEFT_EXPORT int select(int nfds, fd_set* r, fd_set* w, fd_set* e, timeval* timeout) {
  bool zero = timeout != nullptr && timeout->tv_sec == 0 && timeout->tv_usec == 0;
  if (zero || !count_fiber_call(Sym::select)) {
    auto real = WEFT_REAL(select);
    return real != nullptr ? real(nfds, r, w, e, timeout)
                           : static_cast<int>(weft::shim::raw(SYS_select, nfds, r, w, e, timeout));
  }
  ErrnoScope keep;
  if (timeout != nullptr && (timeout->tv_sec < 0 || timeout->tv_usec < 0)) {
    return keep.result<int>(-EINVAL);
  }
  weft::Deadline d;
  if (timeout != nullptr) {
    // Seconds and microseconds may each be large: the sum is normalised by the duration type.
    d = weft::Deadline(std::chrono::seconds(timeout->tv_sec) +
                       std::chrono::microseconds(timeout->tv_usec));
  }
  long n = interruptible(Restart::kNever, [&] { return select_fiber(nfds, r, w, e, d); });
  if (timeout != nullptr && (n >= 0 || n == -EINTR)) {
    auto left = d.at() - weft::Clock::now();
    if (left < weft::Clock::duration::zero()) left = weft::Clock::duration::zero();
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(left).count();
    timeout->tv_sec = static_cast<time_t>(us / 1000000);
    timeout->tv_usec = static_cast<suseconds_t>(us % 1000000);
  }
  return keep.result<int>(n);
}

WEFT_EXPORT int pselect(int nfds, fd_set* r, fd_set* w, fd_set* e, const timespec* timeout,
                        const sigset_t* sigmask) {
  if (is_zero(timeout) || !count_fiber_call(Sym::pselect)) {
    auto real = WEFT_REAL(pselect);
    return real != nullptr ? real(nfds, r, w, e, timeout, sigmask) : (errno = ENOSYS, -1);
  }
  ErrnoScope keep;
  if (!valid(timeout)) return keep.result<int>(-EINVAL);
  weft::Deadline d = deadline_of(timeout);
  return keep.result<int>(masked_wait(sigmask, [&] { return select_fiber(nfds, r, w, e, d); }));
}

WEFT_EXPORT int ppoll(pollfd* fds, nfds_t nfds, const timespec* timeout, const sigset_t* sigmask) {
  if (is_zero(timeout) || !count_fiber_call(Sym::ppoll)) {
    auto real = WEFT_REAL(ppoll);
    return real != nullptr ? real(fds, nfds, timeout, sigmask) : (errno = ENOSYS, -1);
  }
  ErrnoScope keep;
  if (!valid(timeout)) return keep.result<int>(-EINVAL);
  weft::Deadline d = deadline_of(timeout);
  return keep.result<int>(masked_wait(sigmask, [&] { return poll_fiber(fds, nfds, d); }));
}

WEFT_EXPORT int epoll_wait(int epfd, epoll_event* events, int max, int timeout) {
  if (timeout == 0 || !count_fiber_call(Sym::epoll_wait)) {
    auto real = WEFT_REAL(epoll_wait);
    return real != nullptr
               ? real(epfd, events, max, timeout)
               : static_cast<int>(weft::shim::raw(SYS_epoll_wait, epfd, events, max, timeout));
  }
  ErrnoScope keep;
  weft::Deadline d =
      timeout < 0 ? weft::Deadline() : weft::Deadline(std::chrono::milliseconds(timeout));
  return keep.result<int>(
      interruptible(Restart::kNever, [&] { return epoll_fiber(epfd, events, max, d); }));
}

WEFT_EXPORT int epoll_pwait(int epfd, epoll_event* events, int max, int timeout,
                            const sigset_t* sigmask) {
  if (timeout == 0 || !count_fiber_call(Sym::epoll_pwait)) {
    auto real = WEFT_REAL(epoll_pwait);
    return real != nullptr ? real(epfd, events, max, timeout, sigmask) : (errno = ENOSYS, -1);
  }
  ErrnoScope keep;
  weft::Deadline d =
      timeout < 0 ? weft::Deadline() : weft::Deadline(std::chrono::milliseconds(timeout));
  return keep.result<int>(masked_wait(sigmask, [&] { return epoll_fiber(epfd, events, max, d); }));
}

WEFT_EXPORT int epoll_pwait2(int epfd, epoll_event* events, int max, const timespec* timeout,
                             const sigset_t* sigmask) {
  if (is_zero(timeout) || !count_fiber_call(Sym::epoll_pwait2)) {
    auto real = WEFT_REAL(epoll_pwait2);
    return real != nullptr ? real(epfd, events, max, timeout, sigmask) : (errno = ENOSYS, -1);
  }
  ErrnoScope keep;
  if (!valid(timeout)) return keep.result<int>(-EINVAL);
  weft::Deadline d = deadline_of(timeout);
  return keep.result<int>(masked_wait(sigmask, [&] { return epoll_fiber(epfd, events, max, d); }));
}

}  // extern "C"
