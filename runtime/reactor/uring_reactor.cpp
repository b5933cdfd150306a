#include "reactor/uring_reactor.hpp"

#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>

#include "base/lock.hpp"
#include "base/sanitizer.hpp"
#include "base/sys.hpp"

namespace weft::rt {
namespace {

// Linux caps every read and write at this many bytes (MAX_RW_COUNT); an SQE's len is 32 bits.
constexpr std::size_t kMaxRw = 0x7ffff000;

// The opcodes weft cannot work without; a kernel lacking one is refused at setup.
constexpr int kRequiredOps[] = {
    IORING_OP_READ,   IORING_OP_WRITE,   IORING_OP_READV,    IORING_OP_WRITEV,
    IORING_OP_RECV,   IORING_OP_SEND,    IORING_OP_RECVMSG,  IORING_OP_SENDMSG,
    IORING_OP_ACCEPT, IORING_OP_CONNECT, IORING_OP_POLL_ADD, IORING_OP_ASYNC_CANCEL,
};

[[noreturn]] void fail_setup(int err, const char* what) {
  throw std::runtime_error(
      std::string("weft: cannot use io_uring: ") + what + ": " + std::strerror(err) +
      ". It is off when kernel.io_uring_disabled is set, blocked by Docker's and containerd's "
      "default seccomp profiles, and incomplete before Linux 5.19.");
}

void check_ring(io_uring* ring) {
  // EXT_ARG lets a wait carry its own timeout (no timeout SQE per sleep); NODROP keeps
  // completions when the CQ is full. Both are what "never lose a wakeup" rests on.
  if ((ring->features & IORING_FEAT_EXT_ARG) == 0 || (ring->features & IORING_FEAT_NODROP) == 0) {
    fail_setup(ENOSYS, "the kernel lacks IORING_FEAT_EXT_ARG or IORING_FEAT_NODROP");
  }
  io_uring_probe* probe = io_uring_get_probe_ring(ring);
  if (probe == nullptr) fail_setup(ENOSYS, "cannot probe the supported operations");
  for (int op : kRequiredOps) {
    if (!io_uring_opcode_supported(probe, op)) {
      io_uring_free_probe(probe);
      fail_setup(ENOSYS, "the kernel lacks a required operation");
    }
  }
  io_uring_free_probe(probe);
}

// nudge_ring() wakes a reactor whose io_uring_enter names the ring by number (a kernel that
// refused to register it), so a move of the ring fd need not wait for the enter to end.
void nudge_ring(void* self) noexcept {
  static_cast<Reactor*>(self)->wake();
}

}  // namespace

UringReactor::UringReactor(unsigned entries) {
  static constexpr std::uint32_t kCandidates[] = {
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
      IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
      0,
  };
  int err = ENOSYS;
  for (std::uint32_t candidate : kCandidates) {
    io_uring_params params{};
    params.flags = candidate | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE;
    params.cq_entries = entries * 4;
    int r = io_uring_queue_init_params(entries, &ring_, &params);
    if (r == 0) {
      flags_ = params.flags;
      setup();
      return;
    }
    err = -r;
    // Only "this flag is unknown" is worth a weaker retry; anything else fails every candidate.
    if (err != EINVAL) break;
  }
  fail_setup(err, "io_uring_setup");
}

void UringReactor::setup() {
  san::kernel_mapped(ring_.sq.ring_ptr, ring_.sq.ring_sz);
  san::kernel_mapped(ring_.cq.ring_ptr, ring_.cq.ring_sz);
  san::kernel_mapped(ring_.sq.sqes, ring_.sq.ring_entries * sizeof(io_uring_sqe));
  // The ring fd moves out of the program's numbers before liburing names it again.
  if (int r = ring_fd_.adopt(ring_.ring_fd, &nudge_ring, this); r < 0) {
    ring_.ring_fd = ring_.enter_ring_fd = -1;  // closed already: io_uring_queue_exit only unmaps
    io_uring_queue_exit(&ring_);
    fail_setup(-r, "moving the ring fd out of the program's numbers");
  }
  try {
    {
      OwnFd::Use ring(ring_fd_);
      ring_.ring_fd = ring_.enter_ring_fd = ring.fd();
      check_ring(&ring_);
    }
    // Blocking on purpose: io_uring completes a read of an O_NONBLOCK file with -EAGAIN.
    int r = wake_fd_.make([]() noexcept { return sys::call(SYS_eventfd2, 0, EFD_CLOEXEC); });
    if (r < 0) fail_setup(-r, "eventfd");
    OwnFd::Use ring(ring_fd_);
    OwnFd::Use wake(wake_fd_);
    ring_.ring_fd = ring_.enter_ring_fd = ring.fd();
    int fd = wake.fd();
    r = io_uring_register_files(&ring_, &fd, 1);
    if (r < 0) fail_setup(-r, "io_uring_register_files");
    // A registered ring fd spares io_uring_enter an fget/fput of the ring on every call, and
    // the enter then names no fd number at all; an older kernel refusing it costs only that.
    ring_registered_ = io_uring_register_ring_fd(&ring_) == 1;
  } catch (...) {
    exit_ring();
    wake_fd_.close();
    throw;
  }
  sqes_bytes_ = ring_.sq.ring_entries * sizeof(io_uring_sqe);
  // Refused on some mappings by old kernels; the child's forget() then only unmaps.
  ::madvise(ring_.sq.ring_ptr, ring_.sq.ring_sz, MADV_DONTFORK);
  if (ring_.cq.ring_ptr != ring_.sq.ring_ptr) {
    ::madvise(ring_.cq.ring_ptr, ring_.cq.ring_sz, MADV_DONTFORK);
  }
  ::madvise(ring_.sq.sqes, sqes_bytes_, MADV_DONTFORK);
  enlist();
  wake_op_.kind = OpKind::kRead;
  wake_op_.fd = -1;  // read through the fixed file, never by number
  wake_op_.buf = &wake_buf_;
  wake_op_.len = sizeof wake_buf_;
  arm_wake();
}

UringReactor::~UringReactor() {
  delist();
  if (forgotten_) return;
  // Exiting the ring cancels the pending eventfd read before the fd goes.
  exit_ring();
  wake_fd_.close();
}

void UringReactor::exit_ring() noexcept {
  // io_uring_queue_exit closes the ring fd itself (straight into the kernel): the number stays
  // the runtime's until it has.
  ring_fd_.close_with(
      [](int fd, void* arg) noexcept {
        auto* self = static_cast<UringReactor*>(arg);
        self->ring_.ring_fd = fd;
        if (!self->ring_registered_) self->ring_.enter_ring_fd = fd;
        io_uring_queue_exit(&self->ring_);
      },
      this);
}

void UringReactor::forget() noexcept {
  if (forgotten_) return;
  forgotten_ = true;
  // Not io_uring_queue_exit(): unregistering the ring fd is an io_uring call on the parent's
  // ring. Unmapping changes only this process; the mappings are usually absent already
  // (MADV_DONTFORK), and munmap of a hole succeeds. The fds are closed with every other fd of
  // the parent's runtime (own_fds_after_fork_child()).
  ::munmap(ring_.sq.sqes, sqes_bytes_);
  ::munmap(ring_.sq.ring_ptr, ring_.sq.ring_sz);
  if (ring_.cq.ring_ptr != ring_.sq.ring_ptr) ::munmap(ring_.cq.ring_ptr, ring_.cq.ring_sz);
  ring_.ring_fd = -1;
}

template <class Enter>
int UringReactor::enter(Enter e) {
  if (ring_registered_) return e();
  OwnFd::Use ring(ring_fd_);
  ring_.ring_fd = ring_.enter_ring_fd = ring.fd();
  return e();
}

void UringReactor::arm_wake() {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_read(sqe, 0, &wake_buf_, sizeof wake_buf_, 0);
  sqe->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data(sqe, &wake_op_);
  wake_armed_ = true;
}

void UringReactor::wake() noexcept {
  std::uint64_t one = 1;
  OwnFd::Use wake(wake_fd_);
  // EAGAIN means the counter is saturated: the ring will wake anyway.
  sys::call(SYS_write, wake.fd(), &one, sizeof one);
}

bool UringReactor::kernel_holds_completions() const noexcept {
  // With TASKRUN_FLAG the kernel raises IORING_SQ_TASKRUN while completions wait for this
  // thread to enter the kernel (without it, flags 0, they are posted asynchronously);
  // IORING_SQ_CQ_OVERFLOW says completions that did not fit in the CQ wait to be flushed.
  unsigned flags = IO_URING_READ_ONCE(*ring_.sq.kflags);
  return (flags & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)) != 0;
}

io_uring_sqe* UringReactor::get_sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  while (sqe == nullptr) {
    // SQ full: hand the batch to the kernel now. If that fails for a CQ backlog (older kernels
    // say EBUSY), reap into early_done_ to make room; poll() hands those ops on.
    int r = enter([this] { return io_uring_submit(&ring_); });
    if (r == -EBUSY || r == -EAGAIN) early_count_ = early_count_ + reap(early_done_);
    if (r < 0 && r != -EBUSY && r != -EAGAIN && r != -EINTR) {
      throw std::runtime_error(std::string("weft: io_uring_submit: ") + std::strerror(-r));
    }
    sqe = io_uring_get_sqe(&ring_);
  }
  return sqe;
}

void UringReactor::start(IoOp* op) {
  io_uring_sqe* sqe = get_sqe();
  unsigned len = static_cast<unsigned>(op->len < kMaxRw ? op->len : kMaxRw);
  switch (op->kind) {
    case OpKind::kRead:
      io_uring_prep_read(sqe, op->fd, op->buf, len, op->offset);
      break;
    case OpKind::kWrite:
      io_uring_prep_write(sqe, op->fd, op->buf, len, op->offset);
      break;
    case OpKind::kReadv:
      io_uring_prep_readv(sqe, op->fd, static_cast<const iovec*>(op->buf), len, op->offset);
      break;
    case OpKind::kWritev:
      io_uring_prep_writev(sqe, op->fd, static_cast<const iovec*>(op->buf), len, op->offset);
      break;
    case OpKind::kRecv:
      io_uring_prep_recv(sqe, op->fd, op->buf, len, op->flags);
      break;
    case OpKind::kSend:
      io_uring_prep_send(sqe, op->fd, op->buf, len, op->flags);
      break;
    case OpKind::kRecvmsg:
      io_uring_prep_recvmsg(sqe, op->fd, static_cast<msghdr*>(op->buf),
                            static_cast<unsigned>(op->flags));
      break;
    case OpKind::kSendmsg:
      io_uring_prep_sendmsg(sqe, op->fd, static_cast<const msghdr*>(op->buf),
                            static_cast<unsigned>(op->flags));
      break;
    case OpKind::kAccept:
      io_uring_prep_accept(sqe, op->fd, static_cast<sockaddr*>(op->buf), op->addrlen, op->flags);
      break;
    case OpKind::kConnect:
      io_uring_prep_connect(sqe, op->fd, static_cast<const sockaddr*>(op->buf),
                            static_cast<socklen_t>(op->len));
      break;
    case OpKind::kPoll:
      io_uring_prep_poll_add(sqe, op->fd, static_cast<unsigned>(op->events));
      break;
  }
  io_uring_sqe_set_data(sqe, op);
  op->completed = false;
  inflight_ = inflight_ + 1;
  submitted_ = submitted_ + 1;
}

void UringReactor::cancel(IoOp* op) {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_cancel(sqe, op, 0);
  io_uring_sqe_set_data(sqe, nullptr);
}

void UringReactor::poll(bool block, const Deadline& deadline, OpQueue& completed) {
  // Ops reaped while making room for an SQE are complete already: never sleep on top of them.
  if (!early_done_.empty()) block = false;
  int r = 0;
  Clock::time_point now{};
  if (block && deadline.is_set()) now = Clock::now();
  if (!block || (deadline.is_set() && deadline.at() <= now)) {
    // With nothing to submit and no completion held in the kernel, skip the syscall, which
    // would otherwise cost a scheduler tick more than all the switches it separates.
    if (io_uring_sq_ready(&ring_) != 0 || kernel_holds_completions()) {
      r = enter([this] { return io_uring_submit_and_get_events(&ring_); });
    }
  } else if (deadline.is_set()) {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.at() - now).count();
    __kernel_timespec ts{};
    ts.tv_sec = ns / 1000000000;
    ts.tv_nsec = ns % 1000000000;
    io_uring_cqe* cqe = nullptr;
    r = enter([&] { return io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr); });
  } else {
    r = enter([this] { return io_uring_submit_and_wait(&ring_, 1); });
  }
  // ETIME: the deadline came; EINTR: a signal; EBUSY/EAGAIN: CQ backlog, which reaping clears.
  if (r < 0 && r != -ETIME && r != -EINTR && r != -EBUSY && r != -EAGAIN) {
    throw std::runtime_error(std::string("weft: io_uring_enter: ") + std::strerror(-r));
  }
  completed.splice_back(early_done_);
  early_count_ = 0;
  reap(completed);
  if (!wake_armed_) arm_wake();
}

std::size_t UringReactor::reap(OpQueue& completed) noexcept {
  unsigned head;
  unsigned seen = 0;
  std::size_t done = 0;
  io_uring_cqe* cqe;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    ++seen;
    auto* op = static_cast<IoOp*>(io_uring_cqe_get_data(cqe));
    if (op == nullptr) continue;  // a cancellation's own completion
    if (op == &wake_op_) {
      wake_armed_ = false;  // re-armed by poll(): reap() may run inside get_sqe()
      continue;
    }
    op->res = cqe->res;
    inflight_ = inflight_ - 1;
    hand_over(op, completed);
    ++done;
  }
  io_uring_cq_advance(&ring_, seen);
  return done;
}

}  // namespace weft::rt
