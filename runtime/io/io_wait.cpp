#include "io/io_wait.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <cerrno>
#include <mutex>
#include <utility>

#include "base/sanitizer.hpp"
#include "io/fd_table.hpp"
#include "io/try_first.hpp"
#include "reactor/plain_op.hpp"
#include "sched/carrier.hpp"
#include "sched/park.hpp"
#include "sched/run.hpp"
#include "sched/timed_wait.hpp"

namespace weft::rt {

namespace {

// mark_filled() tells valgrind which bytes a completed read-like op received. Out of line: each
// valgrind client request inlined into await_op took a stack array of its own, and await_op's
// frame, which every wait on a fiber's stack dirties, grew to 512 bytes.
[[gnu::noinline]] void mark_filled(const IoOp& op, std::size_t n) noexcept {
  auto fill_iov = [n](const iovec* iov, std::size_t count) mutable {
    for (std::size_t i = 0; i < count && n > 0; ++i) {
      std::size_t part = iov[i].iov_len < n ? iov[i].iov_len : n;
      san::kernel_filled(iov[i].iov_base, part);
      n -= part;
    }
  };
  switch (op.kind) {
    case OpKind::kRead:
    case OpKind::kRecv:
      san::kernel_filled(op.buf, n);
      break;
    case OpKind::kReadv:
      fill_iov(static_cast<const iovec*>(op.buf), op.len);
      break;
    case OpKind::kRecvmsg: {
      const auto* msg = static_cast<const msghdr*>(op.buf);
      fill_iov(msg->msg_iov, msg->msg_iovlen);
      if (msg->msg_control != nullptr) san::kernel_filled(msg->msg_control, msg->msg_controllen);
      if (msg->msg_name != nullptr) san::kernel_filled(msg->msg_name, msg->msg_namelen);
      break;
    }
    case OpKind::kAccept:
      if (op.buf != nullptr && op.addrlen != nullptr) san::kernel_filled(op.buf, *op.addrlen);
      break;
    default:
      break;
  }
}

const char* op_name(OpKind k) noexcept {
  switch (k) {
    case OpKind::kRead:
      return "read";
    case OpKind::kWrite:
      return "write";
    case OpKind::kReadv:
      return "readv";
    case OpKind::kWritev:
      return "writev";
    case OpKind::kRecv:
      return "recv";
    case OpKind::kSend:
      return "send";
    case OpKind::kRecvmsg:
      return "recvmsg";
    case OpKind::kSendmsg:
      return "sendmsg";
    case OpKind::kAccept:
      return "accept";
    case OpKind::kConnect:
      return "connect";
    case OpKind::kPoll:
      return "poll";
  }
  return "io";
}

}  // namespace

long await_op(IoOp& op, const Deadline& deadline) noexcept {
  Carrier* c = Carrier::current();
  FiberControl* self = c != nullptr ? c->running() : nullptr;
  if (self == nullptr) return plain_op(op, deadline);
  FdTable& fds = fd_table();
  FdEntry* fd_entry = fds.find(op.fd);
  if (fd_entry == nullptr) return -EBADF;
  if (self->cancel_seen()) {
    c->yield();
    return -ECANCELED;
  }
  if (c->faults().on()) {
    long injected;
    if (c->faults().inject(op, &injected)) {
      c->yield();  // a fault still lets the others run, as the call would have
      return injected;
    }
  }
  // Data already there (or room to send) is taken with one non-blocking syscall and no switch,
  // where the fd's recent calls say it is likely (io/try_first.hpp); the call still counts
  // toward the carrier's tick. (No mark_filled(): valgrind sees that syscall fill the buffer.)
  long direct;
  if (try_first(*fd_entry, op, c->run().serial(), &direct)) {
    c->note_direct();
    return direct;
  }
  op.waiter = self;
  op.carrier = c;  // before linking: a closer on another carrier reads it under the lock
  {
    std::lock_guard<Lock> hold(fds.lock_for(op.fd));
    if (fd_entry->closing) return -EBADF;
    fd_entry->ops.push_front(&op);
  }
  c->reactor().start(&op);
  // Only the op's own completion ends the wait: cancellation, deadlines and close all act by
  // cancelling the op, so the kernel is done with this frame's buffers when we return.
  c->describe_wait(op_name(op.kind), op.fd, false);
  TimedWait wait(*c, self, deadline, &op);
  wait.block(WaitKind::kIo, &op, [&op] { return op.completed; });

  bool closing;
  Waiter* closer = nullptr;
  {
    std::lock_guard<Lock> hold(fds.lock_for(op.fd));
    fd_entry->ops.remove(&op);
    closing = fd_entry->closing;
    if (closing && fd_entry->ops.empty()) closer = std::exchange(fd_entry->closer, nullptr);
  }
  if (closer != nullptr) notify(*closer);
  long res = op.res;
  if (res > 0) mark_filled(op, static_cast<std::size_t>(res));
  // poll(2) reports an fd that is not open as POLLNVAL; io_uring's poll fails with -EBADF.
  if (op.kind == OpKind::kPoll && res == -EBADF && !closing) return POLLNVAL;
  // An op cancelled in the kernel's worker threads may report -EINTR instead of -ECANCELED. An
  // interrupt (Carrier::interrupt) cancels the op too; an op that raced it to completion keeps
  // its result, as a system call that finished before the signal came. A Timeout scope bounds
  // the op like its own deadline does: both report -ETIMEDOUT.
  Wake cause = wait.cause();
  if (res == -ECANCELED || (res == -EINTR && (closing || cause != Wake::kNotified))) {
    if (closing) return -EBADF;
    switch (cause) {
      case Wake::kDeadline:
      case Wake::kScope:
        return -ETIMEDOUT;
      case Wake::kCancelled:
        return -ECANCELED;
      case Wake::kInterrupted:
        return -EINTR;
      case Wake::kNotified:
        break;
    }
  }
  return res;
}

}  // namespace weft::rt
