#include "reactor/epoll_reactor.hpp"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>

#include "base/sys.hpp"
#include "blocking/blocking_pool.hpp"
#include "reactor/epoll_ops.hpp"
#include "reactor/plain_op.hpp"

namespace weft::rt {

using epoll::kCancelRequested;
using epoll::kNoNowait;
using epoll::kStateMask;
using epoll::Outcome;
using epoll::State;

namespace {

// kWakeTag is the epoll data of the wake eventfd; fds are registered with their number.
constexpr std::uint64_t kWakeTag = ~std::uint64_t{0};
// kMaxEvents is how many readiness events one epoll_wait takes; more wait for the next poll.
constexpr int kMaxEvents = 128;
// poll(2)'s answer for a file epoll refuses (a regular file is always ready).
constexpr int kAlwaysReady = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM;

[[noreturn]] void fail_setup(int err, const char* what) {
  throw std::runtime_error(std::string("weft: cannot use epoll: ") + what + ": " +
                           std::strerror(err));
}

State state_of(const IoOp* op) noexcept {
  return static_cast<State>(op->backend_state & kStateMask);
}

void set_state(IoOp* op, State s) noexcept {
  op->backend_state = static_cast<std::uint8_t>((op->backend_state & ~kStateMask) | s);
}

}  // namespace

namespace {

// offload_work() runs an offloaded op's plain system call on a helper thread.
void offload_work(BlockingJob* job) noexcept {
  auto* self = static_cast<EpollReactor::Offload*>(job);
  self->res = plain_op(*self->op, Deadline{});
  self->reactor->offload_finished(self);  // self may be gone from here on
}

}  // namespace

EpollReactor::Offload::Offload(IoOp* o, EpollReactor* r) noexcept
    : BlockingJob(&offload_work, nullptr), op(o), reactor(r) {}

namespace {

// nudge_epoll() wakes a reactor whose epoll wait holds the epoll fd's Use, so that a move of the
// fd need not wait for the wait to end.
void nudge_epoll(void* self) noexcept {
  static_cast<Reactor*>(self)->wake();
}

}  // namespace

EpollReactor::EpollReactor(BlockingPool* helpers) : helpers_(helpers) {
  int r = wake_fd_.make(
      []() noexcept { return sys::call(SYS_eventfd2, 0, EFD_CLOEXEC | EFD_NONBLOCK); });
  if (r < 0) fail_setup(-r, "eventfd");
  r = epfd_.make([]() noexcept { return sys::call(SYS_epoll_create1, EPOLL_CLOEXEC); },
                 &nudge_epoll, this);
  if (r < 0) fail_setup(-r, "epoll_create1");  // wake_fd_ closes as the members unwind
  epoll_event ev{};
  ev.events = EPOLLIN;  // level-triggered: a wake before the sleep is still seen by it
  ev.data.u64 = kWakeTag;
  {
    OwnFd::Use ep(epfd_);
    OwnFd::Use wake(wake_fd_);
    r = static_cast<int>(sys::call(SYS_epoll_ctl, ep.fd(), EPOLL_CTL_ADD, wake.fd(), &ev));
  }
  if (r < 0) fail_setup(-r, "epoll_ctl(eventfd)");
  enlist();
}

EpollReactor::~EpollReactor() {
  delist();
  // In a forked child the helper threads counted in offload_busy_ are gone: nothing to wait for.
  if (forgotten_) return;
  // A helper thread may still be between queueing its result and leaving offload_finished().
  while (offload_busy_.load(std::memory_order_acquire) != 0) sys::yield_thread();
  wake_fd_.close();
  epfd_.close();
}

void EpollReactor::forget() noexcept {
  forgotten_ = true;
}

void EpollReactor::wake() noexcept {
  std::uint64_t one = 1;
  OwnFd::Use wake(wake_fd_);
  // EAGAIN means the counter is saturated: the eventfd is readable, the wait returns anyway.
  sys::call(SYS_write, wake.fd(), &one, sizeof one);
}

void EpollReactor::start(IoOp* op) {
  op->completed = false;
  op->backend_state = epoll::kPending;
  op->backend_count = 0;
  pending_.push_back(op);
  inflight_ = inflight_ + 1;
  submitted_ = submitted_ + 1;
}

void EpollReactor::cancel(IoOp* op) {
  switch (state_of(op)) {
    case epoll::kPending:
      op->backend_state |= kCancelRequested;  // completed when the batch is tried
      break;
    case epoll::kWaiting: {
      fds_[static_cast<std::size_t>(op->fd)].ops.remove(op);
      --waiting_;
      // The fd stays armed for what the others wait for (or spuriously, which costs a retry).
      complete(op, -ECANCELED);
      break;
    }
    case epoll::kOffloaded:  // a helper thread is inside the call: its result will do
    case epoll::kDone:
    case epoll::kIdle:
      break;
  }
}

void EpollReactor::complete(IoOp* op, long res) noexcept {
  op->res = static_cast<std::int32_t>(res);
  set_state(op, epoll::kDone);
  done_.push_back(op);
}

EpollReactor::FdWait& EpollReactor::fd_wait(int fd) {
  auto i = static_cast<std::size_t>(fd);
  if (i >= fds_.size()) fds_.resize(std::max(i + 1, fds_.size() * 2));
  return fds_[i];
}

int EpollReactor::ctl_arm(int fd, FdWait& w, std::uint32_t mask) noexcept {
  epoll_event ev{};
  ev.events = mask | EPOLLONESHOT;
  ev.data.u64 = static_cast<std::uint64_t>(fd);
  // The kernel keys a registration by fd number and open file. MOD finds none when the file
  // was closed (the kernel dropped it) or the number names another file now: then ADD.
  int how = w.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  OwnFd::Use ep(epfd_);
  long r = sys::call(SYS_epoll_ctl, ep.fd(), how, fd, &ev);
  if (r == -ENOENT && how == EPOLL_CTL_MOD) {
    r = sys::call(SYS_epoll_ctl, ep.fd(), EPOLL_CTL_ADD, fd, &ev);
  } else if (r == -EEXIST && how == EPOLL_CTL_ADD) {
    r = sys::call(SYS_epoll_ctl, ep.fd(), EPOLL_CTL_MOD, fd, &ev);
  }
  w.armed = r == 0;
  w.registered = r == 0;
  w.armed_mask = r == 0 ? mask : 0;
  return static_cast<int>(r);
}

void EpollReactor::rearm(int fd) noexcept {
  FdWait& w = fds_[static_cast<std::size_t>(fd)];
  std::uint32_t mask = 0;
  for (IoOp* op = w.ops.front(); op != nullptr; op = OpQueue::next(op)) {
    mask |= epoll::interest(*op);
  }
  if (w.ops.empty() || (w.armed && (w.armed_mask & mask) == mask)) return;
  int r = ctl_arm(fd, w, mask | w.armed_mask);
  if (r == 0) return;
  // The fd cannot be waited on: every op on it finishes now, one way or another.
  OpQueue failed = w.ops.take();
  while (IoOp* op = failed.pop_front()) {
    --waiting_;
    if (r != -EPERM) {
      complete(op, r);
    } else if (op->kind == OpKind::kPoll) {
      complete(op, op->events & kAlwaysReady);
    } else {
      offload(op);  // a regular file, or anything else epoll refuses
    }
  }
}

void EpollReactor::wait_on(IoOp* op) noexcept {
  if (op->fd < 0) {
    complete(op, -EBADF);
    return;
  }
  FdWait& w = fd_wait(op->fd);
  // An fd with no op waiting may have been closed and its number reused since it was armed, so
  // the "armed" note is trusted only while other ops wait on it (rearm checks it).
  if (w.ops.empty()) w.armed = false;
  w.ops.push_back(op);  // FIFO: the first to wait is the first to retry
  set_state(op, epoll::kWaiting);
  ++waiting_;
  rearm(op->fd);
}

void EpollReactor::attempt(IoOp* op) noexcept {
  epoll::Attempt a = epoll::try_op(*op);
  switch (a.outcome) {
    case Outcome::kDone:
      complete(op, a.res);
      break;
    case Outcome::kWait:
      wait_on(op);
      break;
    case Outcome::kOffload:
      offload(op);
      break;
  }
}

void EpollReactor::try_pending() noexcept {
  OpQueue batch = pending_.take();
  while (IoOp* op = batch.pop_front()) {
    if ((op->backend_state & kCancelRequested) != 0) {
      complete(op, -ECANCELED);
    } else if (op->tried) {
      wait_on(op);  // its caller's try found it would block a moment ago: no second syscall
    } else {
      attempt(op);
    }
  }
}

void EpollReactor::on_ready(int fd, std::uint32_t events) noexcept {
  if (static_cast<std::size_t>(fd) >= fds_.size()) return;
  FdWait& w = fds_[static_cast<std::size_t>(fd)];
  w.armed = false;  // one-shot: it fired
  w.armed_mask = 0;
  OpQueue woken = w.ops.take();
  while (IoOp* op = woken.pop_front()) {
    if (!retry(op, events)) w.ops.push_back(op);  // still waiting, in the order they came
  }
  rearm(fd);
}

bool EpollReactor::retry(IoOp* op, std::uint32_t events) noexcept {
  if (op->kind == OpKind::kPoll) {
    int got = epoll::poll_result(*op, events);
    if (got == 0) return false;
    --waiting_;
    complete(op, got);
    return true;
  }
  if ((events & (epoll::interest(*op) | EPOLLERR | EPOLLHUP)) == 0) return false;
  epoll::Attempt a{Outcome::kOffload};
  // A file without RWF_NOWAIT is ready now, but only a blocking call can do the op: a helper
  // thread makes it, so a reader that races us to the data blocks that thread, not the carrier.
  if ((op->backend_state & kNoNowait) == 0) a = epoll::try_op(*op);
  if (a.outcome == Outcome::kWait) return false;
  --waiting_;
  if (a.outcome == Outcome::kDone) {
    complete(op, a.res);
  } else {
    offload(op);
  }
  return true;
}

void EpollReactor::offload(IoOp* op) noexcept {
  if (helpers_ == nullptr) {
    // Only a reactor used outside weft::run has no pool; then the caller's thread does it.
    complete(op, plain_op(*op, Deadline{}));
    return;
  }
  auto* rec = mem_new<Offload>(op, this);
  if (rec == nullptr) {
    complete(op, -ENOMEM);
    return;
  }
  set_state(op, epoll::kOffloaded);
  ++offloaded_;
  offload_busy_.fetch_add(1, std::memory_order_relaxed);
  int r = helpers_->submit(rec);
  if (r < 0) {
    offload_busy_.fetch_sub(1, std::memory_order_relaxed);
    --offloaded_;
    mem_delete(rec);
    complete(op, r);
  }
}

void EpollReactor::offload_finished(Offload* rec) noexcept {
  offload_done_.push(rec, std::memory_order_release);
  wake();
  offload_busy_.fetch_sub(1, std::memory_order_release);
}

void EpollReactor::take_offloaded() noexcept {
  if (offloaded_ == 0 || offload_done_.empty()) return;
  auto finished = offload_done_.take();
  while (Offload* rec = finished.pop_front()) {
    IoOp* op = rec->op;
    long res = rec->res;
    mem_delete(rec);
    --offloaded_;
    complete(op, res);
  }
}

void EpollReactor::hand_back(OpQueue& completed) noexcept {
  while (IoOp* op = done_.pop_front()) {
    op->backend_state = epoll::kIdle;
    inflight_ = inflight_ - 1;
    hand_over(op, completed);
  }
}

int EpollReactor::wait_events(epoll_event* events, int max, int timeout_ms,
                              const Deadline& deadline) noexcept {
  long r;
  // Held across the wait: a move of the epoll fd nudges it awake (nudge_epoll).
  OwnFd::Use ep(epfd_);
  if (timeout_ms > 0 && have_pwait2_) {
    // epoll_pwait2 takes nanoseconds: a sleep until the next timer ends on time, not up to a
    // millisecond late.
    auto ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.at() - Clock::now()).count();
    if (ns < 0) ns = 0;
    timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
    r = sys::call(SYS_epoll_pwait2, ep.fd(), events, max, &ts, nullptr, 0);
    if (r != -ENOSYS) return r < 0 ? 0 : static_cast<int>(r);
    have_pwait2_ = false;
  }
  r = sys::call(SYS_epoll_pwait, ep.fd(), events, max, timeout_ms, nullptr, 0);
  return r < 0 ? 0 : static_cast<int>(r);  // EINTR: a signal; the caller polls again
}

void EpollReactor::poll(bool block, const Deadline& deadline, OpQueue& completed) {
  try_pending();
  take_offloaded();
  int timeout_ms = -1;
  if (!block || !done_.empty()) {
    timeout_ms = 0;
  } else if (deadline.is_set()) {
    Clock::time_point now = Clock::now();
    // Compared before subtracting: at() may be time_point::min(), and min - now overflows.
    if (deadline.at() <= now) {
      timeout_ms = 0;
    } else {
      auto left = deadline.at() - now;
      // Rounded up, for the fall-back without epoll_pwait2: never wake before the timer.
      auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
      timeout_ms = ms > 0x7fffffff ? 0x7fffffff : static_cast<int>(ms);
    }
  }
  // Nothing waits on an fd and nothing may sleep: readiness cannot matter, skip the syscall.
  // (Offloaded results and wakes do not need it: they are read from memory, or are moot.)
  if (timeout_ms != 0 || waiting_ != 0) {
    epoll_event events[kMaxEvents];
    int n = wait_events(events, kMaxEvents, timeout_ms, deadline);
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == kWakeTag) {
        std::uint64_t count;
        OwnFd::Use wake(wake_fd_);
        sys::read(wake.fd(), &count, sizeof count);
        continue;
      }
      on_ready(static_cast<int>(events[i].data.u64), events[i].events);
    }
    take_offloaded();
  }
  hand_back(completed);
}

}  // namespace weft::rt
