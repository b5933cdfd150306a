// plain_op: IoOps on plain system calls (the model is in plain_op.hpp).
#include "reactor/plain_op.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <cerrno>
#include <climits>
#include <cmath>

#include "base/sys.hpp"

namespace weft::rt {
namespace {

long perform(IoOp& op) noexcept {
  bool at_pos = op.offset == IoOp::kCurrentPosition;
  auto off = static_cast<off_t>(op.offset);
  switch (op.kind) {
    case OpKind::kRead:
      return at_pos ? sys::read(op.fd, op.buf, op.len)
                    : sys::call(SYS_pread64, op.fd, op.buf, op.len, off);
    case OpKind::kWrite:
      return at_pos ? sys::write(op.fd, op.buf, op.len)
                    : sys::call(SYS_pwrite64, op.fd, op.buf, op.len, off);
    case OpKind::kReadv:
      return at_pos ? sys::call(SYS_readv, op.fd, op.buf, op.len)
                    : sys::call(SYS_preadv, op.fd, op.buf, op.len, off, 0);
    case OpKind::kWritev:
      return at_pos ? sys::call(SYS_writev, op.fd, op.buf, op.len)
                    : sys::call(SYS_pwritev, op.fd, op.buf, op.len, off, 0);
    case OpKind::kRecv:
      return sys::call(SYS_recvfrom, op.fd, op.buf, op.len, op.flags, nullptr, nullptr);
    case OpKind::kSend:
      return sys::call(SYS_sendto, op.fd, op.buf, op.len, op.flags, nullptr, 0);
    case OpKind::kRecvmsg:
      return sys::call(SYS_recvmsg, op.fd, op.buf, op.flags);
    case OpKind::kSendmsg:
      return sys::call(SYS_sendmsg, op.fd, op.buf, op.flags);
    case OpKind::kAccept:
      return sys::call(SYS_accept4, op.fd, op.buf, op.addrlen, op.flags);
    case OpKind::kConnect:
      return sys::call(SYS_connect, op.fd, op.buf, op.len);
    case OpKind::kPoll: {
      pollfd p{op.fd, op.events, 0};
      int r = sys::poll(&p, 1, -1);
      return r < 0 ? r : p.revents;
    }
  }
  return -EINVAL;
}

// wait_ready() polls op's fd until it is ready for op or the deadline passes.
long wait_ready(const IoOp& op, short events, const Deadline& deadline) noexcept {
  for (;;) {
    int ms = 0;
    Clock::time_point now = Clock::now();
    if (deadline.at() > now) {
      // Computed in floating point: at() may be time_point::max(), and at() - now overflows.
      double left = std::chrono::duration<double, std::milli>(deadline.at() - now).count();
      ms = left >= INT_MAX ? INT_MAX : static_cast<int>(std::ceil(left));
    }
    pollfd p{op.fd, events, 0};
    int r = sys::poll(&p, 1, ms);
    if (r == -EINTR) continue;
    if (r < 0) return r;
    if (r == 0) return -ETIMEDOUT;
    return p.revents;
  }
}

// connect_with_deadline() connects without blocking past the deadline: a blocking socket polls
// writable before it connects, so the poll alone cannot bound connect(2).
long connect_with_deadline(IoOp& op, const Deadline& deadline) noexcept {
  long flags = sys::call(SYS_fcntl, op.fd, F_GETFL);
  if (flags < 0) return flags;
  bool was_blocking = (flags & O_NONBLOCK) == 0;
  if (was_blocking) sys::call(SYS_fcntl, op.fd, F_SETFL, flags | O_NONBLOCK);
  long r = perform(op);
  if (r == -EINPROGRESS && was_blocking) {
    r = wait_ready(op, POLLOUT, deadline);
    if (r >= 0) {
      int err = 0;
      socklen_t len = sizeof err;
      r = sys::call(SYS_getsockopt, op.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (r == 0) r = -err;
    }
  }
  if (was_blocking) sys::call(SYS_fcntl, op.fd, F_SETFL, flags);
  return r;
}

}  // namespace

long plain_op(IoOp& op, const Deadline& deadline) noexcept {
  if (!deadline.is_set()) return perform(op);
  if (op.kind == OpKind::kConnect) return connect_with_deadline(op, deadline);
  long r = wait_ready(op, poll_events(op), deadline);
  if (r < 0 || op.kind == OpKind::kPoll) return r;
  return perform(op);
}

}  // namespace weft::rt
