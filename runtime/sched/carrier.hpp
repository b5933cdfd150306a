// carrier: one OS thread that runs fibers, and the scheduling loop it runs them with.
//
// A run (weft::run, see sched/run.hpp) has one or more carriers. Each carrier owns its run
// queue, reactor (an io_uring ring or an epoll set, see reactor/backend.hpp) and timer heap; the
// hot paths (switch, block, ready, I/O submission) touch only those and take no lock. A fiber that
// has started stays on its carrier for its whole life: compilers cache the address of thread-local
// variables (errno among them) across calls, so a fiber that resumed on another thread would read
// and write the old thread's copy. Fibers that have not started yet sit in the carrier's fresh
// queue, under a lock, where an idle carrier may take them (placement and stealing are in
// sched/run.cpp).
//
// Switching: a fiber that blocks hands the CPU straight to the next ready fiber (one context
// switch, no trip through a scheduler context), except every kTick hand-offs and whenever the
// run queue is empty, when it switches to the scheduler context on the thread's own stack. The
// scheduler takes mail from other threads, submits queued I/O, collects completions (waiting
// for them only when nothing is ready, and only until the next timer), expires timers, and
// resumes the next ready fiber. So I/O is submitted in batches, and a set of fibers that keep
// yielding cannot starve the others' completions for more than kTick switches.
//
// Other threads reach a carrier only through its mailboxes: notify() of a parked fiber (a
// lock-free stack of Waiters), tasks (work only the carrier's own thread may do, such as
// cancelling a fiber's wait or the ops on an fd being closed; post_task), interrupts (a
// lock-free stack of fibers, fed from signal handlers) and fresh fibers.
// Each poster wakes the carrier's ring through an eventfd if, and only if, the carrier said it may
// be sleeping (sleep_); the carrier re-checks its mailboxes after saying so, so no wake-up is lost.
//
// Shutdown: when the main fiber finishes, every carrier cancels all of its unfinished fibers
// (their blocking calls fail with -ECANCELED) and runs until every fiber of the run finished.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include <weft/config.hpp>
#include <weft/fiber.hpp>
#include <weft/runtime.hpp>

#include "base/atomic_stack.hpp"
#include "base/list.hpp"
#include "base/lock.hpp"
#include "base/memory.hpp"
#include "base/owner_lock.hpp"
#include "context/eh_state.hpp"
#include "fiber/fiber_control.hpp"
#include "reactor/faults.hpp"
#include "reactor/reactor.hpp"
#include "sched/park.hpp"
#include "stack/stack_cache.hpp"
#include "timer/timer_heap.hpp"

namespace weft::rt {

class Carrier;
class Run;

// tls_carrier is the calling thread's carrier. initial-exec: every yield and I/O call reads it,
// and the default model for a shared library costs a __tls_get_addr call per read.
extern constinit thread_local Carrier* tls_carrier __attribute__((tls_model("initial-exec")));

// Thread pointers: a fiber with its own glibc thread (Tls::kPerFiber, tls/thread_block.hpp) runs
// with its thread pointer (%fs) installed; every other context runs with the carrier thread's
// own. switch_to() installs the target's, when it differs, right before the jump, and first
// copies this carrier into the target block's tls_carrier: the runtime's one per-thread variable
// stays right whichever block %fs points at, also for a signal handler that runs between the
// install and the jump. Everything else the runtime or the shim keeps per OS thread hangs off the
// Carrier (carrier_word()), not off TLS.

// Carrier runs fibers on the OS thread that created it.
class Carrier {
 public:
  // kTick is how many direct fiber-to-fiber hand-offs may happen before the scheduler polls.
  static constexpr unsigned kTick = 64;

  // Carrier() makes the calling thread carrier number index of sched; throws if the thread
  // already is a carrier or if the reactor cannot be set up.
  Carrier(Run& sched, unsigned index);
  // ~Carrier() releases the ring; it may run on another thread after leave_thread().
  ~Carrier();
  // leave_thread() gives up the calling thread's carrier role (its signal stack included).
  void leave_thread() noexcept;
  Carrier(const Carrier&) = delete;
  Carrier& operator=(const Carrier&) = delete;

  // current() returns the calling thread's carrier, or nullptr.
  static Carrier* current() noexcept { return tls_carrier; }
  // running() returns the fiber running now, or nullptr in the scheduler.
  FiberControl* running() const noexcept { return running_; }
  // tid() is the carrier thread's kernel thread id.
  int tid() const noexcept { return tid_; }
  // run() is the run this carrier belongs to.
  Run& run() noexcept { return run_; }
  // index() is the carrier's number within its run.
  unsigned index() const noexcept { return index_; }

  // loop() runs the scheduler until every fiber of the run has finished (main, when given, is
  // the run's main fiber, whose end starts the shutdown).
  void loop(FiberControl* main);

  // block() parks the running fiber, recording what it waits for; returns once it is readied.
  void block(WaitKind kind, void* obj) noexcept;
  // ready() queues a blocked fiber of this carrier to run; one that is not blocked is left alone.
  void ready(FiberControl* f) noexcept;
  // yield() queues the running fiber behind every ready fiber and runs them first.
  void yield() noexcept;
  // note_direct() counts a call of the running fiber that completed without a switch (an I/O
  // try that found the fd ready, io/try_first.hpp); the kTick-th in a row with no switch between
  // them goes to the scheduler, so it still submits, reaps and expires timers, and the other
  // ready fibers run, however long the calls keep succeeding at once. Calls between switches
  // are not hand-offs: counting them toward handoffs_ halved the echo server's batches.
  void note_direct() noexcept {
    if (++direct_ < kTick) return;
    handoffs_ = kTick;
    yield();
  }
  // cancel() marks f (a fiber of this carrier) cancelled and interrupts what it blocks on.
  void cancel(FiberControl* f) noexcept;
  // finish() ends the running fiber after its body returned; never returns.
  [[noreturn]] void finish(FiberControl* self) noexcept;

  // describe_wait() records, for fiber dumps and the deadlock check, what the running fiber is
  // about to block in: what names the wait ("read", "mutex", ...), fd is the fd of an I/O wait
  // or -1, outside tells whether a thread outside the run could end a park. It stays until the
  // next wait describes itself; block() records the kind of wait and when it began.
  void describe_wait(const char* what, int fd, bool outside) noexcept {
    running_->wait_what_ = what;
    running_->wait_fd_ = fd;
    running_->wait_outside_ = outside;
  }

  // expect_mail() and mail_done() bracket a wait for a notification from a thread that is no
  // carrier (the blocking pool), so idle carriers do not take the run for deadlocked.
  void expect_mail() noexcept;
  // mail_done() ends what expect_mail() began.
  void mail_done() noexcept;
  // post() hands a notification for one of this carrier's fibers over from another thread.
  void post(Waiter* w) noexcept;
  // Task is work another thread hands this carrier to do on its own thread, the only one that
  // may touch its fibers' waits and its reactor: fn(carrier, arg).
  struct Task {
    // fn does the work; it runs in the carrier's loop, not on a fiber.
    void (*fn)(Carrier&, void*) noexcept;
    // arg is fn's argument.
    void* arg;
  };
  // post_task() queues t for this carrier and wakes it.
  void post_task(Task t);
  // post_cancel() asks this carrier to cancel its fiber f (the caller holds a reference to f,
  // which the carrier drops once done).
  void post_cancel(FiberControl* f);
  // post_interrupt() asks this carrier to interrupt its fiber f (interrupt()); f must stay alive
  // during the call, after which the carrier holds its own reference until done. Lock-free and
  // allocation-free: safe in a signal handler, on any thread.
  void post_interrupt(FiberControl* f) noexcept;
  // interrupt() ends f's current wait early if f (a fiber of this carrier) is blocked inside an
  // rt::Interruptible scope in I/O, a sleep or a park; otherwise it does nothing.
  void interrupt(FiberControl* f) noexcept;
  // push_fresh() queues a fiber that has not started, to run here unless an idle carrier takes it.
  void push_fresh(FiberControl* f) noexcept;
  // push_local() queues a new fiber on the calling thread's own carrier, where nobody can take it.
  void push_local(FiberControl* f) noexcept { run_queue_.push_back(f); }
  // hand_off_fresh() moves every unstarted fiber of this carrier to to.
  void hand_off_fresh(Carrier& to) noexcept;
  // steal_fresh() moves up to half of this carrier's fresh fibers to thief, and no more than
  // evens their loads out; returns how many.
  std::size_t steal_fresh(Carrier& thief) noexcept;
  // fresh_count() is how many unstarted fibers wait in the fresh queue.
  std::size_t fresh_count() const noexcept { return fresh_count_.load(std::memory_order_relaxed); }
  // load() is how many unfinished fibers this carrier holds, started or not (for placement); read
  // from another thread it may be off by fibers placed or stolen meanwhile.
  std::size_t load() const noexcept {
    auto n = static_cast<std::int64_t>(load_.load(std::memory_order_relaxed) +
                                       load_own_.load(std::memory_order_relaxed));
    return n > 0 ? static_cast<std::size_t>(n) : 0;
  }
  // wake() interrupts the carrier's sleep, if it sleeps, so it looks at its mailboxes.
  void wake() noexcept;
  // progress() counts scheduling events; the watchdog sees a stall when it stops moving.
  std::uint64_t progress() const noexcept { return switches_.load(std::memory_order_relaxed); }
  // sleeping() tells whether the carrier is idle in its reactor (then it cannot be stalled).
  bool sleeping() const noexcept { return sleep_.load(std::memory_order_relaxed) != kAwake; }

  // reactor() is the carrier's I/O backend.
  Reactor& reactor() noexcept { return *reactor_; }
  // faults() is the carrier's fault injection (Config::fault_rate).
  Faults& faults() noexcept { return faults_; }
  // timers() is the carrier's timer heap.
  TimerHeap& timers() noexcept { return timers_; }
  // after_fork_child() rebuilds this carrier in a forked child around self, its running fiber,
  // the only one it has there: a new ring and eventfd, and nothing queued
  // (runtime/process/fork.hpp).
  void after_fork_child(FiberControl* self);
  // prepare_tls() readies switches into fibers' own glibc threads; called before one is made.
  static void prepare_tls() noexcept;
  // stack_cache() is the carrier's own warm stacks of the default size (stack/stack_cache.hpp).
  StackCache& stack_cache() noexcept { return stack_cache_; }
  // slot_word() is one word the layer above keeps per carrier (rt::carrier_word()).
  std::uint64_t& slot_word() noexcept { return slot_word_; }
  // stats_slot() is one pointer the layer above keeps per carrier (rt::carrier_stats_slot()).
  void*& stats_slot() noexcept { return stats_slot_; }
  // add_counters() adds the carrier's fibers created and switches to s, from any thread.
  void add_counters(RuntimeStats& s) const noexcept;
  // add_stats() adds the carrier's counters to s.
  void add_stats(RuntimeStats& s) const noexcept;
  // for_each_fiber() calls fn on every unfinished fiber of the carrier, under its list lock.
  template <class Fn>
  void for_each_fiber(Fn&& fn) const {
    std::lock_guard<OwnerLock> hold(all_lock_);
    for (FiberControl* f = all_.front(); f != nullptr; f = FiberSet::next(f)) fn(*f);
  }

 private:
  friend class Run;
  friend class Watchdog;
  friend struct DebugLayout;  // sched/debug_info.cpp: the debugger's offsets of these fields
  static constexpr std::uint8_t kAwake = 0;
  static constexpr std::uint8_t kSleeping = 1;
  static constexpr std::uint8_t kHopeless = 2;  // sleeping with nothing that could wake it

  // FiberSet is the carrier's unfinished fibers, linked both ways (a fiber leaves from anywhere).
  using FiberSet = List<FiberControl, &FiberControl::all_next_, &FiberControl::all_prev_>;

  Transfer switch_to(ContextSlot* to, ContextSlot* from) noexcept;
  Transfer switch_carrying_eh(ContextSlot* to, ContextSlot* from) noexcept;
  Transfer jump_to(ContextSlot* to, ContextSlot* from) noexcept;
  void install_tp(char* slot_tp) noexcept;
  void switch_away(FiberControl* self) noexcept;
  void wait_in_place(FiberControl* self) noexcept;
  void resume(ContextSlot* from, FiberControl* next) noexcept;
  void prefetch_ahead(const FiberControl* self) noexcept;
  void ready_completed(OpQueue& completed) noexcept;
  void after_switch(Transfer t) noexcept;
  void start_fresh(FiberControl* f) noexcept;
  void shutdown_local() noexcept;
  void expire_timers() noexcept;
  void drain_mail() noexcept;
  void drain_tasks() noexcept;
  void drain_interrupts() noexcept;
  void take_fresh() noexcept;
  bool has_work_posted() const noexcept;
  bool sleep_and_poll(bool block, const Deadline& until, OpQueue& completed);
  void end_sleep() noexcept;
  static void fiber_entry(Transfer t);

  Run& run_;
  unsigned index_;
  std::unique_ptr<Reactor> reactor_;
  Faults faults_;
  TimerHeap timers_;
  FiberQueue run_queue_;
  ContextSlot sched_slot_;
  Relaxed<FiberControl*> running_ = nullptr;  // read by the watchdog from its own thread
  int tid_ = 0;
  FiberControl* main_ = nullptr;
  FiberControl* to_free_ = nullptr;  // finished fiber whose stack the next context frees
  unsigned handoffs_ = 0;
  unsigned direct_ = 0;     // calls completed without a switch since the last one (note_direct)
  bool shut_down_ = false;  // this carrier has cancelled its fibers for the run's shutdown
  void* altstack_ = nullptr;
  EhState* eh_ = nullptr;        // this thread's exception state, carried across switches
  char* own_tp_ = nullptr;       // the carrier thread's own thread pointer
  char* cur_tp_ = nullptr;       // the ContextSlot::tp installed now (nullptr: own_tp_)
  std::uint64_t slot_word_ = 0;  // the layer above's per-carrier word (carrier_word())
  void* stats_slot_ = nullptr;   // the layer above's per-carrier pointer (carrier_stats_slot())

  // Unfinished fibers, for shutdown, deadlock reports and fiber dumps (which read it from other
  // threads, hence the lock; this carrier takes it as its owner once per start and once per
  // finish, at the price of a compiler barrier: base/owner_lock.hpp).
  mutable OwnerLock all_lock_;
  FiberSet all_;

  std::atomic<std::uint64_t> switches_{0};
  std::atomic<std::uint64_t> created_{0};
  // live_ is the fibers spawned here less those freed here (Run::stats() sums every carrier's);
  // only this carrier's thread writes it.
  std::atomic<std::int64_t> live_{0};
  // Fiber ids this carrier hands out without a locked instruction: [next_id_, ids_end_).
  std::uint64_t next_id_ = 0;
  std::uint64_t ids_end_ = 0;
  // The load is two counters, summed (wrapping) by load(): load_ is changed by other threads
  // (fibers placed here by another carrier's spawn, steals, hand-offs), load_own_ only by this
  // carrier's thread (its own spawns placed here, every finish), without a locked instruction.
  std::atomic<std::size_t> load_{0};
  std::atomic<std::size_t> load_own_{0};
  std::atomic<bool> stalled_{false};  // set by the watchdog while the carrier is stuck
  Relaxed<bool> in_fiber_ = false;    // running fibers (not in its scheduler): busy

  std::atomic<std::uint8_t> sleep_{kAwake};
  AtomicStack<Waiter, &Waiter::mail_next> mail_;
  Lock task_lock_;
  MemVector<Task> tasks_;  // weft memory: filled from hooks, emptied by the scheduler
  std::atomic<bool> tasks_pending_{false};
  // Fibers to interrupt (post_interrupt() runs in signal handlers, so this takes no lock).
  AtomicStack<FiberControl, &FiberControl::interrupt_next_> interrupts_;
  Lock fresh_lock_;
  FiberQueue fresh_;                         // guarded by fresh_lock_
  std::atomic<std::size_t> fresh_count_{0};  // how many fresh_ holds, written under fresh_lock_
  // posting_ counts post() calls in progress: a poster still wakes the carrier after its mail
  // is in, by when the woken fiber may have finished the run, so the destructor waits for it to
  // reach zero before freeing any of this.
  std::atomic<unsigned> posting_{0};

  // Touched only by this carrier's thread (but for its count, read by stats), on spawn and free.
  StackCache stack_cache_;
};

}  // namespace weft::rt
