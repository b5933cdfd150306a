#include "reactor/epoll_ops.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <cerrno>
#include <mutex>

#include "base/lock.hpp"
#include "base/sys.hpp"

namespace weft::rt::epoll {
namespace {

bool would_block(long r) noexcept {
  return r == -EAGAIN || r == -EWOULDBLOCK;
}

Attempt done(long res) noexcept {
  return Attempt{Outcome::kDone, res};
}

Attempt wait() noexcept {
  return Attempt{Outcome::kWait, 0};
}

// rw_nowait() is read/write/readv/writev as preadv2/pwritev2 with RWF_NOWAIT; offset -1 means
// the file position, as read(2) uses it.
long rw_nowait(const IoOp& op, bool write) noexcept {
  iovec one{op.buf, op.len};
  const iovec* iov = &one;
  long count = 1;
  if (op.kind == OpKind::kReadv || op.kind == OpKind::kWritev) {
    iov = static_cast<const iovec*>(op.buf);
    count = static_cast<long>(op.len);
  }
  long pos = op.offset == IoOp::kCurrentPosition ? -1 : static_cast<long>(op.offset);
  // 64-bit ABI: the whole offset goes in pos_l, pos_h is unused.
  return sys::call(write ? SYS_pwritev2 : SYS_preadv2, op.fd, iov, count, pos, 0L, RWF_NOWAIT);
}

// rw_total() is how many bytes op asks for.
std::size_t rw_total(const IoOp& op) noexcept {
  if (op.kind != OpKind::kReadv && op.kind != OpKind::kWritev) return op.len;
  std::size_t n = 0;
  const auto* iov = static_cast<const iovec*>(op.buf);
  for (std::size_t i = 0; i < op.len; ++i) n += iov[i].iov_len;
  return n;
}

Attempt try_rw(IoOp& op, bool write) noexcept {
  long r = rw_nowait(op, write);
  if (would_block(r)) return wait();
  if (r > 0 && static_cast<std::size_t>(r) < rw_total(op) && cache_backed(op.fd) == 1) {
    // Natively the call would have waited for the rest: a helper thread makes the whole call
    // again (at the file position this one moved, put back first).
    if (op.offset == IoOp::kCurrentPosition) sys::call(SYS_lseek, op.fd, -r, SEEK_CUR);
    return Attempt{Outcome::kOffload, 0};
  }
  if (r == -EOPNOTSUPP) {
    // No FMODE_NOWAIT (or no non-blocking buffered write on this file system): wait for
    // readiness if the file has any, then let a helper thread make the call.
    op.backend_state |= kNoNowait;
    return wait();
  }
  return done(r);
}

// try_stream_all() is recv/send with MSG_WAITALL: with MSG_DONTWAIT the kernel stops at what
// is there, so the op keeps what it moved in backend_count and waits for the rest, as io_uring
// does. EOF or an error after some bytes ends it with the count, as recv(2) would.
Attempt try_stream_all(IoOp& op, int flags) noexcept {
  while (op.backend_count < op.len) {
    char* at = static_cast<char*>(op.buf) + op.backend_count;
    std::size_t left = op.len - op.backend_count;
    long r = op.kind == OpKind::kRecv
                 ? sys::call(SYS_recvfrom, op.fd, at, left, flags, nullptr, nullptr)
                 : sys::call(SYS_sendto, op.fd, at, left, flags, nullptr, 0);
    if (would_block(r)) return wait();
    if (r <= 0) return done(op.backend_count > 0 ? static_cast<long>(op.backend_count) : r);
    op.backend_count += static_cast<std::size_t>(r);
  }
  return done(static_cast<long>(op.backend_count));
}

// Attempt for socket calls: MSG_DONTWAIT, unless the caller asked for it, in which case the
// caller wants EAGAIN back rather than a wait (as io_uring does).
Attempt try_socket(IoOp& op) noexcept {
  bool caller_nowait = (op.flags & MSG_DONTWAIT) != 0;
  int flags = op.flags | MSG_DONTWAIT;
  long r = 0;
  switch (op.kind) {
    case OpKind::kRecv:
    case OpKind::kSend:
      if ((op.flags & MSG_WAITALL) != 0 && !caller_nowait) return try_stream_all(op, flags);
      r = op.kind == OpKind::kRecv
              ? sys::call(SYS_recvfrom, op.fd, op.buf, op.len, flags, nullptr, nullptr)
              : sys::call(SYS_sendto, op.fd, op.buf, op.len, flags, nullptr, 0);
      break;
    case OpKind::kRecvmsg:
      r = sys::call(SYS_recvmsg, op.fd, op.buf, flags);
      break;
    default:
      r = sys::call(SYS_sendmsg, op.fd, op.buf, flags);
      break;
  }
  if (would_block(r) && !caller_nowait) return wait();
  return done(r);
}

// toggle_lock serialises weft's own O_NONBLOCK toggles: a carrier reading F_GETFL while another
// has the flag set for its call would take it for the program's and skip restoring it.
constinit Lock toggle_lock;

// nonblocking_call() runs call() with O_NONBLOCK on fd's description, setting it only for the
// call when the program has not set it.
template <class Call>
long nonblocking_call(int fd, Call call) noexcept {
  std::lock_guard<Lock> hold(toggle_lock);
  long flags = sys::call(SYS_fcntl, fd, F_GETFL);
  if (flags < 0) return flags;
  bool toggle = (flags & O_NONBLOCK) == 0;
  if (toggle) {
    long r = sys::call(SYS_fcntl, fd, F_SETFL, flags | O_NONBLOCK);
    if (r < 0) return r;
  }
  long r = call();
  if (toggle) sys::call(SYS_fcntl, fd, F_SETFL, flags);
  return r;
}

Attempt try_accept(IoOp& op) noexcept {
  long r = nonblocking_call(
      op.fd, [&op] { return sys::call(SYS_accept4, op.fd, op.buf, op.addrlen, op.flags); });
  if (would_block(r)) return wait();
  return done(r);
}

// connect_result() reads how a connect in progress ended, or -EINPROGRESS if it has not.
long connect_result(int fd) noexcept {
  int err = 0;
  socklen_t len = sizeof err;
  long r = sys::call(SYS_getsockopt, fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (r < 0) return r;
  if (err != 0) return -err;
  // No error yet: connected, or woken before the handshake ended (another op's readiness).
  sockaddr_storage peer{};
  socklen_t plen = sizeof peer;
  r = sys::call(SYS_getpeername, fd, &peer, &plen);
  return r == -ENOTCONN ? -EINPROGRESS : r;
}

Attempt try_connect(IoOp& op) noexcept {
  if ((op.backend_state & kConnecting) != 0) {
    long r = connect_result(op.fd);
    return r == -EINPROGRESS ? wait() : done(r);
  }
  long r = nonblocking_call(op.fd, [&op] {
    return sys::call(SYS_connect, op.fd, op.buf, static_cast<socklen_t>(op.len));
  });
  if (r == -EINPROGRESS) {
    op.backend_state |= kConnecting;
    return wait();
  }
  if (would_block(r)) return wait();  // AF_UNIX with a full backlog: call again once writable
  return done(r);
}

}  // namespace

std::uint32_t interest(const IoOp& op) noexcept {
  // poll(2) and epoll share the bit values; POLLNVAL has no epoll twin.
  return static_cast<std::uint16_t>(poll_events(op)) & ~static_cast<std::uint32_t>(POLLNVAL);
}

int poll_result(const IoOp& op, std::uint32_t ready) noexcept {
  std::uint32_t wanted = static_cast<std::uint16_t>(op.events) | POLLERR | POLLHUP;
  return static_cast<int>(ready & wanted & 0xffff);
}

Attempt try_op(IoOp& op) noexcept {
  switch (op.kind) {
    case OpKind::kRead:
    case OpKind::kReadv:
      return try_rw(op, false);
    case OpKind::kWrite:
    case OpKind::kWritev:
      return try_rw(op, true);
    case OpKind::kRecv:
    case OpKind::kSend:
    case OpKind::kRecvmsg:
    case OpKind::kSendmsg:
      return try_socket(op);
    case OpKind::kAccept:
      return try_accept(op);
    case OpKind::kConnect:
      return try_connect(op);
    case OpKind::kPoll:
      // Registering with epoll reports an fd that is ready already: no separate check.
      return wait();
  }
  return done(-EINVAL);
}

int cache_backed(int fd) noexcept {
  struct stat st {};
  if (long r = sys::call(SYS_fstat, fd, &st); r != 0) return static_cast<int>(r);
  return S_ISREG(st.st_mode) || S_ISBLK(st.st_mode) ? 1 : 0;
}

}  // namespace weft::rt::epoll
