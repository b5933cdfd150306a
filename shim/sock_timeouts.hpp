// sock_timeouts: SO_RCVTIMEO and SO_SNDTIMEO on fibers.
//
// weft's I/O waits on io_uring, which ignores a socket's receive and send timeouts, so the shim
// keeps them itself and gives the weft call a deadline; a call that runs into it fails as the
// kernel's would: EAGAIN, or EINPROGRESS for connect, or the bytes already sent.
//
// Model: a socket timeout belongs to the socket, which dup()s share and which an accepted
// socket inherits from its listener. The shim records a timeout per fd when setsockopt sets it
// (interposed), copies the listener's to an accepted fd, forgets it on close, and marks an fd
// and its duplicate "ask the kernel" (getsockopt on each call), since a later setsockopt through
// either changes both. Nothing is looked up until the program first sets a timeout, so programs
// that never do pay one relaxed load per call. Not seen: timeouts a socket had before the
// program got it (inherited, received over a socket), or set by a raw system call.
#pragma once

#include <sys/time.h>

#include <weft/deadline.hpp>

namespace weft::shim {

// Direction says which timeout applies: SO_RCVTIMEO (kRecv) or SO_SNDTIMEO (kSend).
enum class Direction { kRecv, kSend };

// timeout_set() records fd's timeout after a successful setsockopt (tv zero: no timeout).
void timeout_set(int fd, Direction d, const timeval& tv) noexcept;
// timeout_forget() drops what is known of fd's timeouts (it was closed).
void timeout_forget(int fd) noexcept;
// timeout_forget_range() drops what is known of the timeouts of every fd from first to last.
void timeout_forget_range(unsigned first, unsigned last) noexcept;
// timeout_shared() marks two fds that now share one socket: both ask the kernel from now on.
void timeout_shared(int a, int b) noexcept;
// timeout_inherit() gives an accepted fd its listener's timeouts.
void timeout_inherit(int listener, int accepted) noexcept;
// timeout_deadline() is the deadline a blocking call on fd starting now gets (never if none).
weft::Deadline timeout_deadline(int fd, Direction d) noexcept;
// timed_out() tells whether r is a weft call's -ETIMEDOUT caused by deadline d.
bool timed_out(long r, const weft::Deadline& d) noexcept;

}  // namespace weft::shim
