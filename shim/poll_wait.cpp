#include "poll_wait.hpp"

#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cerrno>
#include <cstdint>

#include <weft/fiber.hpp>
#include <weft/io.hpp>

#include "base/own_fd.hpp"
#include "base/sys.hpp"
#include "real.hpp"
#include "shim.hpp"

namespace weft::shim {

int real_poll(pollfd* fds, nfds_t nfds, int timeout) noexcept {
  auto real = WEFT_REAL(poll);
  if (real != nullptr) return real(fds, nfds, timeout);
  return static_cast<int>(weft::shim::raw(SYS_poll, fds, nfds, timeout));
}

namespace {

// poll_set() waits for several fds through an epoll set; returns what poll(2) returns. The set
// is the runtime's own fd (base/own_fd.hpp): natively poll makes no fd, so it must not take the
// program's lowest free number, nor be closed by the program's close-all loop. Its number is
// resolved by the reactor after the fiber parks, outside any Use: if the program's dup2 moves the
// set meanwhile, the wait in flight may watch the program's new file until it ends (the set's
// readiness still ends it on epoll; on io_uring an unsubmitted poll can miss it until the
// deadline), and the next round polls the set's new number.
long poll_set(pollfd* fds, nfds_t nfds, const weft::Deadline& d) noexcept {
  rt::OwnFd ep;
  if (int r = ep.make([]() noexcept { return sys::call(SYS_epoll_create1, EPOLL_CLOEXEC); });
      r < 0) {
    return r;
  }
  {
    rt::OwnFd::Use set(ep);
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
      sys::call(SYS_epoll_ctl, set.fd(), op, fds[i].fd, &ev);
    }
  }
  long r;
  for (;;) {
    int number = ep.current();
    r = weft::poll(number, POLLIN, d);
    if (r == -ETIMEDOUT) {
      r = 0;
      break;
    }
    if (r == -EBADF && ep.current() != number) continue;  // moved, and the old number closed
    if (r < 0) break;
    r = real_poll(fds, nfds, 0);
    if (r != 0) {
      if (r < 0) r = -errno;
      break;
    }
  }
  return r;
}

}  // namespace

long poll_fiber(pollfd* fds, nfds_t nfds, const weft::Deadline& d) noexcept {
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
    int r = weft::this_fiber::sleep_until(d);
    return r == -ECANCELED || r == -EINTR ? -EINTR : 0;
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

}  // namespace weft::shim
