// The io_uring backend of the reactor.
//
// One ring per carrier, created with the strongest setup flags the kernel accepts:
// SINGLE_ISSUER|DEFER_TASKRUN (completions are processed only when this thread asks, so the
// kernel never interrupts the carrier with task work), else SINGLE_ISSUER|COOP_TASKRUN, else
// COOP_TASKRUN, else none; TASKRUN_FLAG with each, so a non-blocking poll can see from the
// shared ring whether the kernel holds completions and skip the syscall when it does not.
// Operations are queued as SQEs as fibers block and submitted in one io_uring_enter when the
// carrier runs out of ready fibers (or every scheduler tick), which is also the call that waits for
// completions: one syscall per batch, not per operation.
//
// No wakeup is lost: an SQE queued by a fiber is always submitted before the carrier sleeps
// (submit and wait are one call), the sleep is bounded by the next timer deadline, and with
// IORING_FEAT_NODROP a full completion queue holds completions back instead of dropping them.
// Cancellation SQEs carry user_data 0, so their own completions are recognised and ignored.
// Cross-thread wakes (another carrier's notify, the blocking pool) write an eventfd whose read
// the ring keeps pending, so a sleeping io_uring_enter returns.
//
// Descriptors: the ring fd and the eventfd are the runtime's own (base/own_fd.hpp), moved out of
// the program's numbers as soon as they exist, before anything names them: the ring fd before
// liburing's probe and registrations read ring_.ring_fd, so io_uring_register_ring_fd registers
// the moved one, and io_uring_enter then goes by the registered index, not by a number. The
// eventfd is registered as the ring's fixed file 0 and its read is a fixed-file read, so the
// read re-armed after every wake names the file, never a number that the program's dup2 could
// have given another file. What is left by number is the wake's write (any thread, inside a Use),
// and the exit (the ring fd, handed to io_uring_queue_exit by OwnFd::close_with).
//
// fork: the ring memory is mapped MAP_SHARED with the kernel, so a child would share the
// parent's SQ and CQ. It is marked MADV_DONTFORK: a child gets no mapping of it at all, and a
// stray access faults instead of taking the parent's completions. The child's copies of the
// ring fd and the eventfd are closed with every other fd of the parent's runtime
// (own_fds_after_fork_child(), runtime/process/fork.hpp).
#pragma once

#include <liburing.h>

#include "base/own_fd.hpp"
#include "reactor/reactor.hpp"

namespace weft::rt {

// UringReactor is the Reactor on io_uring.
class UringReactor final : public Reactor {
 public:
  // UringReactor() sets up a ring or throws std::runtime_error saying why it cannot.
  explicit UringReactor(unsigned entries);
  ~UringReactor() override;

  const char* name() const noexcept override { return "io_uring"; }
  Backend backend() const noexcept override { return Backend::kIoUring; }
  void start(IoOp* op) override;
  void cancel(IoOp* op) override;
  void poll(bool block, const Deadline& deadline, OpQueue& completed) override;
  void wake() noexcept override;
  // Ops held in early_done_ count as in flight until poll() hands them on, so the carrier
  // never takes their waiters for deadlocked.
  std::size_t inflight() const noexcept override { return inflight_ + early_count_; }
  std::uint64_t submitted() const noexcept override { return submitted_; }
  std::uint32_t setup_flags() const noexcept override { return flags_; }
  void forget() noexcept override;

 private:
  void setup();
  void exit_ring() noexcept;
  template <class Enter>
  int enter(Enter e);
  io_uring_sqe* get_sqe();
  void arm_wake();
  bool kernel_holds_completions() const noexcept;
  std::size_t reap(OpQueue& completed) noexcept;

  io_uring ring_{};
  // ring_fd_ is the ring's fd; ring_.ring_fd is set from it wherever liburing reads it.
  OwnFd ring_fd_;
  // ring_registered_ says io_uring_enter goes by the registered index (ring_.enter_ring_fd).
  bool ring_registered_ = false;
  std::uint32_t flags_ = 0;
  // Counters other threads read for stats(); only this carrier writes them.
  Relaxed<std::size_t> inflight_ = 0;
  Relaxed<std::uint64_t> submitted_ = 0;
  Relaxed<std::size_t> early_count_ = 0;  // how many ops early_done_ holds
  OpQueue early_done_;                    // completions reaped while making room for an SQE
  // Other threads wake a sleeping poll() by writing wake_fd_, an eventfd this ring always has a
  // read pending on (wake_op_, not counted in flight: it is no fiber's operation), through its
  // fixed-file slot 0.
  OwnFd wake_fd_;
  IoOp wake_op_{};
  std::uint64_t wake_buf_ = 0;
  bool wake_armed_ = false;
  std::size_t sqes_bytes_ = 0;  // the SQE array's mapping (its size is in the shared ring too)
  bool forgotten_ = false;
};

}  // namespace weft::rt
