// The public I/O API (weft/io.hpp): each call fills an IoOp and awaits it.
#include <weft/io.hpp>

#include <sys/socket.h>
#include <algorithm>
#include <cerrno>
#include <mutex>

#include "base/sys.hpp"
#include "io/fd_table.hpp"
#include "io/io_wait.hpp"
#include "io/try_first.hpp"
#include "sched/carrier.hpp"
#include "sched/park.hpp"
#include "sched/run.hpp"

namespace weft {
namespace {

using rt::IoOp;
using rt::OpKind;

long run_op(OpKind kind, int fd, const void* buf, std::size_t len, std::uint64_t offset, int flags,
            const Deadline& deadline) noexcept {
  IoOp op{kind};
  op.fd = fd;
  op.buf = const_cast<void*>(buf);
  op.len = len;
  op.offset = offset;
  op.flags = flags;
  return rt::await_op(op, deadline);
}

constexpr std::uint64_t kPos = IoOp::kCurrentPosition;

}  // namespace

ssize_t read(int fd, void* buf, std::size_t n, Deadline d) {
  return run_op(OpKind::kRead, fd, buf, n, kPos, 0, d);
}

ssize_t write(int fd, const void* buf, std::size_t n, Deadline d) {
  return run_op(OpKind::kWrite, fd, buf, n, kPos, 0, d);
}

ssize_t readv(int fd, const iovec* iov, int iovcnt, Deadline d) {
  if (iovcnt < 0) return -EINVAL;
  return run_op(OpKind::kReadv, fd, iov, static_cast<std::size_t>(iovcnt), kPos, 0, d);
}

ssize_t writev(int fd, const iovec* iov, int iovcnt, Deadline d) {
  if (iovcnt < 0) return -EINVAL;
  return run_op(OpKind::kWritev, fd, iov, static_cast<std::size_t>(iovcnt), kPos, 0, d);
}

ssize_t pread(int fd, void* buf, std::size_t n, off_t offset, Deadline d) {
  if (offset < 0) return -EINVAL;
  if (int r = sys::check_seekable(fd); r < 0) return r;
  return run_op(OpKind::kRead, fd, buf, n, static_cast<std::uint64_t>(offset), 0, d);
}

ssize_t pwrite(int fd, const void* buf, std::size_t n, off_t offset, Deadline d) {
  if (offset < 0) return -EINVAL;
  if (int r = sys::check_seekable(fd); r < 0) return r;
  return run_op(OpKind::kWrite, fd, buf, n, static_cast<std::uint64_t>(offset), 0, d);
}

ssize_t recv(int fd, void* buf, std::size_t n, int flags, Deadline d) {
  return run_op(OpKind::kRecv, fd, buf, n, kPos, flags, d);
}

ssize_t send(int fd, const void* buf, std::size_t n, int flags, Deadline d) {
  return run_op(OpKind::kSend, fd, buf, n, kPos, flags | MSG_NOSIGNAL, d);
}

ssize_t recvmsg(int fd, msghdr* msg, int flags, Deadline d) {
  return run_op(OpKind::kRecvmsg, fd, msg, 0, kPos, flags, d);
}

ssize_t sendmsg(int fd, const msghdr* msg, int flags, Deadline d) {
  return run_op(OpKind::kSendmsg, fd, msg, 0, kPos, flags | MSG_NOSIGNAL, d);
}

int accept(int fd, sockaddr* addr, unsigned* addrlen, int flags, Deadline d) {
  IoOp op{OpKind::kAccept};
  op.fd = fd;
  op.buf = addr;
  op.addrlen = addrlen;
  op.flags = flags;
  return static_cast<int>(rt::await_op(op, d));
}

int connect(int fd, const sockaddr* addr, unsigned addrlen, Deadline d) {
  return static_cast<int>(run_op(OpKind::kConnect, fd, addr, addrlen, kPos, 0, d));
}

int poll(int fd, short events, Deadline d) {
  if (fd < 0) return -EBADF;
  IoOp op{OpKind::kPoll};
  op.fd = fd;
  op.events = events;
  return static_cast<int>(rt::await_op(op, d));
}

namespace {

// cancel_ops_on() is the task a closer hands another carrier (only a ring's owner may submit
// to it): cancel that carrier's operations on the fd, unless the close is over already.
void cancel_ops_on(rt::Carrier& c, void* arg) noexcept {
  int fd = static_cast<int>(reinterpret_cast<std::intptr_t>(arg));
  rt::FdTable& fds = rt::fd_table();
  rt::FdEntry* entry = fds.find(fd);
  std::lock_guard<rt::Lock> hold(fds.lock_for(fd));
  if (!entry->closing) return;
  for (rt::IoOp* op = entry->ops.front(); op != nullptr; op = rt::FdOps::next(op)) {
    if (op->carrier == &c) c.reactor().cancel(op);
  }
}

// forget_after() drops what try-first learned of entry's fd once release() (whose result r is)
// closed or replaced it, and returns r.
int forget_after(rt::FdEntry& entry, int r) noexcept {
  rt::try_forget(entry);
  return r;
}

// retire() runs release() (which closes fd, or makes it a copy of another fd) once no operation
// of any fiber refers to fd any more: it marks fd's entry closing, cancels every operation on
// it (waking their fibers with -EBADF), waits until the last has left, then releases.
// Releasing earlier would let a completion land after the number was reused.
template <class Release>
int retire(int fd, Release release) {
  rt::Carrier* c = rt::Carrier::current();
  rt::FiberControl* self = c != nullptr ? c->running() : nullptr;
  if (self == nullptr || fd < 0) return release();
  rt::FdTable& fds = rt::fd_table();
  rt::FdEntry* entry = fds.find(fd);
  if (entry == nullptr) return release();
  rt::Waiter w("close", entry);
  w.in_run_only = true;
  // Carriers other than this one whose operations on fd must be cancelled (by themselves: only
  // a ring's owner may submit to it).
  rt::Carrier* others[rt::Run::kMaxCarriers];
  unsigned n_others = 0;
  {
    // The release itself runs outside the lock: close(2) can block (NFS, SO_LINGER).
    std::unique_lock<rt::Lock> hold(fds.lock_for(fd));
    if (entry->closing) return -EBADF;  // another fiber is closing it: to us it is gone
    if (entry->ops.empty()) {
      hold.unlock();
      return forget_after(*entry, release());
    }
    entry->closing = true;
    entry->closer = &w;
    for (rt::IoOp* op = entry->ops.front(); op != nullptr; op = rt::FdOps::next(op)) {
      if (op->carrier == c) {
        c->reactor().cancel(op);
      } else if (std::find(others, others + n_others, op->carrier) == others + n_others) {
        others[n_others++] = op->carrier;
      }
    }
  }
  for (unsigned i = 0; i < n_others; ++i) {
    others[i]->post_task({&cancel_ops_on, reinterpret_cast<void*>(static_cast<std::intptr_t>(fd))});
  }
  // The last operation to leave the list notifies us; the wait is not interruptible, since
  // the operations it waits for are already cancelled.
  rt::park_notified(w);
  {
    std::lock_guard<rt::Lock> hold(fds.lock_for(fd));
    entry->closing = false;
  }
  return forget_after(*entry, release());
}

}  // namespace

int close(int fd) {
  return retire(fd, [fd] { return sys::close(fd); });
}

int dup2(int from, int to) {
  // dup2 of an fd onto itself changes nothing (and must not wake anyone).
  if (from == to) return sys::dup2(from, to);
  return retire(to, [from, to] { return sys::dup2(from, to); });
}

int dup3(int from, int to, int flags) {
  if (from == to) return sys::dup3(from, to, flags);  // EINVAL, from the kernel
  return retire(to, [from, to, flags] { return sys::dup3(from, to, flags); });
}

ssize_t read_exact(int fd, void* buf, std::size_t n, Deadline d) {
  auto* p = static_cast<char*>(buf);
  std::size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, p + got, n - got, d);
    if (r == -EINTR) continue;
    if (r < 0) return r;
    if (r == 0) break;
    got += static_cast<std::size_t>(r);
  }
  return static_cast<ssize_t>(got);
}

ssize_t write_all(int fd, const void* buf, std::size_t n, Deadline d) {
  const auto* p = static_cast<const char*>(buf);
  std::size_t put = 0;
  while (put < n) {
    ssize_t r = write(fd, p + put, n - put, d);
    if (r == -EINTR) continue;
    if (r < 0) return r;
    if (r == 0) return -EIO;  // a stream that accepts nothing would loop forever
    put += static_cast<std::size_t>(r);
  }
  return static_cast<ssize_t>(put);
}

}  // namespace weft
