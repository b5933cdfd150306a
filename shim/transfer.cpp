// transfer: the calls that move data between fds inside the kernel -- sendfile, splice, tee,
// vmsplice, copy_file_range -- without holding the carrier.
//
// Their waits are the waits of the fds at either end: a full socket or pipe to write into, an
// empty pipe or socket to read from, a slow or remote file. The reader or writer at the other
// end is often another thread of the program (the test_socket sendfile case: a fiber reads the
// socket another fiber sendfile()s into), so holding the carrier deadlocks it. Two policies:
//
// - Pipes only (tee, vmsplice, splice between two pipes): SPLICE_F_NONBLOCK is a per-call
//   non-waiting form that covers every wait these calls make, and pipes can be polled. The call
//   is tried with the flag; while it says EAGAIN the fiber waits with weft::poll until the input
//   pipe has data (or no writer left) and then until the output pipe has room (or no reader),
//   and tries again. Exact: with the flag the kernel fails where it would have waited, before
//   moving anything.
// - Anything else (sendfile, splice with a socket or file at one end, copy_file_range): the flag
//   covers only the pipe side, and the other side waits or not by its own O_NONBLOCK, which a
//   call cannot override. libc's function runs on a blocking-pool helper thread (offload.hpp)
//   while only the fiber waits.
//
// What the program asked for is kept. SPLICE_F_NONBLOCK passes straight through, counted as "no
// wait" (for splice, only when both ends are pipes: otherwise the other end may still wait). An
// O_NONBLOCK end makes the kernel act as with the flag on a pipe, and decides a socket's own
// wait: sendfile into a non-blocking fd, and splice between two, pass through. vmsplice is the
// exception: the kernel ignores the pipe's O_NONBLOCK for it (Linux 6.x: it waits), so only
// the flag counts. A handled signal ends a yielding call's wait with EINTR or restarts it
// (SA_RESTART), as the kernel's pipe waits do; an offloaded one is not interrupted.
#include <fcntl.h>
#include <poll.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <cerrno>

#include <weft/io.hpp>

#include "fd_flags.hpp"
#include "offload.hpp"
#include "real.hpp"
#include "shim.hpp"
#include "signals.hpp"
#include "stats.hpp"

namespace weft::shim {
namespace {

// is_pipe() tells whether fd is a pipe or a FIFO (false if fstat fails: the call reports it).
bool is_pipe(int fd) noexcept {
  struct stat st {};
  return sys::call(SYS_fstat, fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

// ready() tells whether fd has one of events now (or an error, hang-up or POLLNVAL, which the
// next try reports).
bool ready(int fd, short events) noexcept {
  pollfd p{fd, events, 0};
  return sys::call(SYS_poll, &p, 1, 0) != 0;
}

// pipe_wait() runs attempt (the call with SPLICE_F_NONBLOCK, returning the result or -errno)
// until it stops saying EAGAIN, waiting in between for pipe `in` to be readable, then for pipe
// `out` to be writable (-1: not involved); returns the result or -errno. The kernel waits the
// same way: for input first, then for room.
template <class Attempt>
long pipe_wait(int in, int out, Attempt attempt) noexcept {
  return interruptible(Restart::kWithSaRestart, [&]() -> long {
    for (;;) {
      long r = attempt();
      if (r != -EAGAIN) return r;
      long w = in >= 0 && !ready(in, POLLIN) ? weft::poll(in, POLLIN)
               : out >= 0                    ? weft::poll(out, POLLOUT)
                                             : 0;
      if (w < 0) return w;
    }
  });
}

// sendfile_as() is sendfile counted as s: only the fiber waits, unless out_fd is non-blocking.
template <class Call>
ssize_t sendfile_as(Sym s, int out_fd, Call call) {
  if (!on_fiber()) {
    count(s, Route::kOffFiber);
    return call();
  }
  if (fd_nonblocking(out_fd)) {
    count(s, Route::kNonblocking);
    return call();
  }
  count(s, Route::kWeft);
  return run_offloaded(call);
}

}  // namespace
}  // namespace weft::shim

using namespace weft::shim;  // NOLINT: the hooks below are this file's whole content

extern "C" {

WEFT_EXPORT ssize_t sendfile(int out_fd, int in_fd, off_t* offset, size_t n) {
  auto real = WEFT_REAL(sendfile);
  return sendfile_as(Sym::sendfile, out_fd,
                     [&] { return pass(real, SYS_sendfile, out_fd, in_fd, offset, n); });
}

WEFT_EXPORT ssize_t sendfile64(int out_fd, int in_fd, off64_t* offset, size_t n) {
  auto real = WEFT_REAL(sendfile64);
  return sendfile_as(Sym::sendfile64, out_fd,
                     [&] { return pass(real, SYS_sendfile, out_fd, in_fd, offset, n); });
}

WEFT_EXPORT ssize_t copy_file_range(int in, off64_t* in_off, int out, off64_t* out_off, size_t len,
                                    unsigned flags) {
  auto real = WEFT_REAL(copy_file_range);
  return offload(Sym::copy_file_range, [&] {
    return pass(real, SYS_copy_file_range, in, in_off, out, out_off, len, flags);
  });
}

WEFT_EXPORT ssize_t splice(int in, off64_t* in_off, int out, off64_t* out_off, size_t len,
                           unsigned flags) {
  auto real = WEFT_REAL(splice);
  auto call = [&] { return pass(real, SYS_splice, in, in_off, out, out_off, len, flags); };
  if (!on_fiber()) {
    count(Sym::splice, Route::kOffFiber);
    return call();
  }
  bool in_nb = fd_nonblocking(in), out_nb = fd_nonblocking(out);
  if (in_nb && out_nb) {
    count(Sym::splice, Route::kNonblocking);
    return call();
  }
  if (!is_pipe(in) || !is_pipe(out)) {
    count(Sym::splice, Route::kWeft);
    return run_offloaded(call);
  }
  // Between two pipes, either end's O_NONBLOCK acts as the flag does.
  if ((flags & SPLICE_F_NONBLOCK) != 0 || in_nb || out_nb) {
    count(Sym::splice, (flags & SPLICE_F_NONBLOCK) != 0 ? Route::kNoWait : Route::kNonblocking);
    return call();
  }
  count(Sym::splice, Route::kWeft);
  ErrnoScope e;
  return e.result<ssize_t>(pipe_wait(in, out, [&] {
    return weft::sys::call(SYS_splice, in, in_off, out, out_off, len, flags | SPLICE_F_NONBLOCK);
  }));
}

WEFT_EXPORT ssize_t tee(int in, int out, size_t len, unsigned flags) {
  auto real = WEFT_REAL(tee);
  auto call = [&] { return pass(real, SYS_tee, in, out, len, flags); };
  if (!on_fiber()) {
    count(Sym::tee, Route::kOffFiber);
    return call();
  }
  if ((flags & SPLICE_F_NONBLOCK) != 0) {
    count(Sym::tee, Route::kNoWait);
    return call();
  }
  if (fd_nonblocking(in) || fd_nonblocking(out)) {
    count(Sym::tee, Route::kNonblocking);
    return call();
  }
  count(Sym::tee, Route::kWeft);
  ErrnoScope e;
  return e.result<ssize_t>(pipe_wait(
      in, out, [&] { return weft::sys::call(SYS_tee, in, out, len, flags | SPLICE_F_NONBLOCK); }));
}

WEFT_EXPORT ssize_t vmsplice(int fd, const iovec* iov, size_t n, unsigned flags) {
  auto real = WEFT_REAL(vmsplice);
  if (!count_wait_call(Sym::vmsplice, (flags & SPLICE_F_NONBLOCK) != 0)) {
    return pass(real, SYS_vmsplice, fd, iov, n, flags);
  }
  // The kernel picks the direction by the fd's access: a write end fills the pipe from memory.
  long mode = weft::sys::call(SYS_fcntl, fd, F_GETFL);
  bool to_pipe = mode >= 0 && (mode & O_ACCMODE) != O_RDONLY;
  ErrnoScope e;
  return e.result<ssize_t>(pipe_wait(to_pipe ? -1 : fd, to_pipe ? fd : -1, [&] {
    return weft::sys::call(SYS_vmsplice, fd, iov, n, flags | SPLICE_F_NONBLOCK);
  }));
}

}  // extern "C"
