#include "io_wait.hpp"

#include <poll.h>
#include <cerrno>

#include "carrier.hpp"

namespace weft::rt {

long await_op(IoOp& op, const Deadline& deadline) noexcept {
  Carrier* c = Carrier::current();
  FiberControl* self = c != nullptr ? c->running() : nullptr;
  if (self == nullptr) return blocking_op(op, deadline);
  FdEntry* fd_entry = c->fds().find(op.fd);
  if (fd_entry == nullptr) return -EBADF;
  if (self->cancelled_) {
    c->yield();
    return -ECANCELED;
  }
  if (fd_entry->closing) return -EBADF;
  link_op(*fd_entry, &op);
  op.waiter = self;
  c->reactor().start(&op);
  TimerNode timer;
  if (deadline.is_set()) {
    timer.deadline = deadline.at();
    timer.fiber = self;
    timer.op = &op;
    c->timers().add(&timer);
  }
  // Only the op's own completion ends the wait: cancellation, deadlines and close all act by
  // cancelling the op, so the kernel is done with this frame's buffers when we return.
  while (!op.completed) c->block(WaitKind::kIo, &op);
  c->timers().remove(&timer);

  FdEntry& entry = *c->fds().find(op.fd);  // re-found: the table may have grown meanwhile
  unlink_op(entry, &op);
  bool closing = entry.closing;
  if (closing && entry.ops == nullptr && entry.closer != nullptr) c->ready(entry.closer);
  long res = op.res;
  // poll(2) reports an fd that is not open as POLLNVAL; io_uring's poll fails with -EBADF.
  if (op.kind == OpKind::kPoll && res == -EBADF && !closing) return POLLNVAL;
  // An op cancelled in the kernel's worker threads may report -EINTR instead of -ECANCELED.
  if (res == -ECANCELED || (res == -EINTR && (closing || timer.fired || self->cancelled_))) {
    if (closing) {
      res = -EBADF;
    } else if (timer.fired) {
      res = -ETIMEDOUT;
    } else if (self->cancelled_) {
      res = -ECANCELED;
    }
  }
  return res;
}

}  // namespace weft::rt
