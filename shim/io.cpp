// io: read, write and the socket calls, yielding on fibers.
//
// On a fiber, a call on an fd the program left blocking goes to the weft API (io_uring), which
// suspends only the calling fiber. Everything else passes through to libc: calls off a fiber,
// fds the program made O_NONBLOCK (they must fail with EAGAIN, as natively), and calls with
// MSG_DONTWAIT. Semantics kept from the blocking calls:
// - Writes on a blocking fd return only once everything is written (or an error comes after
//   part of it, which returns the part), as write(2) and send(2) do on a blocking socket or
//   pipe; io_uring itself may return short.
// - weft's send calls add MSG_NOSIGNAL; a send that fails with EPIPE therefore raises SIGPIPE
//   here, unless the program passed MSG_NOSIGNAL itself, so a broken connection still kills a
//   program that does not ignore the signal. write()/writev() use io_uring's write, which
//   signals from the kernel like write(2).
// - recvfrom/sendto with an address go through recvmsg/sendmsg, which carry one.
// Reads return short, as natively: a fiber read returns what the kernel had.
// - A signal handled while a call waits ends it with EINTR, or restarts it, as signal(7) says
//   (signals.hpp): with SA_RESTART unless the socket has a timeout. pread and pwrite, which
//   only work on files (never interrupted natively), are not interruptible.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include <weft/io.hpp>

#include "base/memory.hpp"
#include "fd_flags.hpp"
#include "real.hpp"
#include "shim.hpp"
#include "signals.hpp"
#include "sock_timeouts.hpp"
#include "stats.hpp"

extern "C" {
ssize_t __read_chk(int fd, void* buf, size_t n, size_t buflen);
ssize_t __pread_chk(int fd, void* buf, size_t n, off_t offset, size_t buflen);
ssize_t __pread64_chk(int fd, void* buf, size_t n, off64_t offset, size_t buflen);
ssize_t __recv_chk(int fd, void* buf, size_t n, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void* buf, size_t n, size_t buflen, int flags, sockaddr* addr,
                       socklen_t* addrlen);
[[noreturn]] void __chk_fail();
}

namespace weft::shim {
namespace {

// route() decides where an I/O call on fd goes and counts it.
Route route(Sym s, int fd, bool dontwait = false) noexcept {
  Route r = !on_fiber()          ? Route::kOffFiber
            : dontwait           ? Route::kNoWait
            : fd_nonblocking(fd) ? Route::kNonblocking
                                 : Route::kWeft;
  count(s, r);
  return r;
}

// rx() and tx() are the deadlines SO_RCVTIMEO and SO_SNDTIMEO give a call on fd.
weft::Deadline rx(int fd) noexcept {
  return timeout_deadline(fd, Direction::kRecv);
}
weft::Deadline tx(int fd) noexcept {
  return timeout_deadline(fd, Direction::kSend);
}

// expired() reports a call that ran into its socket timeout as the kernel does: EAGAIN.
long expired(long r, const weft::Deadline& d) noexcept {
  return timed_out(r, d) ? -EAGAIN : r;
}

// sigpipe() raises SIGPIPE on the calling thread for an EPIPE the kernel did not signal.
long sigpipe(long r, int flags) noexcept {
  if (r == -EPIPE && (flags & MSG_NOSIGNAL) == 0) {
    ErrnoScope keep;
    weft::shim::raw(SYS_tgkill, ::getpid(), weft::shim::raw(SYS_gettid), SIGPIPE);
    keep.restore();
  }
  return r;
}

// IovCursor walks an iovec array as bytes are consumed, copying it once it must change.
class IovCursor {
 public:
  IovCursor(const iovec* iov, int count) noexcept : iov_(iov), count_(count) {}
  ~IovCursor() { weft::rt::mem_free(copy_); }
  IovCursor(const IovCursor&) = delete;
  IovCursor& operator=(const IovCursor&) = delete;

  // iov() is the first buffer not yet consumed.
  const iovec* iov() const noexcept { return iov_; }
  // count() is how many buffers are left.
  int count() const noexcept { return count_; }
  // total() is how many bytes are left.
  std::size_t total() const noexcept {
    std::size_t n = 0;
    for (int i = 0; i < count_; ++i) n += iov_[i].iov_len;
    return n;
  }
  // consume() skips n bytes; false if the copy it needs cannot be allocated.
  bool consume(std::size_t n) noexcept {
    if (copy_ == nullptr) {
      copy_ = static_cast<iovec*>(
          weft::rt::mem_alloc(sizeof(iovec) * static_cast<std::size_t>(count_)));
      if (copy_ == nullptr) return false;
      std::memcpy(copy_, iov_, sizeof(iovec) * static_cast<std::size_t>(count_));
      iov_ = copy_;
    }
    iovec* cur = const_cast<iovec*>(iov_);
    while (count_ > 0 && n >= cur->iov_len) {
      n -= cur->iov_len;
      ++cur;
      --count_;
    }
    if (count_ > 0 && n > 0) {
      cur->iov_base = static_cast<char*>(cur->iov_base) + n;
      cur->iov_len -= n;
    }
    iov_ = cur;
    return true;
  }

 private:
  const iovec* iov_;
  int count_;
  iovec* copy_ = nullptr;  // owned; iov_ points into it once consume() ran
};

// write_fully() repeats op (which writes from a cursor) until everything went or it fails;
// an error after some bytes returns those bytes, as a blocking write(2) does.
template <class Op>
long write_fully(IovCursor& cur, Op op) noexcept {
  std::size_t want = cur.total();
  std::size_t done = 0;
  for (;;) {
    long r = op(cur);
    if (r < 0) return done > 0 ? static_cast<long>(done) : r;
    done += static_cast<std::size_t>(r);
    if (r == 0 || done >= want) return static_cast<long>(done);
    if (!cur.consume(static_cast<std::size_t>(r))) return static_cast<long>(done);
  }
}

// mode() is how a call with deadline d (its socket's timeout) restarts after a signal: with
// SA_RESTART, unless the socket has a timeout (signal(7)).
Restart mode(const weft::Deadline& d) noexcept {
  return d.is_set() ? Restart::kNever : Restart::kWithSaRestart;
}

// A write interrupted after part of it returns the part, as write(2) does; interrupted before
// any byte went, it fails with EINTR or starts again (interruptible()).
long weft_writev(int fd, const iovec* iov, int count) noexcept {
  weft::Deadline d = tx(fd);
  return expired(
      interruptible(mode(d),
                    [&] {
                      IovCursor cur(iov, count);
                      return write_fully(cur, [fd, &d](IovCursor& c) {
                        return static_cast<long>(weft::writev(fd, c.iov(), c.count(), d));
                      });
                    }),
      d);
}

long weft_sendmsg(int fd, const msghdr* msg, int flags) noexcept {
  weft::Deadline d = tx(fd);
  return expired(interruptible(mode(d),
                               [&] {
                                 IovCursor cur(msg->msg_iov, static_cast<int>(msg->msg_iovlen));
                                 msghdr m = *msg;
                                 return write_fully(cur, [fd, flags, &m, &d](IovCursor& c) {
                                   m.msg_iov = const_cast<iovec*>(c.iov());
                                   m.msg_iovlen = static_cast<std::size_t>(c.count());
                                   long r = weft::sendmsg(fd, &m, flags, d);
                                   // Ancillary data and the address go with the first part only.
                                   m.msg_control = nullptr;
                                   m.msg_controllen = 0;
                                   return r;
                                 });
                               }),
                 d);
}

long weft_recvfrom(int fd, void* buf, std::size_t n, int flags, sockaddr* addr,
                   socklen_t* addrlen) noexcept {
  weft::Deadline d = rx(fd);
  if (addr == nullptr || addrlen == nullptr) {
    return expired(interruptible(mode(d), [&] { return weft::recv(fd, buf, n, flags, d); }), d);
  }
  iovec iov{buf, n};
  msghdr m{};
  m.msg_name = addr;
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  long r = interruptible(mode(d), [&] {
    m.msg_namelen = *addrlen;
    return weft::recvmsg(fd, &m, flags, d);
  });
  if (r >= 0) *addrlen = m.msg_namelen;
  return expired(r, d);
}

long weft_read(int fd, void* buf, std::size_t n) noexcept {
  weft::Deadline d = rx(fd);
  return expired(interruptible(mode(d), [&] { return weft::read(fd, buf, n, d); }), d);
}

long weft_readv(int fd, const iovec* iov, int count) noexcept {
  weft::Deadline d = rx(fd);
  return expired(interruptible(mode(d), [&] { return weft::readv(fd, iov, count, d); }), d);
}

long weft_recvmsg(int fd, msghdr* msg, int flags) noexcept {
  weft::Deadline d = rx(fd);
  return expired(interruptible(mode(d), [&] { return weft::recvmsg(fd, msg, flags, d); }), d);
}

int weft_accept(int fd, sockaddr* addr, socklen_t* addrlen, int flags) noexcept {
  weft::Deadline d = rx(fd);
  return static_cast<int>(expired(
      interruptible(mode(d), [&] { return weft::accept(fd, addr, addrlen, flags, d); }), d));
}

// weft_connect() is a blocking connect. Interrupted, the connection goes on in the background
// as natively (EINTR); restarted, it waits for that connection's outcome instead of connecting
// again, as the kernel's restarted connect(2) does.
long weft_connect(int fd, const sockaddr* addr, socklen_t len, const weft::Deadline& d) noexcept {
  bool started = false;
  return interruptible(mode(d), [&]() -> long {
    if (!started) {
      started = true;
      return weft::connect(fd, addr, len, d);
    }
    long r = weft::poll(fd, POLLOUT, d);
    if (r < 0) return r;
    int err = 0;
    socklen_t n = sizeof err;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &n) != 0) return -errno;
    return -err;
  });
}

// The hooks that come in several flavours (pread and pread64, the _chk forms that fortified
// builds call) share one body each, told apart by the symbol they count. Like the hooks, these
// are not noexcept: libc's function is not, and a noexcept caller could not tail-call it (the
// pass-through read cost 10 ns more that way) and would end a thread cancelled inside it.

// read_as() is read(2) counted as s.
ssize_t read_as(Sym s, int fd, void* buf, size_t n) {
  if (route(s, fd) != Route::kWeft) return pass(WEFT_REAL(read), SYS_read, fd, buf, n);
  ErrnoScope e;
  return e.result<ssize_t>(weft_read(fd, buf, n));
}

// pread_as() is pread(2) counted as s, passing through to real.
ssize_t pread_as(Sym s, decltype(&::pread64) real, int fd, void* buf, size_t n, off64_t offset) {
  if (route(s, fd) != Route::kWeft) return pass(real, SYS_pread64, fd, buf, n, offset);
  ErrnoScope e;
  return e.result<ssize_t>(weft::pread(fd, buf, n, offset));
}

// pwrite_as() is pwrite(2) counted as s, passing through to real.
ssize_t pwrite_as(Sym s, decltype(&::pwrite64) real, int fd, const void* buf, size_t n,
                  off64_t offset) {
  if (route(s, fd) != Route::kWeft) return pass(real, SYS_pwrite64, fd, buf, n, offset);
  ErrnoScope e;
  return e.result<ssize_t>(weft::pwrite(fd, buf, n, offset));
}

// recvfrom_as() is recvfrom(2) counted as s; recv is recvfrom without an address.
ssize_t recvfrom_as(Sym s, int fd, void* buf, size_t n, int flags, sockaddr* addr,
                    socklen_t* addrlen) {
  if (route(s, fd, (flags & MSG_DONTWAIT) != 0) != Route::kWeft) {
    return pass(WEFT_REAL(recvfrom), SYS_recvfrom, fd, buf, n, flags, addr, addrlen);
  }
  ErrnoScope e;
  return e.result<ssize_t>(weft_recvfrom(fd, buf, n, flags, addr, addrlen));
}

// sendto_as() is sendto(2) counted as s; send is sendto without an address. It goes through
// sendmsg, which carries one.
ssize_t sendto_as(Sym s, int fd, const void* buf, size_t n, int flags, const sockaddr* addr,
                  socklen_t addrlen) {
  if (route(s, fd, (flags & MSG_DONTWAIT) != 0) != Route::kWeft) {
    return pass(WEFT_REAL(sendto), SYS_sendto, fd, buf, n, flags, addr, addrlen);
  }
  ErrnoScope e;
  iovec iov{const_cast<void*>(buf), n};
  msghdr m{};
  m.msg_name = const_cast<sockaddr*>(addr);
  m.msg_namelen = addr != nullptr ? addrlen : 0;
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  return e.result<ssize_t>(sigpipe(weft_sendmsg(fd, &m, flags), flags));
}

}  // namespace
}  // namespace weft::shim

using namespace weft::shim;  // NOLINT: the hooks below are this file's whole content

extern "C" {

WEFT_EXPORT ssize_t read(int fd, void* buf, size_t n) {
  return read_as(Sym::read, fd, buf, n);
}

WEFT_EXPORT ssize_t __read_chk(int fd, void* buf, size_t n, size_t buflen) {
  if (n > buflen) __chk_fail();
  return read_as(Sym::__read_chk, fd, buf, n);
}

WEFT_EXPORT ssize_t pread(int fd, void* buf, size_t n, off_t offset) {
  return pread_as(Sym::pread, WEFT_REAL(pread), fd, buf, n, offset);
}

WEFT_EXPORT ssize_t pread64(int fd, void* buf, size_t n, off64_t offset) {
  return pread_as(Sym::pread64, WEFT_REAL(pread64), fd, buf, n, offset);
}

WEFT_EXPORT ssize_t __pread_chk(int fd, void* buf, size_t n, off_t offset, size_t buflen) {
  if (n > buflen) __chk_fail();
  return pread_as(Sym::__pread_chk, WEFT_REAL(pread), fd, buf, n, offset);
}

WEFT_EXPORT ssize_t __pread64_chk(int fd, void* buf, size_t n, off64_t offset, size_t buflen) {
  if (n > buflen) __chk_fail();
  return pread_as(Sym::__pread64_chk, WEFT_REAL(pread64), fd, buf, n, offset);
}

WEFT_EXPORT ssize_t pwrite(int fd, const void* buf, size_t n, off_t offset) {
  return pwrite_as(Sym::pwrite, WEFT_REAL(pwrite), fd, buf, n, offset);
}

WEFT_EXPORT ssize_t pwrite64(int fd, const void* buf, size_t n, off64_t offset) {
  return pwrite_as(Sym::pwrite64, WEFT_REAL(pwrite64), fd, buf, n, offset);
}

WEFT_EXPORT ssize_t write(int fd, const void* buf, size_t n) {
  if (route(Sym::write, fd) != Route::kWeft) return pass(WEFT_REAL(write), SYS_write, fd, buf, n);
  ErrnoScope e;
  iovec iov{const_cast<void*>(buf), n};
  return e.result<ssize_t>(weft_writev(fd, &iov, 1));
}

WEFT_EXPORT ssize_t readv(int fd, const iovec* iov, int count) {
  if (route(Sym::readv, fd) != Route::kWeft) {
    return pass(WEFT_REAL(readv), SYS_readv, fd, iov, count);
  }
  ErrnoScope e;
  if (count < 0 || count > IOV_MAX) return e.result<ssize_t>(-EINVAL);
  return e.result<ssize_t>(weft_readv(fd, iov, count));
}

WEFT_EXPORT ssize_t writev(int fd, const iovec* iov, int count) {
  if (route(Sym::writev, fd) != Route::kWeft) {
    return pass(WEFT_REAL(writev), SYS_writev, fd, iov, count);
  }
  ErrnoScope e;
  if (count < 0 || count > IOV_MAX) return e.result<ssize_t>(-EINVAL);
  return e.result<ssize_t>(weft_writev(fd, iov, count));
}

WEFT_EXPORT ssize_t recv(int fd, void* buf, size_t n, int flags) {
  return recvfrom_as(Sym::recv, fd, buf, n, flags, nullptr, nullptr);
}

WEFT_EXPORT ssize_t __recv_chk(int fd, void* buf, size_t n, size_t buflen, int flags) {
  if (n > buflen) __chk_fail();
  return recvfrom_as(Sym::__recv_chk, fd, buf, n, flags, nullptr, nullptr);
}

WEFT_EXPORT ssize_t recvfrom(int fd, void* buf, size_t n, int flags, sockaddr* addr,
                             socklen_t* addrlen) {
  return recvfrom_as(Sym::recvfrom, fd, buf, n, flags, addr, addrlen);
}

WEFT_EXPORT ssize_t __recvfrom_chk(int fd, void* buf, size_t n, size_t buflen, int flags,
                                   sockaddr* addr, socklen_t* addrlen) {
  if (n > buflen) __chk_fail();
  return recvfrom_as(Sym::__recvfrom_chk, fd, buf, n, flags, addr, addrlen);
}

WEFT_EXPORT ssize_t recvmsg(int fd, msghdr* msg, int flags) {
  if (route(Sym::recvmsg, fd, (flags & MSG_DONTWAIT) != 0) != Route::kWeft) {
    return pass(WEFT_REAL(recvmsg), SYS_recvmsg, fd, msg, flags);
  }
  ErrnoScope e;
  return e.result<ssize_t>(weft_recvmsg(fd, msg, flags));
}

WEFT_EXPORT ssize_t send(int fd, const void* buf, size_t n, int flags) {
  return sendto_as(Sym::send, fd, buf, n, flags, nullptr, 0);
}

WEFT_EXPORT ssize_t sendto(int fd, const void* buf, size_t n, int flags, const sockaddr* addr,
                           socklen_t addrlen) {
  return sendto_as(Sym::sendto, fd, buf, n, flags, addr, addrlen);
}

WEFT_EXPORT ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
  if (route(Sym::sendmsg, fd, (flags & MSG_DONTWAIT) != 0) != Route::kWeft) {
    return pass(WEFT_REAL(sendmsg), SYS_sendmsg, fd, msg, flags);
  }
  ErrnoScope e;
  if (msg->msg_iovlen > IOV_MAX) return e.result<ssize_t>(-EMSGSIZE);
  return e.result<ssize_t>(sigpipe(weft_sendmsg(fd, msg, flags), flags));
}

WEFT_EXPORT int accept4(int fd, sockaddr* addr, socklen_t* addrlen, int flags) {
  int r;
  if (route(Sym::accept4, fd) != Route::kWeft) {
    r = pass(WEFT_REAL(accept4), SYS_accept4, fd, addr, addrlen, flags);
  } else {
    ErrnoScope e;
    r = e.result<int>(weft_accept(fd, addr, addrlen, flags));
  }
  if (r >= 0) {
    fd_record(r, (flags & SOCK_NONBLOCK) != 0);
    timeout_inherit(fd, r);
  }
  return r;
}

WEFT_EXPORT int accept(int fd, sockaddr* addr, socklen_t* addrlen) {
  int r;
  if (route(Sym::accept, fd) != Route::kWeft) {
    r = pass(WEFT_REAL(accept), SYS_accept, fd, addr, addrlen);
  } else {
    ErrnoScope e;
    r = e.result<int>(weft_accept(fd, addr, addrlen, 0));
  }
  if (r >= 0) {
    fd_record(r, false);
    timeout_inherit(fd, r);
  }
  return r;
}

WEFT_EXPORT int connect(int fd, const sockaddr* addr, socklen_t len) {
  if (route(Sym::connect, fd) != Route::kWeft) {
    return pass(WEFT_REAL(connect), SYS_connect, fd, addr, len);
  }
  ErrnoScope e;
  // SO_SNDTIMEO bounds a blocking connect; running into it leaves the connection in progress.
  weft::Deadline d = tx(fd);
  long r = weft_connect(fd, addr, len, d);
  return e.result<int>(timed_out(r, d) ? -EINPROGRESS : r);
}

}  // extern "C"
