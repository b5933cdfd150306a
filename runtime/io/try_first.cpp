// try_first: the adaptive try of an I/O call before the reactor (the model is in try_first.hpp).
#include "io/try_first.hpp"

#include <sys/socket.h>

#include "reactor/epoll_ops.hpp"

namespace weft::rt {
namespace {

// direction() is the index of op's TryState: 0 for what receives, 1 for what sends, -1 for the
// kinds that are never tried.
int direction(OpKind k) noexcept {
  switch (k) {
    case OpKind::kRead:
    case OpKind::kReadv:
    case OpKind::kRecv:
    case OpKind::kRecvmsg:
      return 0;
    case OpKind::kWrite:
    case OpKind::kWritev:
    case OpKind::kSend:
    case OpKind::kSendmsg:
      return 1;
    case OpKind::kAccept:
    case OpKind::kConnect:
    case OpKind::kPoll:
      break;
  }
  return -1;
}

bool is_socket_call(OpKind k) noexcept {
  return k == OpKind::kRecv || k == OpKind::kSend || k == OpKind::kRecvmsg || k == OpKind::kSendmsg;
}

// classify() looks at fd's file: regular files and block devices are io_uring's to do whole.
FileKind classify(int fd) noexcept {
  // An fstat that fails skips the try too: the reactor reports the error.
  return epoll::cache_backed(fd) == 0 ? kFileStream : kFileSkip;
}

// worth_a_try() tells whether a read or write at the file position may be tried on entry's fd.
bool worth_a_try(FdEntry& entry, int fd) noexcept {
  std::uint8_t file = entry.file;
  if (file == kFileUnknown) {
    file = classify(fd);
    entry.file = file;
    entry.file_age = 0;
  }
  if (file == kFileStream) return true;
  std::uint16_t age = entry.file_age;
  if (age + 1 >= kFileRecheck) {
    entry.file = kFileUnknown;  // a number reused behind weft's back: look again next time
  } else {
    entry.file_age = static_cast<std::uint16_t>(age + 1);
  }
  return false;
}

void missed(TryState& t) noexcept {
  std::uint8_t m = t.misses;
  if (m + 1 < kTryMisses) {
    t.misses = static_cast<std::uint8_t>(m + 1);
    return;
  }
  // Off for a while; the probe that ends the pause turns it off again at once if it misses too.
  std::uint8_t b = t.backoff;
  t.skip = static_cast<std::uint16_t>(kTrySkip << b);
  if (b < kTryMaxBackoff) t.backoff = static_cast<std::uint8_t>(b + 1);
  t.misses = kTryMisses - 1;
}

}  // namespace

bool try_first(FdEntry& entry, IoOp& op, std::uint32_t run, long* res) noexcept {
  int dir = direction(op.kind);
  if (dir < 0) return false;
  if (entry.run != run) [[unlikely]] {
    try_forget(entry);
    entry.run = run;
  }
  bool socket_call = is_socket_call(op.kind);
  bool caller_nowait = socket_call && (op.flags & MSG_DONTWAIT) != 0;
  if (socket_call && (op.flags & MSG_WAITALL) != 0 && !caller_nowait) return false;
  if (!socket_call && op.offset != IoOp::kCurrentPosition) return false;
  // Being closed: the reactor's path reports -EBADF, under the lock.
  if (entry.closing) return false;
  TryState& t = entry.tries[dir];
  if (!caller_nowait) {
    std::uint16_t skip = t.skip;
    if (skip != 0) {
      t.skip = static_cast<std::uint16_t>(skip - 1);
      return false;
    }
  }
  if (!socket_call && !worth_a_try(entry, op.fd)) return false;
  std::uint8_t state = op.backend_state;
  epoll::Attempt a = epoll::try_op(op);
  switch (a.outcome) {
    case epoll::Outcome::kDone:
      if (!caller_nowait) {
        t.misses = 0;
        t.backoff = 0;
      }
      *res = a.res;
      return true;
    case epoll::Outcome::kWait:
      if ((op.backend_state & epoll::kNoNowait) != 0) {
        // The file refused RWF_NOWAIT (a tty): the reactor's own way, and no more tries.
        op.backend_state = state;
        entry.file = kFileSkip;
        return false;
      }
      missed(t);
      op.tried = true;
      return false;
    case epoll::Outcome::kOffload:
      // A short count from a regular file after all (a number reused behind weft's back): the
      // try put the file position back, and the reactor makes the whole call.
      entry.file = kFileSkip;
      return false;
  }
  return false;
}

void try_forget(FdEntry& entry) noexcept {
  entry.file = kFileUnknown;
  entry.file_age = 0;
  for (TryState& t : entry.tries) {
    t.misses = 0;
    t.backoff = 0;
    t.skip = 0;
  }
}

}  // namespace weft::rt
