// fd: the calls that make, change and close fds, recording the program's O_NONBLOCK and its
// socket timeouts (sock_timeouts.hpp), and the fd limit, under which the runtime keeps its own.
//
// They all pass through to libc and note, on success, what the program asked for (see
// fd_flags.hpp): socket/socketpair with SOCK_NONBLOCK, pipe2 with O_NONBLOCK, fcntl(F_SETFL)
// and ioctl(FIONBIO) set or clear it; dup, dup2, dup3 and F_DUPFD make two fds share one
// description, so both are asked again on each call; setsockopt records SO_RCVTIMEO and
// SO_SNDTIMEO. fcntl's record-lock commands are locks.cpp's (a waiting one must not hold the
// carrier); only they are counted in --stats. close on a fiber is weft::close, and dup2/dup3 are
// weft::dup2/dup3: fibers blocked on the fd that goes wake with EBADF first, where ::close would
// leave them blocked (io_uring holds the file until their operations end). close, close_range,
// closefrom, dup2 and dup3 leave the runtime's own fds alone (fd_guard.hpp), and
// setrlimit/prlimit of RLIMIT_NOFILE tell the runtime where they may live now (base/own_fd.hpp).
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cerrno>
#include <cstdarg>

#include <weft/io.hpp>

#include "base/own_fd.hpp"
#include "fd_flags.hpp"
#include "fd_guard.hpp"
#include "locks.hpp"
#include "real.hpp"
#include "shim.hpp"
#include "sock_timeouts.hpp"
#include "stats.hpp"

extern "C" int fcntl64(int fd, int cmd, ...);

namespace weft::shim {
namespace {

// after_fcntl() records what a successful fcntl did to fd's O_NONBLOCK or to a new fd.
void after_fcntl(int fd, int cmd, void* arg, int r) noexcept {
  if (r < 0) return;
  switch (cmd) {
    case F_SETFL:
      fd_record(fd, (reinterpret_cast<long>(arg) & O_NONBLOCK) != 0);
      break;
    case F_DUPFD:
    case F_DUPFD_CLOEXEC:
      fds_shared(fd, r);
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

// own_process() tells whether a prlimit on pid changes this process's limits.
bool own_process(pid_t pid) noexcept {
  return pid == 0 || pid == static_cast<pid_t>(sys::call(SYS_getpid));
}

// note_limit() passes a limit call's result r on, first telling the runtime when it changed this
// process's RLIMIT_NOFILE: the runtime keeps its own fds under the new limit (base/own_fd.hpp).
int note_limit(int r, pid_t pid, int resource, const void* limit) noexcept {
  if (r == 0 && limit != nullptr && resource == RLIMIT_NOFILE && own_process(pid)) {
    weft::rt::own_fds_limit_changed();
  }
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
  return fds_shared(fd,
                    real != nullptr ? real(fd) : static_cast<int>(weft::shim::raw(SYS_dup, fd)));
}

WEFT_EXPORT int dup2(int fd, int fd2) noexcept {
  count(Sym::dup2, fiber_route());
  return dup_fd(fd, fd2, 0, true);
}

WEFT_EXPORT int dup3(int fd, int fd2, int flags) noexcept {
  count(Sym::dup3, fiber_route());
  return dup_fd(fd, fd2, flags, false);
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
  count(Sym::close, fiber_route());
  return close_fd(fd);
}

WEFT_EXPORT int close_range(unsigned first, unsigned last, int flags) noexcept {
  count(Sym::close_range, fiber_route());
  return close_range_fds(first, last, flags);
}

WEFT_EXPORT void closefrom(int lowfd) noexcept {
  count(Sym::closefrom, fiber_route());
  closefrom_fds(lowfd);
}

WEFT_EXPORT int setrlimit(__rlimit_resource_t resource, const struct rlimit* limit) noexcept {
  auto real = WEFT_REAL(setrlimit);
  return note_limit(real != nullptr
                        ? real(resource, limit)
                        : static_cast<int>(raw(SYS_prlimit64, 0, resource, limit, nullptr)),
                    0, resource, limit);
}

WEFT_EXPORT int setrlimit64(__rlimit_resource_t resource, const struct rlimit64* limit) noexcept {
  auto real = WEFT_REAL(setrlimit64);
  return note_limit(real != nullptr
                        ? real(resource, limit)
                        : static_cast<int>(raw(SYS_prlimit64, 0, resource, limit, nullptr)),
                    0, resource, limit);
}

WEFT_EXPORT int prlimit(pid_t pid, __rlimit_resource resource, const struct rlimit* limit,
                        struct rlimit* old) noexcept {
  auto real = WEFT_REAL(prlimit);
  return note_limit(real != nullptr
                        ? real(pid, resource, limit, old)
                        : static_cast<int>(raw(SYS_prlimit64, pid, resource, limit, old)),
                    pid, resource, limit);
}

WEFT_EXPORT int prlimit64(pid_t pid, __rlimit_resource resource, const struct rlimit64* limit,
                          struct rlimit64* old) noexcept {
  auto real = WEFT_REAL(prlimit64);
  return note_limit(real != nullptr
                        ? real(pid, resource, limit, old)
                        : static_cast<int>(raw(SYS_prlimit64, pid, resource, limit, old)),
                    pid, resource, limit);
}

}  // extern "C"
