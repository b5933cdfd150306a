// reactor: the contract every I/O backend keeps, and the operation record they share.
//
// The contract (after Go's netpoll):
// - start(op) hands an operation to the backend. It may submit it to the kernel later (in
//   batches); the caller parks until op->completed.
// - poll() makes progress: submits what is queued, waits at most until the given deadline if
//   asked to, and for every finished operation sets op->res and op->completed and appends op
//   to the list of completed ops it returns. The reactor never calls the scheduler and never
//   touches a fiber: the carrier readies each completed op's waiter, so a backend can be tested
//   and replaced on its own.
// - cancel(op) asks the backend to finish op early with -ECANCELED; op still completes through
//   poll(), possibly with its real result if it raced. (There is deliberately no "cancel by fd":
//   io_uring matches that by open file, so it would also hit operations on dup()s of the fd.)
// - wake() may be called from any thread; it ends the current or next blocking poll().
// - Every started operation completes exactly once through poll(): the frame that owns the op
//   never returns before that, cancel paths included, so no completion can ever write into a
//   dead frame or reach an fd number that was closed and reused.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <cstddef>
#include <cstdint>

#include <weft/config.hpp>
#include <weft/deadline.hpp>

#include "base/list.hpp"
#include "fiber/fiber_control.hpp"

struct iovec;

namespace weft::rt {

class Carrier;

// OpKind names the operation an IoOp performs.
enum class OpKind : std::uint8_t {
  kRead,
  kWrite,
  kReadv,
  kWritev,
  kRecv,
  kSend,
  kRecvmsg,
  kSendmsg,
  kAccept,
  kConnect,
  kPoll,
};

// IoOp is one I/O operation, owned by the frame of the fiber that waits for it.
struct IoOp {
  // kind is what to do.
  OpKind kind;
  // fd is the file descriptor operated on.
  int fd = -1;
  // flags are recv/send/accept flags.
  int flags = 0;
  // buf is the buffer of read/write/recv/send, iovec array of readv/writev, msghdr of *msg,
  // sockaddr of accept/connect.
  void* buf = nullptr;
  // len is the byte count, iovec count, or sockaddr length of connect.
  std::size_t len = 0;
  // offset is the file offset; kCurrentPosition for streams and "at the file position".
  std::uint64_t offset = kCurrentPosition;
  // addrlen is accept's in/out address length.
  socklen_t* addrlen = nullptr;
  // events is the poll mask.
  short events = 0;
  // res is the result, a count or -errno, valid once completed.
  std::int32_t res = 0;
  // completed is set by the reactor when res is final.
  bool completed = false;
  // tried is set when the caller made this op's non-blocking try right before starting it and
  // found the fd not ready (io/try_first.hpp): a backend that tries ops itself (epoll) goes
  // straight to waiting for readiness instead of repeating the syscall.
  bool tried = false;
  // waiter is the fiber to wake on completion.
  FiberControl* waiter = nullptr;
  // carrier is the carrier whose reactor runs the op (for close() from another carrier).
  Carrier* carrier = nullptr;
  // fd_prev and fd_next link the op into its fd's list of operations in flight.
  IoOp* fd_prev = nullptr;
  // fd_next is the next operation in flight on the same fd.
  IoOp* fd_next = nullptr;
  // next links the op into one list at a time: its reactor's own while the op runs (epoll: the
  // ops waiting on one fd, or those to try or hand back), then the completed ops poll() returns.
  IoOp* next = nullptr;
  // backend_state is the reactor's own record of where the op is (epoll; io_uring ignores it).
  std::uint8_t backend_state = 0;
  // backend_count is what an op done in steps has moved so far (epoll's MSG_WAITALL).
  std::size_t backend_count = 0;
  // kCurrentPosition makes read/write use (and move) the file position.
  static constexpr std::uint64_t kCurrentPosition = ~std::uint64_t{0};
};

// OpQueue is a FIFO of ops linked through IoOp::next.
using OpQueue = List<IoOp, &IoOp::next>;

// poll_events() is the poll(2) events op waits for before it can make progress: POLLOUT for
// the kinds that send, POLLIN for those that receive, and the caller's own for a poll.
short poll_events(const IoOp& op) noexcept;

// Reactor is the interface of an I/O backend.
class Reactor {
 public:
  virtual ~Reactor() = default;
  // name() is the backend's name, for diagnostics.
  virtual const char* name() const noexcept = 0;
  // backend() says which backend this is (never Backend::kAuto).
  virtual Backend backend() const noexcept = 0;
  // start() queues op; it completes later through poll().
  virtual void start(IoOp* op) = 0;
  // cancel() asks for op to complete early with -ECANCELED.
  virtual void cancel(IoOp* op) = 0;
  // poll() submits queued work, waits (if block) at most until deadline (if set), and appends the
  // completed operations to completed.
  virtual void poll(bool block, const Deadline& deadline, OpQueue& completed) = 0;
  // wake() makes a poll() that sleeps now, or the next one, return promptly; it may be called
  // from any thread, and a wake is never lost.
  virtual void wake() noexcept = 0;
  // inflight() is the number of started operations that have not completed.
  virtual std::size_t inflight() const noexcept = 0;
  // submitted() is the number of operations handed to the kernel so far.
  virtual std::uint64_t submitted() const noexcept = 0;
  // setup_flags() describes how the backend was set up (IORING_SETUP_* for io_uring).
  virtual std::uint32_t setup_flags() const noexcept = 0;
  // forget() drops, in a forked child, what the backend holds in the kernel, without one call
  // that could touch what the parent shares with the child (runtime/process/fork.hpp); the reactor
  // is unusable afterwards, and destroying it releases nothing more. Its fds are OwnFds
  // (base/own_fd.hpp), which the child's own_fds_after_fork_child() closes with every other.
  virtual void forget() noexcept = 0;
  // forget_all() forgets every reactor of the process, of either backend (in a forked child,
  // before anything else runs).
  static void forget_all() noexcept;

 protected:
  // hand_over() marks op done and appends it to completed; the backend has stored op->res and
  // counts op out of inflight() itself.
  static void hand_over(IoOp* op, OpQueue& completed) noexcept {
    op->completed = true;
    completed.push_back(op);
  }
  // enlist() adds the reactor to the process's list, once its kernel objects exist.
  void enlist() noexcept;
  // delist() removes it again (from the destructor).
  void delist() noexcept;

 private:
  // all_prev_ and all_next_ link every live reactor of the process, for forget_all().
  Reactor* all_prev_ = nullptr;
  Reactor* all_next_ = nullptr;
  bool enlisted_ = false;
  // Registry is the list of every live reactor.
  using Registry = List<Reactor, &Reactor::all_next_, &Reactor::all_prev_>;
  static Registry& registry() noexcept;
};

}  // namespace weft::rt
