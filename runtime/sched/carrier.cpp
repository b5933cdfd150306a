#include "sched/carrier.hpp"

#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <new>
#include <stdexcept>

#include "base/sys.hpp"
#include "blocking/blocking_pool.hpp"
#include "reactor/backend.hpp"
#include "sched/carrier_tasks.hpp"
#include "sched/fls.hpp"
#include "sched/overflow.hpp"
#include "sched/run.hpp"
#include "tls/thread_block.hpp"

namespace weft::rt {

constinit thread_local Carrier* tls_carrier __attribute__((tls_model("initial-exec"))) = nullptr;

namespace {

// g_carrier_off is where tls_carrier sits from the thread pointer, the same in every static TLS
// block; set by the first carrier, read by switches into blocks of fibers.
std::ptrdiff_t g_carrier_off = 0;

// g_measure_waits is measure_waits(): every block then reads the monotonic clock twice.
std::atomic<bool> g_measure_waits{false};

std::int64_t now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

std::int64_t coarse_now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return std::int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// kJoinDone marks FiberControl::join_ once the fiber has finished (no Waiter lives there).
Waiter* const kJoinDone = reinterpret_cast<Waiter*>(alignof(Waiter));

// kFrameLines is how many cache lines of a suspended fiber's stack, from its saved stack pointer
// up, are prefetched before it resumes: the saved registers and the frames its wait returns
// through (about 600 bytes from a socket read in examples/echo_server up to its own frame; 7,
// 10 and 16 lines measured alike at 10,000 connections).
constexpr std::size_t kFrameLines = 12;

// prefetch_line() starts loading the cache line at p for writing. An asm statement on x86-64:
// GCC drops __builtin_prefetch of addresses it derives from a loaded pointer in these
// functions (seen with Debian's GCC 12 at -O3: no instruction was emitted at all).
[[gnu::always_inline]] inline void prefetch_line(const void* p) noexcept {
#if defined(__x86_64__)
  __asm__ volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p, 1);
#endif
}

// prefetch_control() starts loading the hot lines of f's control block.
inline void prefetch_control(const FiberControl* f) noexcept {
  static_assert(FiberControl::kHotBytes == 128);
  prefetch_line(f);
  prefetch_line(reinterpret_cast<const char*>(f) + 64);
}

// prefetch_frames() starts loading the top of f's suspended stack. Past the top of a stack with
// fewer frames a prefetch loads nothing useful, and never faults.
inline void prefetch_frames(const FiberControl* f) noexcept {
  const char* sp = static_cast<const char*>(static_cast<const void*>(f->slot_.ctx));
  for (std::size_t i = 0; i < kFrameLines; ++i) prefetch_line(sp + 64 * i);
}

// kFreshBatch is how many fresh fibers a carrier starts per scheduler pass; the rest stay
// where an idle carrier can take them.
constexpr std::size_t kFreshBatch = 64;

}  // namespace

Carrier::Carrier(Run& sched, unsigned index) : run_(sched), index_(index) {
  OwnerLock::prepare();  // before this carrier's first owner_lock()
  if (tls_carrier != nullptr) {
    throw std::logic_error("weft::run: this thread is already running weft::run");
  }
  reactor_ = make_reactor(sched.config(), sched.blocking_pool());
  faults_.arm(sched.config().fault_rate, sched.config().fault_seed, index);
  install_overflow_handler();
  altstack_ = install_altstack();
  eh_ = thread_eh_state();
  tid_ = static_cast<int>(sys::call(SYS_gettid));
  san::on_carrier_start(sched_slot_.san);
  slot_word_ = carrier_word();  // the thread's own word, until now (a thread that had no carrier)
  tls_carrier = this;
  own_tp_ = tls::current_tp();
}

void Carrier::prepare_tls() noexcept {
  // The same value on every thread: called before the first fiber with a block of its own runs.
  if (g_carrier_off == 0) g_carrier_off = tls::tp_offset(&tls_carrier);
}

Carrier::~Carrier() {
  // A notifier on another thread may still be inside post() for mail this carrier has already
  // taken; its window is a few instructions and at most one eventfd write.
  while (posting_.load(std::memory_order_acquire) != 0) sys::yield_thread();
  if (tls_carrier == this) leave_thread();
}

void Carrier::leave_thread() noexcept {
  tls_carrier = nullptr;
  remove_altstack(std::exchange(altstack_, nullptr));
}

void Carrier::expect_mail() noexcept {
  run_.expect_external();
}

void Carrier::mail_done() noexcept {
  run_.external_done();
}

void Carrier::fiber_entry(Transfer t) {
  san::finish_switch(san::FakeStack{}, static_cast<ContextSlot*>(t.data)->san);
  Carrier* c = tls_carrier;
  // A new fiber has caught nothing: its resumer left the thread's exception state empty.
  c->after_switch(t);
  FiberControl* self = c->running_;
  c->start_fresh(self);
  if (self->tls_ != nullptr) tls::on_start();
  try {
    self->body_->run();
  } catch (...) {
    self->error_ = std::current_exception();
  }
  c->finish(self);
}

void Carrier::start_fresh(FiberControl* f) noexcept {
  // Pairs with detail::cancel_fiber(): it sets cancel_requested_ and then reads started_, so
  // either it sees this fiber started (and asks this carrier to cancel it) or this sees its flag.
  f->started_.store(true, std::memory_order_seq_cst);
  if (f->cancel_requested_.load(std::memory_order_seq_cst) || run_.shutting_down()) {
    f->cancelled_ = true;
  }
  all_lock_.owner_lock();
  all_.push_front(f);
  all_lock_.owner_unlock();
}

void Carrier::after_switch(Transfer t) noexcept {
  static_cast<ContextSlot*>(t.data)->ctx = t.from;
  if (to_free_ != nullptr) {
    // The fiber's own reference, dropped only now that nothing runs on its stack.
    FiberControl* f = std::exchange(to_free_, nullptr);
    if (f->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) run_.destroy(f);
  }
}

void Carrier::install_tp(char* slot_tp) noexcept {
  // A module dlopen()ed since: its initial-exec TLS goes into every block first, as glibc puts
  // it into its own threads' before dlopen returns.
  if (tls::stale()) [[unlikely]]
    tls::after_dlopen();
  char* tp = slot_tp != nullptr ? slot_tp : own_tp_;
  *reinterpret_cast<Carrier**>(tp + g_carrier_off) = this;
  tls::set_tp(tp);
  cur_tp_ = slot_tp;
}

// The switch proper: what every switch does, inlined into switch_to() and switch_carrying_eh().
[[gnu::always_inline]] inline Transfer Carrier::jump_to(ContextSlot* to,
                                                        ContextSlot* from) noexcept {
  direct_ = 0;
  switches_.store(switches_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  san::FakeStack fake;
  san::start_switch(fake, from->san, to->san);
  // Last before the jump: from here on this code runs with the target's TLS. The one who
  // resumes this context installs its thread pointer back.
  if (to->tp != cur_tp_) [[unlikely]]
    install_tp(to->tp);
  Transfer t = jump(to->ctx, from);
  san::finish_switch(fake, static_cast<ContextSlot*>(t.data)->san);
  return t;
}

// The exception state: a context leaves the thread's empty behind it and finds it empty when it
// resumes, so only a context that has caught something, or is unwinding, saves it, in this frame
// (which stays put while the context is suspended), and puts it back once resumed. Out of line:
// kept in registers across the jump, it cost the common case two more saved registers.
[[gnu::noinline]] Transfer Carrier::switch_carrying_eh(ContextSlot* to,
                                                       ContextSlot* from) noexcept {
  EhState mine = *eh_;
  *eh_ = EhState{};
  Transfer t = jump_to(to, from);
  *eh_ = mine;
  return t;
}

// Inlined into its two callers (both in this file): called out of line, as GCC chose once the
// thread-pointer check made it bigger, a yield ping-pong cost 30 ns a switch instead of 21
// (bench/switch_bench, CPU time; docs/design.md, "Performance choices").
[[gnu::always_inline]] inline Transfer Carrier::switch_to(ContextSlot* to,
                                                          ContextSlot* from) noexcept {
  const EhState& now = *eh_;
  if (now.caught != nullptr || now.uncaught != 0) [[unlikely]]
    return switch_carrying_eh(to, from);
  return jump_to(to, from);
}

void Carrier::resume(ContextSlot* from, FiberControl* next) noexcept {
  running_.store_release(next);  // the watchdog reads the fiber through it
  next->state_ = FiberState::kRunning;
  after_switch(switch_to(&next->slot_, from));
}

void Carrier::prefetch_ahead(const FiberControl* self) noexcept {
  // A pipeline two deep: the fiber after next had its control block prefetched one switch ago
  // (or when its completion was handed on), so its saved stack pointer can be read without a
  // miss and its frames fetched now; the one after it gets its control block, first, as the
  // next switch needs it first. With thousands of
  // fibers in rotation each one's lines have left the caches since it last ran, and these misses
  // were most of a switch's cost (docs/design.md, "Performance choices"). A yield ping-pong
  // of two fibers finds itself at the head and prefetches nothing.
  const FiberControl* n1 = run_queue_.front();
  if (n1 == nullptr || n1 == self) return;
  const FiberControl* n2 = FiberQueue::next(n1);
  if (n2 != nullptr && n2 != self) prefetch_control(n2);
  prefetch_frames(n1);
}

void Carrier::switch_away(FiberControl* self) noexcept {
  if (!StackPool::canary_intact(self->stack_)) overflow_abort(self);
  FiberControl* next = nullptr;
  if (handoffs_ < kTick) next = run_queue_.pop_front();
  if (next != nullptr) {
    prefetch_ahead(self);
    ++handoffs_;
    resume(&self->slot_, next);
  } else {
    running_ = nullptr;
    after_switch(switch_to(&sched_slot_, &self->slot_));
  }
}

void Carrier::block(WaitKind kind, void* obj) noexcept {
  FiberControl* self = running_;
  self->state_ = FiberState::kBlocked;
  self->wait_kind_ = kind;
  self->wait_obj_ = obj;
  self->wait_since_ = coarse_now_ns();
  const bool timed = g_measure_waits.load(std::memory_order_relaxed);
  const std::int64_t start = timed ? now_ns() : 0;
  if (self->holds_carrier_ != 0) [[unlikely]] {
    wait_in_place(self);
  } else {
    switch_away(self);
  }
  if (timed) [[unlikely]]
    self->waited_ns_ += now_ns() - start;
  self->wait_kind_ = WaitKind::kNone;
  self->wait_obj_ = nullptr;
}

void Carrier::wait_in_place(FiberControl* self) noexcept {
  // The scheduler's loop, on the fiber's own stack, for one fiber: what readies another fiber
  // queues it, and it runs once this one waits as usual again.
  OpQueue completed;
  while (self->state_ == FiberState::kBlocked) {
    drain_mail();
    drain_tasks();
    drain_interrupts();
    take_fresh();  // queued here, so that their mailbox does not keep the carrier from sleeping
    if (self->state_ != FiberState::kBlocked) break;
    Deadline until = timers_.empty() ? Deadline() : Deadline(timers_.next_deadline());
    if (!sleep_and_poll(true, until, completed)) continue;
    ready_completed(completed);
    drain_mail();
    expire_timers();
  }
  // ready() queued it behind the others; it goes on running instead.
  if (self->state_ == FiberState::kReady) run_queue_.remove(self);
  self->state_ = FiberState::kRunning;
}

void Carrier::ready(FiberControl* f) noexcept {
  if (f->state_ != FiberState::kBlocked) return;
  f->state_ = FiberState::kReady;
  run_queue_.push_back(f);
}

void Carrier::ready_completed(OpQueue& completed) noexcept {
  // Every waiter's control block is requested before the first is touched, so that their misses
  // overlap instead of following one another (ready() reads each one's state).
  for (const IoOp* op = completed.front(); op != nullptr; op = OpQueue::next(op)) {
    if (op->waiter != nullptr) prefetch_control(op->waiter);
  }
  while (IoOp* op = completed.pop_front()) {
    if (op->waiter != nullptr) ready(op->waiter);
  }
}

void Carrier::yield() noexcept {
  FiberControl* self = running_;
  if (self->holds_carrier_ != 0) return;  // the carrier's other fibers must not run now
  if (handoffs_ < kTick) [[likely]] {
    // Alone, a yield is free, but it still counts toward the tick: a fiber spinning on yield
    // must not keep the scheduler from submitting I/O, reaping completions and expiring timers.
    ++handoffs_;
    FiberControl* next = run_queue_.pop_front();
    if (next == nullptr) return;
    // switch_away()'s hand-off, with the queue taken first: one pop and one push, no re-check.
    self->state_ = FiberState::kReady;
    run_queue_.push_back(self);
    if (!StackPool::canary_intact(self->stack_)) overflow_abort(self);
    resume(&self->slot_, next);
    return;
  }
  self->state_ = FiberState::kReady;
  run_queue_.push_back(self);
  switch_away(self);
}

void Carrier::cancel(FiberControl* f) noexcept {
  if (f->state_ == FiberState::kDone || f->cancelled_) return;
  f->cancelled_ = true;
  if (f->state_ != FiberState::kBlocked) return;
  switch (f->wait_kind_) {
    case WaitKind::kIo:
      reactor_->cancel(static_cast<IoOp*>(static_cast<void*>(f->wait_obj_)));
      break;
    case WaitKind::kTimer:
      timers_.remove(static_cast<TimerNode*>(static_cast<void*>(f->wait_obj_)));
      ready(f);
      break;
    case WaitKind::kPark:  // park() sees cancelled_ and withdraws itself
      ready(f);
      break;
    case WaitKind::kJoin:   // join waits for a fiber that is itself cancelled at shutdown
    case WaitKind::kClose:  // close waits only for operations it already cancelled
    case WaitKind::kNone:
      break;
  }
}

void Carrier::interrupt(FiberControl* f) noexcept {
  if (f->state_ != FiberState::kBlocked || !f->interruptible_) return;
  switch (f->wait_kind_) {
    case WaitKind::kIo:
      f->interrupted_ = true;
      reactor_->cancel(static_cast<IoOp*>(static_cast<void*>(f->wait_obj_)));
      break;
    case WaitKind::kTimer:  // the sleep sees interrupted_ and removes its own timer
    case WaitKind::kPark:   // park() sees interrupted_ and withdraws itself
      f->interrupted_ = true;
      ready(f);
      break;
    case WaitKind::kJoin:
    case WaitKind::kClose:
    case WaitKind::kNone:
      break;
  }
}

void Carrier::finish(FiberControl* self) noexcept {
  // Detached: nobody will take the result, so destroy it (and an unjoined exception) here, on
  // the fiber itself, where its destructors may still make weft calls.
  if (self->refs_.load(std::memory_order_acquire) == 1) Run::destroy_body(self);
  // Fiber-local values, and the fiber's own glibc thread's storage, are destroyed on the fiber
  // too, while its stack is still there.
  fiber_exit_storage(self);
  // Then the fiber's own glibc thread gives back its malloc'ed parts, here on the fiber: the next
  // context may be the scheduler, which must never wait for the program's malloc. No code of the
  // program's runs on this fiber any more.
  if (self->tls_ != nullptr) tls::release(self->tls_);
  if (!StackPool::canary_intact(self->stack_)) overflow_abort(self);
  all_lock_.owner_lock();
  all_.remove(self);
  all_lock_.owner_unlock();
  self->state_ = FiberState::kDone;
  load_own_.store(load_own_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  // done_ first: a joiner that reads it set needs no wake-up; one that registered in join_
  // before the exchange below gets one.
  self->done_.store(true, std::memory_order_release);
  Waiter* joiner = self->join_.exchange(kJoinDone, std::memory_order_acq_rel);
  if (joiner != nullptr) notify(*joiner);
  run_.fiber_finished();
  // Never resumed: whoever runs next drops the fiber's own reference once the switch is done,
  // so a joiner on another carrier cannot free this stack while it is still in use.
  to_free_ = self;
  san::on_finish(self->slot_.san);
  switch_away(self);
  std::abort();
}

void Carrier::wake() noexcept {
  if (sleep_.load(std::memory_order_seq_cst) == kAwake) return;
  std::uint8_t was = sleep_.exchange(kAwake, std::memory_order_seq_cst);
  if (was == kAwake) return;
  if (was == kHopeless) run_.hopeless_leave();
  reactor_->wake();
}

void Carrier::post(Waiter* w) noexcept {
  // Counted before the mail goes in: once it is in, this carrier may finish and be destroyed.
  posting_.fetch_add(1, std::memory_order_seq_cst);
  mail_.push(w);
  wake();
  posting_.fetch_sub(1, std::memory_order_release);
}

void Carrier::post_task(Task t) {
  {
    std::lock_guard<Lock> hold(task_lock_);
    tasks_.push_back(t);
    tasks_pending_.store(true, std::memory_order_seq_cst);
  }
  wake();
}

void Carrier::post_cancel(FiberControl* f) {
  post_task(Task{[](Carrier& c, void* arg) noexcept {
                   auto* fiber = static_cast<FiberControl*>(arg);
                   c.cancel(fiber);
                   if (fiber->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
                     c.run_.destroy(fiber);
                   }
                 },
                 f});
}

void Carrier::post_interrupt(FiberControl* f) noexcept {
  if (f->interrupt_requested_.exchange(true, std::memory_order_seq_cst)) return;  // one is queued
  f->refs_.fetch_add(1, std::memory_order_relaxed);
  posting_.fetch_add(1, std::memory_order_seq_cst);
  interrupts_.push(f);
  wake();
  posting_.fetch_sub(1, std::memory_order_release);
}

void Carrier::push_fresh(FiberControl* f) noexcept {
  {
    std::lock_guard<Lock> hold(fresh_lock_);
    fresh_.push_back(f);
    fresh_count_.store(fresh_count_.load(std::memory_order_relaxed) + 1, std::memory_order_seq_cst);
  }
  wake();
}

std::size_t Carrier::steal_fresh(Carrier& thief) noexcept {
  // A carrier in its scheduler is about to take its fresh fibers itself (kFreshBatch per pass);
  // only one busy running fibers, or holding more than a pass takes, has some to spare.
  // And only what evens the loads out: placement may have put a fresh fiber here because the
  // thief held more (a spinner made by a fiber that sleeps on the thief for a moment), and taking
  // it back would undo that.
  std::size_t waiting = fresh_count();
  if (waiting == 0 || (!in_fiber_ && waiting <= kFreshBatch)) return 0;
  std::size_t mine = load(), theirs = thief.load();
  if (mine < theirs + 2) return 0;
  if (!fresh_lock_.try_lock()) return 0;
  std::size_t left = fresh_count_.load(std::memory_order_relaxed);
  std::size_t n = std::min((left + 1) / 2, (mine - theirs) / 2);
  for (std::size_t i = 0; i < n; ++i) {
    FiberControl* f = fresh_.pop_front();
    f->carrier_ = &thief;
    thief.run_queue_.push_back(f);
  }
  fresh_count_.store(left - n, std::memory_order_seq_cst);
  fresh_lock_.unlock();
  load_.fetch_sub(n, std::memory_order_relaxed);
  thief.load_.fetch_add(n, std::memory_order_relaxed);
  return n;
}

void Carrier::hand_off_fresh(Carrier& to) noexcept {
  FiberQueue moved;
  std::size_t n;
  {
    std::lock_guard<Lock> hold(fresh_lock_);
    moved = fresh_.take();
    n = fresh_count_.exchange(0, std::memory_order_seq_cst);
  }
  load_.fetch_sub(n, std::memory_order_relaxed);
  to.load_.fetch_add(n, std::memory_order_relaxed);
  while (FiberControl* f = moved.pop_front()) {
    f->carrier_ = &to;
    to.push_fresh(f);
  }
}

void Carrier::take_fresh() noexcept {
  if (fresh_count() == 0) return;
  std::lock_guard<Lock> hold(fresh_lock_);
  std::size_t left = fresh_count_.load(std::memory_order_relaxed);
  std::size_t n = std::min(left, kFreshBatch);
  for (std::size_t i = 0; i < n; ++i) run_queue_.push_back(fresh_.pop_front());
  fresh_count_.store(left - n, std::memory_order_seq_cst);
}

void Carrier::drain_mail() noexcept {
  if (mail_.empty()) return;
  // Oldest first, so fibers wake in the order they were notified. The frames stay: their fibers
  // are this carrier's, and none runs before this loop is done.
  auto mail = mail_.take_fifo();
  while (Waiter* w = mail.pop_front()) {
    w->notified = true;
    ready(w->fiber);
  }
}

void Carrier::drain_tasks() noexcept {
  if (!tasks_pending_.load(std::memory_order_relaxed)) return;
  MemVector<Task> todo;
  {
    std::lock_guard<Lock> hold(task_lock_);
    todo.swap(tasks_);
    tasks_pending_.store(false, std::memory_order_relaxed);
  }
  for (const Task& t : todo) t.fn(*this, t.arg);
}

void Carrier::drain_interrupts() noexcept {
  if (interrupts_.empty()) return;
  auto requests = interrupts_.take();
  while (FiberControl* f = requests.pop_front()) {
    // Cleared first: a request that comes in from now on queues the fiber again.
    f->interrupt_requested_.store(false, std::memory_order_seq_cst);
    interrupt(f);
    if (f->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) run_.destroy(f);
  }
}

bool Carrier::has_work_posted() const noexcept {
  return !mail_.empty(std::memory_order_seq_cst) || !interrupts_.empty(std::memory_order_seq_cst) ||
         tasks_pending_.load(std::memory_order_seq_cst) ||
         fresh_count_.load(std::memory_order_seq_cst) != 0;
}

void Carrier::shutdown_local() noexcept {
  shut_down_ = true;
  std::lock_guard<OwnerLock> hold(all_lock_);
  for (FiberControl* f = all_.front(); f != nullptr; f = FiberSet::next(f)) cancel(f);
}

void Carrier::expire_timers() noexcept {
  if (timers_.empty()) return;
  Clock::time_point now = Clock::now();
  while (TimerNode* n = timers_.pop_expired(now)) {
    if (n->op != nullptr) {
      reactor_->cancel(n->op);
    } else {
      ready(n->fiber);
    }
  }
}

void Carrier::end_sleep() noexcept {
  // A waker may have cleared the announcement (and the hopeless count) already.
  if (sleep_.exchange(kAwake, std::memory_order_seq_cst) == kHopeless) run_.hopeless_leave();
}

bool Carrier::sleep_and_poll(bool block, const Deadline& until, OpQueue& completed) {
  if (!block) {
    reactor_->poll(false, until, completed);
    return true;
  }
  bool hopeless = !until.is_set() && reactor_->inflight() == 0;
  // Announce the sleep, then look at the mailboxes once more: a poster either sees the
  // announcement (and wakes the ring) or its mail is seen here. Both sides are seq_cst.
  sleep_.store(hopeless ? kHopeless : kSleeping, std::memory_order_seq_cst);
  bool all_hopeless = hopeless && run_.hopeless_enter();
  if (has_work_posted() || run_.over() || (run_.shutting_down() && !shut_down_)) {
    end_sleep();
    return false;
  }
  if (all_hopeless && run_.confirm_deadlock()) run_.deadlock();
  reactor_->poll(true, until, completed);
  end_sleep();
  return true;
}

void Carrier::loop(FiberControl* main) {
  main_ = main;
  OpQueue completed;
  for (;;) {
    drain_mail();
    drain_tasks();
    drain_interrupts();
    if (main_ != nullptr && main_->state_ == FiberState::kDone && !run_.shutting_down()) {
      run_.main_finished();
    }
    if (run_.shutting_down() && !shut_down_) shutdown_local();
    if (run_.over()) break;
    take_fresh();
    if (run_queue_.empty() && run_.carriers() > 1) run_.steal_for(*this);
    Deadline until = timers_.empty() ? Deadline() : Deadline(timers_.next_deadline());
    if (!sleep_and_poll(run_queue_.empty(), until, completed)) continue;
    ready_completed(completed);
    drain_mail();
    expire_timers();
    handoffs_ = 0;
    if (FiberControl* next = run_queue_.pop_front()) {
      prefetch_ahead(nullptr);
      in_fiber_ = true;
      resume(&sched_slot_, next);
      in_fiber_ = false;
    }
  }
}

void measure_waits(bool on) noexcept {
  g_measure_waits.store(on, std::memory_order_relaxed);
}

void Carrier::add_counters(RuntimeStats& s) const noexcept {
  s.fibers_created += created_.load(std::memory_order_relaxed);
  s.switches += switches_.load(std::memory_order_relaxed);
}

void Carrier::add_stats(RuntimeStats& s) const noexcept {
  s.fibers_created += created_.load(std::memory_order_relaxed);
  s.switches += switches_.load(std::memory_order_relaxed);
  s.io_submitted += reactor_->submitted();
  s.io_inflight += reactor_->inflight();
  s.timers_pending += timers_.size();
  faults_.add_stats(s);
}

}  // namespace weft::rt
