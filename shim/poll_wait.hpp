// poll_wait: waiting on a fiber until one of several fds is ready -- poll(2)'s wait, for poll,
// ppoll, select and pselect.
//
// One fd waits as one io_uring poll. Several fds are first polled with a zero timeout, and if
// none is ready, put in a short-lived epoll set that one io_uring poll waits on; once it fires,
// poll(2) with a zero timeout fills in revents (looping if another thread took the readiness
// meanwhile). An fd whose poll(2) would say POLLNVAL is seen by the first zero-timeout poll, so
// the epoll set only ever holds open fds. Regular files (which epoll refuses) are always ready
// for what they can be ready for, so the first poll returns them too. No fds at all is a sleep.
#pragma once

#include <poll.h>

#include <weft/deadline.hpp>

namespace weft::shim {

// real_poll() is libc's poll (the system call while libc's is still being looked up).
int real_poll(pollfd* fds, nfds_t nfds, int timeout) noexcept;
// poll_fiber() waits on the calling fiber as poll(2) would until the deadline; returns poll's
// result or -errno.
long poll_fiber(pollfd* fds, nfds_t nfds, const weft::Deadline& deadline) noexcept;

}  // namespace weft::shim
