// fd_guard: closing and replacing fds around the runtime's own (the model is in fd_guard.hpp).
#include "fd_guard.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cerrno>

#include <weft/io.hpp>

#include "base/own_fd.hpp"
#include "base/sys.hpp"
#include "fd_flags.hpp"
#include "real.hpp"
#include "shim.hpp"
#include "sock_timeouts.hpp"

namespace weft::shim {
namespace {

// fail() is libc's way of reporting r, a -errno.
int fail(long r) noexcept {
  errno = static_cast<int>(-r);
  return -1;
}

// forget_range() drops what the shim recorded of the fds from first to last, now closed.
void forget_range(unsigned first, unsigned last) noexcept {
  fd_forget_range(first, last);
  timeout_forget_range(first, last);
}

// close_listed() closes every fd from `from` up that /proc/self/fd lists, but the runtime's and
// the listing's own, and lists again until a pass closes nothing (the listing changes under
// it); false if /proc/self/fd cannot be read.
bool close_listed(unsigned from) noexcept {
  long dir = sys::call(SYS_openat, AT_FDCWD, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return false;
  alignas(8) char buf[4096];
  for (bool closed = true; closed;) {
    closed = false;
    sys::call(SYS_lseek, dir, 0, SEEK_SET);
    for (long n; (n = sys::call(SYS_getdents64, dir, buf, sizeof buf)) > 0;) {
      for (long off = 0; off < n;) {
        auto* d = reinterpret_cast<dirent64*>(buf + off);
        off += d->d_reclen;
        unsigned fd = 0;
        bool number = d->d_name[0] != '\0';
        for (const char* c = d->d_name; *c != '\0' && number; ++c) {
          number = *c >= '0' && *c <= '9';
          fd = fd * 10 + static_cast<unsigned>(*c - '0');
        }
        if (!number || fd < from || static_cast<long>(fd) == dir) continue;
        if (rt::is_own_fd(static_cast<int>(fd))) continue;
        sys::close(static_cast<int>(fd));
        closed = true;
      }
    }
  }
  sys::close(static_cast<int>(dir));
  return true;
}

}  // namespace

int fds_shared(int from, int to) noexcept {
  if (to >= 0) {
    fd_forget(from);
    fd_forget(to);
    timeout_shared(from, to);
  }
  return to;
}

int close_fd(int fd) noexcept {
  if (rt::is_own_fd(fd)) return 0;
  fd_forget(fd);
  timeout_forget(fd);
  if (!on_fiber()) {
    auto real = WEFT_REAL(close);
    return real != nullptr ? real(fd) : static_cast<int>(weft::shim::raw(SYS_close, fd));
  }
  ErrnoScope e;
  return e.result<int>(weft::close(fd));
}

int close_range_fds(unsigned first, unsigned last, int flags) noexcept {
  auto f = static_cast<unsigned>(flags);
  if ((f & CLOSE_RANGE_UNSHARE) != 0 && on_fiber())
    f &= ~static_cast<unsigned>(CLOSE_RANGE_UNSHARE);
  long r;
  if ((f & ~static_cast<unsigned>(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC)) != 0 ||
      first > last || (f & CLOSE_RANGE_CLOEXEC) != 0) {
    // The kernel refuses the first two whole; CLOEXEC only sets FD_CLOEXEC, which the runtime's
    // fds have already.
    r = sys::call(SYS_close_range, first, last, f);
  } else {
    r = rt::close_range_around(first, last, f);
    if (r == 0) forget_range(first, last);
  }
  return r < 0 ? fail(r) : 0;
}

void closefrom_fds(int lowfd) noexcept {
  unsigned from = lowfd < 0 ? 0 : static_cast<unsigned>(lowfd);
  int saved = errno;
  if (close_range_fds(from, ~0U, 0) != 0) {
    // No close_range (a seccomp filter): what glibc falls back to, then every possible number.
    if (!close_listed(from)) {
      for (int fd = static_cast<int>(from); fd < rt::own_fd_soft_limit(); ++fd) {
        if (!rt::is_own_fd(fd)) sys::close(fd);
      }
    }
    forget_range(from, ~0U);
  }
  errno = saved;
}

int dup_fd(int from, int to, int flags, bool dup2) noexcept {
  int r;
  if (from != to && rt::is_own_fd(to)) {
    long moved = rt::replace_own_fd(from, to, flags, dup2);
    r = moved < 0 ? fail(moved) : static_cast<int>(moved);
  } else if (on_fiber()) {
    ErrnoScope e;
    r = e.result<int>(dup2 ? weft::dup2(from, to) : weft::dup3(from, to, flags));
  } else if (dup2) {
    auto real = WEFT_REAL(dup2);
    r = real != nullptr ? real(from, to) : static_cast<int>(weft::shim::raw(SYS_dup2, from, to));
  } else {
    auto real = WEFT_REAL(dup3);
    r = real != nullptr ? real(from, to, flags)
                        : static_cast<int>(weft::shim::raw(SYS_dup3, from, to, flags));
  }
  return r >= 0 && r != from ? fds_shared(from, r) : r;
}

}  // namespace weft::shim
