// The epoll backend of the reactor, for where io_uring is refused (container seccomp profiles,
// kernel.io_uring_disabled, gVisor).
//
// One epoll instance per carrier. start() only queues the op; poll() tries every queued op once
// without blocking (epoll_ops.hpp says how, per op), so ops are tried in a batch when the
// carrier runs out of ready fibers, as io_uring submits them, and a fiber whose data is always
// there still yields on each call. An op that would block joins its fd's list of waiting ops
// and the fd is armed EPOLLONESHOT for the union of what that list waits for; when it fires,
// every op on the fd whose events came is tried again, and the fd is re-armed for those still
// waiting. An op epoll refuses (regular files: EPERM) runs on a helper thread of the blocking
// pool the reactor was given, which queues its result and wakes the reactor; it is handed back
// by poll() like the rest. The reactor knows the pool only as the one it was handed: it never
// looks for the run or the scheduler.
//
// Why one-shot, not Go's persistent edge-triggered registration: weft cannot see a plain
// ::close, so it cannot know when an fd number it registered now names another file. With
// one-shot arming every wait goes through epoll_ctl (MOD, or ADD when the kernel dropped the
// closed file), which the kernel resolves against the file the number names now: stale
// registrations cost a spurious retry, never a lost wake-up. The price is one epoll_ctl per
// wait; docs/design.md has the measurement.
//
// No wake-up is lost: an op's readiness is checked by the kernel when it is armed (ADD and MOD
// report an fd that is ready already), cancel and offload results are handed back before any
// sleep (a poll() that has some does not block), and other threads wake a sleeping epoll_wait
// through an eventfd that is part of the set (level-triggered).
//
// Descriptors: the epoll fd and the eventfd are the runtime's own (base/own_fd.hpp): every
// system call that names one does so inside a Use, and a wait that holds the epoll fd's Use is
// nudged awake (the eventfd) when the program's dup2 moves the fd to another number.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "base/atomic_stack.hpp"
#include "base/memory.hpp"
#include "base/own_fd.hpp"
#include "blocking/blocking_pool.hpp"
#include "fiber/fiber_control.hpp"
#include "reactor/reactor.hpp"

struct epoll_event;

namespace weft::rt {

// EpollReactor is the Reactor on epoll.
class EpollReactor final : public Reactor {
 public:
  // EpollReactor() creates the epoll instance and its wake eventfd, or throws
  // std::runtime_error saying why it cannot. helpers runs the ops epoll cannot wait for; with
  // none (a reactor used outside a run), the thread that polls does them itself.
  explicit EpollReactor(BlockingPool* helpers);
  // ~EpollReactor() waits for helper threads still reporting an offloaded op's result.
  ~EpollReactor() override;

  const char* name() const noexcept override { return "epoll"; }
  Backend backend() const noexcept override { return Backend::kEpoll; }
  void start(IoOp* op) override;
  void cancel(IoOp* op) override;
  void poll(bool block, const Deadline& deadline, OpQueue& completed) override;
  void wake() noexcept override;
  std::size_t inflight() const noexcept override { return inflight_; }
  std::uint64_t submitted() const noexcept override { return submitted_; }
  std::uint32_t setup_flags() const noexcept override { return 0; }
  // forget() gives up, in a forked child, the epoll fd and the eventfd: they are the parent's
  // very instance and counter, so an epoll_ctl or a wake would reach it (the child's
  // own_fds_after_fork_child() closes its copies).
  void forget() noexcept override;

  // Offload is one op on a helper thread: the job runs the plain system call and hands the
  // record back through offload_finished(), which may free it (so the job has no finish step).
  struct Offload : BlockingJob {
    // Offload() makes the record for op, run for reactor.
    Offload(IoOp* o, EpollReactor* r) noexcept;
    // op is the operation to perform.
    IoOp* op;
    // reactor is the reactor the op belongs to.
    EpollReactor* reactor;
    // res is the plain call's result.
    long res = 0;
    // next links the record into the reactor's stack of finished offloads.
    Offload* next = nullptr;
  };
  // offload_finished() is called on the helper thread once rec's call has returned.
  void offload_finished(Offload* rec) noexcept;

 private:
  // FdWait is this reactor's state for one fd number.
  struct FdWait {
    OpQueue ops;  // waiting ops, first come first
    std::uint32_t armed_mask = 0;
    bool armed = false;       // a one-shot registration is pending for armed_mask
    bool registered = false;  // the number was last seen in the set (MOD first, not ADD)
  };

  FdWait& fd_wait(int fd);
  int ctl_arm(int fd, FdWait& w, std::uint32_t mask) noexcept;
  void try_pending() noexcept;
  void attempt(IoOp* op) noexcept;
  void wait_on(IoOp* op) noexcept;
  void rearm(int fd) noexcept;
  void on_ready(int fd, std::uint32_t events) noexcept;
  bool retry(IoOp* op, std::uint32_t events) noexcept;
  void offload(IoOp* op) noexcept;
  void take_offloaded() noexcept;
  void complete(IoOp* op, long res) noexcept;
  void hand_back(OpQueue& completed) noexcept;
  int wait_events(epoll_event* events, int max, int timeout_ms, const Deadline& deadline) noexcept;

  BlockingPool* helpers_;
  OwnFd epfd_;
  OwnFd wake_fd_;
  bool forgotten_ = false;
  bool have_pwait2_ = true;
  MemVector<FdWait> fds_;    // weft memory, as every Offload record
  std::size_t waiting_ = 0;  // ops in some FdWait list
  OpQueue pending_;          // started, not tried yet
  OpQueue done_;             // finished, not handed back yet
  // Counters other threads read for stats(); only this carrier writes them.
  Relaxed<std::size_t> inflight_ = 0;
  Relaxed<std::uint64_t> submitted_ = 0;
  std::size_t offloaded_ = 0;  // ops on helper threads, not yet taken back
  // Helper threads push finished offloads here (a lock-free stack) and then write wake_fd_;
  // offload_busy_ counts those still inside offload_finished(), which the destructor waits out.
  AtomicStack<Offload, &Offload::next> offload_done_;
  std::atomic<unsigned> offload_busy_{0};
};

}  // namespace weft::rt
