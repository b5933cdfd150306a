// open: opening a FIFO waits on a blocking-pool helper thread.
//
// Opening a FIFO for reading only or writing only, without O_NONBLOCK, blocks until the other
// end is opened too, often by another thread of the program: on one carrier, holding it would
// deadlock. The wait is for a partner, not for data, so there is nothing to poll (a FIFO opened
// with O_NONBLOCK reports no readiness when a writer arrives, and a non-blocking open for
// writing fails with ENXIO until a reader comes), and O_NONBLOCK would also stay on the
// description. So the open itself runs on a helper thread (offload.hpp) and the fd it makes is
// the process's, as natively.
//
// Every open goes through these hooks, so they stay cheap: off a fiber, or with flags that
// cannot wait (O_NONBLOCK, O_RDWR, O_PATH, O_DIRECTORY, O_CREAT|O_EXCL), libc's function is
// called at once; otherwise one statx of the path (type only, no attribute sync) tells a FIFO
// from the rest, and only a FIFO's open is offloaded. Devices that wait in open (a serial line
// waiting for carrier) are passed through: telling them apart would cost every device open a
// helper thread. A path replaced between the statx and the open is opened as it is then: a
// FIFO that took a file's place holds the carrier for that open.
//
// Each successful open also forgets what the shim had recorded for the new fd's number
// (fd_flags, socket timeouts): a number that was closed behind the shim's back (fclose of a
// socket, close_range) starts unknown again instead of inheriting a stale O_NONBLOCK.
//
// The fortified __open_2 family (what glibc's headers call for an open whose flags are not a
// constant) is the same call without a mode; given O_CREAT or O_TMPFILE it is glibc's, which
// ends the program. A handled signal does not end an offloaded open with EINTR (offload.hpp).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <cstdarg>

#include "fd_flags.hpp"
#include "offload.hpp"
#include "real.hpp"
#include "shim.hpp"
#include "sock_timeouts.hpp"
#include "stats.hpp"

extern "C" {
int __open_2(const char* path, int flags);
int __open64_2(const char* path, int flags);
int __openat_2(int dirfd, const char* path, int flags);
int __openat64_2(int dirfd, const char* path, int flags);
}

namespace weft::shim {
namespace {

// needs_mode() tells whether open takes a mode argument with these flags (glibc's
// __OPEN_NEEDS_MODE).
bool needs_mode(int flags) noexcept {
  return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE;
}

// cannot_wait() tells whether an open with these flags never waits for a FIFO's other end.
bool cannot_wait(int flags) noexcept {
  return (flags & (O_NONBLOCK | O_PATH | O_DIRECTORY)) != 0 || (flags & O_ACCMODE) == O_RDWR ||
         (flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL);
}

// is_fifo() tells whether path (relative to dirfd) names a FIFO, following a last symlink
// unless the open would not.
bool is_fifo(int dirfd, const char* path, int flags) noexcept {
  struct statx st {};
  int at = AT_STATX_DONT_SYNC | ((flags & O_NOFOLLOW) != 0 ? AT_SYMLINK_NOFOLLOW : 0);
  return sys::call(SYS_statx, dirfd, path, at, STATX_TYPE, &st) == 0 &&
         (st.stx_mask & STATX_TYPE) != 0 && S_ISFIFO(st.stx_mode);
}

// opened() forgets the shim's records of a new fd's number and returns it.
int opened(int fd) noexcept {
  if (fd >= 0) {
    fd_forget(fd);
    timeout_forget(fd);
  }
  return fd;
}

// open_as() is an open of path relative to dirfd with flags, counted as s; call() is libc's.
template <class Call>
int open_as(Sym s, int dirfd, const char* path, int flags, Call call) {
  if (!on_fiber()) {
    count(s, Route::kOffFiber);
    return opened(call());
  }
  if (cannot_wait(flags) || !is_fifo(dirfd, path, flags)) {
    count(s, (flags & O_NONBLOCK) != 0 ? Route::kNonblocking : Route::kNoWait);
    return opened(call());
  }
  count(s, Route::kWeft);
  return opened(run_offloaded(call));
}

// raw_open() is the system call, for a call that comes while libc's function is being looked up.
int raw_open(int dirfd, const char* path, int flags, mode_t mode) noexcept {
  return static_cast<int>(weft::shim::raw(SYS_openat, dirfd, path, flags, mode));
}

// WEFT_OPEN_MODE reads open's optional mode argument into `mode`; it is there only when the
// flags need one (as glibc reads it).
#define WEFT_OPEN_MODE(flags, last) \
  mode_t mode = 0;                  \
  if (needs_mode(flags)) {          \
    va_list ap;                     \
    va_start(ap, last);             \
    mode = va_arg(ap, mode_t);      \
    va_end(ap);                     \
  }

}  // namespace
}  // namespace weft::shim

using namespace weft::shim;  // NOLINT: the hooks below are this file's whole content

extern "C" {

WEFT_EXPORT int open(const char* path, int flags, ...) {
  WEFT_OPEN_MODE(flags, flags)
  auto real = WEFT_REAL(open);
  return open_as(Sym::open, AT_FDCWD, path, flags, [&] {
    return real != nullptr ? real(path, flags, mode) : raw_open(AT_FDCWD, path, flags, mode);
  });
}

WEFT_EXPORT int open64(const char* path, int flags, ...) {
  WEFT_OPEN_MODE(flags, flags)
  auto real = WEFT_REAL(open64);
  return open_as(Sym::open64, AT_FDCWD, path, flags, [&] {
    return real != nullptr ? real(path, flags, mode) : raw_open(AT_FDCWD, path, flags, mode);
  });
}

WEFT_EXPORT int openat(int dirfd, const char* path, int flags, ...) {
  WEFT_OPEN_MODE(flags, flags)
  auto real = WEFT_REAL(openat);
  return open_as(Sym::openat, dirfd, path, flags, [&] {
    return real != nullptr ? real(dirfd, path, flags, mode) : raw_open(dirfd, path, flags, mode);
  });
}

WEFT_EXPORT int openat64(int dirfd, const char* path, int flags, ...) {
  WEFT_OPEN_MODE(flags, flags)
  auto real = WEFT_REAL(openat64);
  return open_as(Sym::openat64, dirfd, path, flags, [&] {
    return real != nullptr ? real(dirfd, path, flags, mode) : raw_open(dirfd, path, flags, mode);
  });
}

WEFT_EXPORT int __open_2(const char* path, int flags) {
  auto real = WEFT_REAL(__open_2);
  if (needs_mode(flags) && real != nullptr) return real(path, flags);
  return open_as(Sym::__open_2, AT_FDCWD, path, flags, [&] {
    return real != nullptr ? real(path, flags) : raw_open(AT_FDCWD, path, flags, 0);
  });
}

WEFT_EXPORT int __open64_2(const char* path, int flags) {
  auto real = WEFT_REAL(__open64_2);
  if (needs_mode(flags) && real != nullptr) return real(path, flags);
  return open_as(Sym::__open64_2, AT_FDCWD, path, flags, [&] {
    return real != nullptr ? real(path, flags) : raw_open(AT_FDCWD, path, flags, 0);
  });
}

WEFT_EXPORT int __openat_2(int dirfd, const char* path, int flags) {
  auto real = WEFT_REAL(__openat_2);
  if (needs_mode(flags) && real != nullptr) return real(dirfd, path, flags);
  return open_as(Sym::__openat_2, dirfd, path, flags, [&] {
    return real != nullptr ? real(dirfd, path, flags) : raw_open(dirfd, path, flags, 0);
  });
}

WEFT_EXPORT int __openat64_2(int dirfd, const char* path, int flags) {
  auto real = WEFT_REAL(__openat64_2);
  if (needs_mode(flags) && real != nullptr) return real(dirfd, path, flags);
  return open_as(Sym::__openat64_2, dirfd, path, flags, [&] {
    return real != nullptr ? real(dirfd, path, flags) : raw_open(dirfd, path, flags, 0);
  });
}

}  // extern "C"
