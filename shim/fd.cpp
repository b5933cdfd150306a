// fd: the calls that make, change and close fds, recording the program's O_NONBLOCK and its
// socket timeouts (sock_timeouts.hpp).
//
// They all pass through to libc and note, on success, what the program asked for (see
// fd_flags.hpp): socket/socketpair with SOCK_NONBLOCK, pipe2 with O_NONBLOCK, fcntl(F_SETFL)
// and ioctl(FIONBIO) set or clear it; dup, dup2, dup3 and F_DUPFD make two fds share one
// description, so both are asked again on each call; setsockopt records SO_RCVTIMEO and
// SO_SNDTIMEO. fcntl's record-lock commands are locks.cpp's (a waiting one must not hold the
// carrier); only they are counted in --stats. close on a fiber is weft::close, and dup2/dup3 are
// weft::dup2/dup3: fibers blocked on the fd that goes wake with EBADF first, where ::close would
// leave them blocked (io_uring holds the file until their operations end).
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cerrno>
#include <cstdarg>

#include <weft/io.hpp>

#include "fd_flags.hpp"
#include "locks.hpp"
#include "real.hpp"
#include "shim.hpp"
#include "sock_timeouts.hpp"
#include "stats.hpp"

extern "C" int fcntl64(int fd, int cmd, ...);

namespace weft::shim {
namespace {

// shared() forgets both fds of a successful dup: they now share one open file description.
int shared(int from, int to) noexcept {
  if (to >= 0) {
    fd_forget(from);
    fd_forget(to);
    timeout_shared(from, to);
  }
  return to;
}

// after_fcntl() records what a successful fcntl did to fd's O_NONBLOCK or to a new fd.
void after_fcntl(int fd, int cmd, void* arg, int r) noexcept {
  if (r < 0) return;
  switch (cmd) {
    case F_SETFL:
      fd_record(fd, (reinterpret_cast<long>(arg) & O_NONBLOCK) != 0);
      break;
    case F_DUPFD:
    case F_DUPFD_CLOEXEC:
      shared(fd, r);
      break;
    default:
      break;
  }
}

// do_fcntl() is fcntl counted as s. The record-lock commands go to locks.cpp, where a waiting
// one does not hold the carrier. Not noexcept: F_SETLKW is a cancellation point.
int do_fcntl(Sym s, decltype(&::fcntl) real, int fd, int cmd, void* arg) {
  if (fcntl_lock_cmd(cmd)) return fcntl_lock(s, real, fd, cmd, arg);
  int r = real != nullptr ? real(fd, cmd, arg)
                          : static_cast<int>(weft::shim::raw(SYS_fcntl, fd, cmd, arg));
  after_fcntl(fd, cmd, arg, r);
  return r;
}

}  // namespace
}  // namespace weft::shim

using namespace weft::shim;  // NOLINT: the hooks below are this file's whole content

extern "C" {

WEFT_EXPORT int socket(int domain, int type, int protocol) noexcept {
  auto real = WEFT_REAL(socket);
  int r = real != nullptr ? real(domain, type, protocol)
                          : static_cast<int>(weft::shim::raw(SYS_socket, domain, type, protocol));
  if (r >= 0) {
    fd_record(r, (type & SOCK_NONBLOCK) != 0);
    timeout_forget(r);
  }
  return r;
}

WEFT_EXPORT int socketpair(int domain, int type, int protocol, int sv[2]) noexcept {
  auto real = WEFT_REAL(socketpair);
  int r = real != nullptr
              ? real(domain, type, protocol, sv)
              : static_cast<int>(weft::shim::raw(SYS_socketpair, domain, type, protocol, sv));
  if (r == 0) {
    for (int i = 0; i < 2; ++i) {
      fd_record(sv[i], (type & SOCK_NONBLOCK) != 0);
      timeout_forget(sv[i]);
    }
  }
  return r;
}

WEFT_EXPORT int pipe(int fds[2]) noexcept {
  auto real = WEFT_REAL(pipe);
  int r = real != nullptr ? real(fds) : static_cast<int>(weft::shim::raw(SYS_pipe2, fds, 0));
  if (r == 0) {
    fd_record(fds[0], false);
    fd_record(fds[1], false);
  }
  return r;
}

WEFT_EXPORT int pipe2(int fds[2], int flags) noexcept {
  auto real = WEFT_REAL(pipe2);
  int r =
      real != nullptr ? real(fds, flags) : static_cast<int>(weft::shim::raw(SYS_pipe2, fds, flags));
  if (r == 0) {
    fd_record(fds[0], (flags & O_NONBLOCK) != 0);
    fd_record(fds[1], (flags & O_NONBLOCK) != 0);
  }
  return r;
}

WEFT_EXPORT int dup(int fd) noexcept {
  auto real = WEFT_REAL(dup);
  return shared(fd, real != nullptr ? real(fd) : static_cast<int>(weft::shim::raw(SYS_dup, fd)));
}

WEFT_EXPORT int dup2(int fd, int fd2) noexcept {
  int r;
  if (on_fiber()) {
    count(Sym::dup2, Route::kWeft);
    ErrnoScope e;
    r = e.result<int>(weft::dup2(fd, fd2));
  } else {
    count(Sym::dup2, Route::kOffFiber);
    auto real = WEFT_REAL(dup2);
    r = real != nullptr ? real(fd, fd2) : static_cast<int>(weft::shim::raw(SYS_dup2, fd, fd2));
  }
  return r >= 0 && r != fd ? shared(fd, r) : r;
}

WEFT_EXPORT int dup3(int fd, int fd2, int flags) noexcept {
  if (on_fiber()) {
    count(Sym::dup3, Route::kWeft);
    ErrnoScope e;
    return shared(fd, e.result<int>(weft::dup3(fd, fd2, flags)));
  }
  count(Sym::dup3, Route::kOffFiber);
  auto real = WEFT_REAL(dup3);
  return shared(fd, real != nullptr ? real(fd, fd2, flags)
                                    : static_cast<int>(weft::shim::raw(SYS_dup3, fd, fd2, flags)));
}

WEFT_EXPORT int fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  // Every fcntl argument fits a pointer-sized slot (int, long or a pointer), as glibc reads it.
  void* arg = va_arg(ap, void*);
  va_end(ap);
  return do_fcntl(Sym::fcntl, WEFT_REAL(fcntl), fd, cmd, arg);
}

WEFT_EXPORT int fcntl64(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  return do_fcntl(Sym::fcntl64, WEFT_REAL(fcntl64), fd, cmd, arg);
}

WEFT_EXPORT int ioctl(int fd, unsigned long request, ...) noexcept {
  va_list ap;
  va_start(ap, request);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  auto real = WEFT_REAL(ioctl);
  int r = real != nullptr ? real(fd, request, arg)
                          : static_cast<int>(weft::shim::raw(SYS_ioctl, fd, request, arg));
  if (r >= 0 && request == FIONBIO && arg != nullptr) {
    fd_record(fd, *static_cast<const int*>(arg) != 0);
  }
  return r;
}

WEFT_EXPORT int setsockopt(int fd, int level, int name, const void* value, socklen_t len) noexcept {
  auto real = WEFT_REAL(setsockopt);
  int r = real != nullptr
              ? real(fd, level, name, value, len)
              : static_cast<int>(weft::shim::raw(SYS_setsockopt, fd, level, name, value, len));
  bool rcv = name == SO_RCVTIMEO, snd = name == SO_SNDTIMEO;
#ifdef SO_RCVTIMEO_NEW
  // The 64-bit-time variants carry {seconds, microseconds} as two 64-bit fields, like timeval.
  rcv = rcv || name == SO_RCVTIMEO_NEW;
  snd = snd || name == SO_SNDTIMEO_NEW;
#endif
  if (r == 0 && level == SOL_SOCKET && (rcv || snd) && value != nullptr && len >= sizeof(timeval)) {
    timeout_set(fd, rcv ? Direction::kRecv : Direction::kSend, *static_cast<const timeval*>(value));
  }
  return r;
}

WEFT_EXPORT int close(int fd) {
  fd_forget(fd);
  timeout_forget(fd);
  if (!on_fiber()) {
    count(Sym::close, Route::kOffFiber);
    auto real = WEFT_REAL(close);
    return real != nullptr ? real(fd) : static_cast<int>(weft::shim::raw(SYS_close, fd));
  }
  count(Sym::close, Route::kWeft);
  ErrnoScope e;
  return e.result<int>(weft::close(fd));
}

}  // extern "C"
