// scheduler: a carrier is one OS thread that runs fibers.
//
// Each carrier owns its run queue, reactor (one io_uring ring), timer heap, stack pool and fd
// table; nothing in them is shared with another carrier, so the hot paths take no lock. A
// fiber stays on the carrier that started it for its whole life: compilers cache the address
// of thread-local variables (errno among them) across calls, so a fiber that resumed on another
// thread would read and write the old thread's copy.
//
// Switching: a fiber that blocks hands the CPU straight to the next ready fiber (one context
// switch, no trip through a scheduler context), except every kTick hand-offs and whenever the
// run queue is empty, when it switches to the scheduler context on the thread's own stack. The
// scheduler submits queued I/O, collects completions (waiting for them only when nothing is
// ready, and only until the next timer), expires timers, and resumes the next ready fiber. So
// I/O is submitted in batches, and a set of fibers that keep yielding cannot starve the others'
// completions for more than kTick switches.
//
// Shutdown: when the main fiber finishes, every other unfinished fiber is cancelled (their
// blocking calls fail with -ECANCELED) and the loop runs until all have finished.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include <weft/config.hpp>
#include <weft/fiber.hpp>
#include <weft/runtime.hpp>

#include "eh_state.hpp"
#include "fd_table.hpp"
#include "fiber_control.hpp"
#include "fiber_queue.hpp"
#include "park.hpp"
#include "reactor.hpp"
#include "stack_pool.hpp"
#include "timer_heap.hpp"

namespace weft::rt {

class Carrier;

// tls_carrier is the calling thread's carrier. initial-exec: every yield and I/O call reads it,
// and the default model for a shared library costs a __tls_get_addr call per read.
extern constinit thread_local Carrier* tls_carrier __attribute__((tls_model("initial-exec")));

// Carrier runs fibers on the OS thread that created it.
class Carrier {
 public:
  // kTick is how many direct fiber-to-fiber hand-offs may happen before the scheduler polls.
  static constexpr unsigned kTick = 64;

  // Carrier() makes the calling thread a carrier; throws if it already is one or if the
  // reactor cannot be set up.
  explicit Carrier(const Config& config);
  // ~Carrier() releases the ring, the stacks and the thread's carrier role.
  ~Carrier();
  Carrier(const Carrier&) = delete;
  Carrier& operator=(const Carrier&) = delete;

  // current() returns the calling thread's carrier, or nullptr.
  static Carrier* current() noexcept { return tls_carrier; }
  // running() returns the fiber running now, or nullptr in the scheduler.
  FiberControl* running() const noexcept { return running_; }

  // spawn() creates a fiber and queues it; the caller holds the handle reference.
  FiberControl* spawn(const detail::SpawnRequest& req);
  // run() runs the scheduler until main and every other fiber have finished.
  void run(FiberControl* main);

  // block() parks the running fiber, recording what it waits for; returns once it is readied.
  void block(WaitKind kind, void* obj) noexcept;
  // ready() queues a blocked fiber to run; a fiber that is not blocked is left alone.
  void ready(FiberControl* f) noexcept;
  // yield() queues the running fiber behind every ready fiber and runs them first.
  void yield() noexcept;
  // park_begin() records what the running fiber is about to park on, for diagnostics.
  void park_begin(const Waiter* w) noexcept { running_->wait_obj_ = const_cast<Waiter*>(w); }
  // park_end() clears what park_begin() recorded.
  void park_end() noexcept {}
  // expect_mail() and mail_done() bracket a wait for a notification from a thread that is no
  // carrier (the blocking pool), so an idle carrier does not take it for a deadlock.
  void expect_mail() noexcept { external_.fetch_add(1, std::memory_order_relaxed); }
  // mail_done() ends what expect_mail() began.
  void mail_done() noexcept { external_.fetch_sub(1, std::memory_order_release); }
  // post() hands a notification for one of this carrier's fibers over from another thread.
  void post(Waiter* w) noexcept;
  // cancel() marks f cancelled and interrupts what it blocks on.
  void cancel(FiberControl* f) noexcept;
  // release() drops one reference to f, destroying it when it was the last.
  void release(FiberControl* f) noexcept;
  // finish() ends the running fiber after its body returned; never returns.
  [[noreturn]] void finish(FiberControl* self) noexcept;

  // reactor() is the carrier's I/O backend.
  Reactor& reactor() noexcept { return *reactor_; }
  // timers() is the carrier's timer heap.
  TimerHeap& timers() noexcept { return timers_; }
  // fds() is the carrier's fd table.
  FdTable& fds() noexcept { return fds_; }
  // stats() snapshots the carrier's counters.
  RuntimeStats stats() const noexcept;

 private:
  Transfer switch_to(ContextSlot* to, ContextSlot* from) noexcept;
  void switch_away(FiberControl* self) noexcept;
  void resume(ContextSlot* from, FiberControl* next) noexcept;
  void after_switch(Transfer t) noexcept;
  void destroy(FiberControl* f) noexcept;
  void destroy_body(FiberControl* f) noexcept;
  void begin_shutdown() noexcept;
  void expire_timers() noexcept;
  bool drain_mail() noexcept;
  [[noreturn]] void deadlock() noexcept;
  static void fiber_entry(Transfer t);

  Config config_;
  StackPool stacks_;
  std::unique_ptr<Reactor> reactor_;
  TimerHeap timers_;
  FdTable fds_;
  FiberQueue run_queue_;
  ContextSlot sched_slot_;
  FiberControl* running_ = nullptr;
  FiberControl* main_ = nullptr;
  FiberControl* to_free_ = nullptr;   // finished fiber whose stack the next context frees
  FiberControl* all_head_ = nullptr;  // unfinished fibers, for shutdown and diagnostics
  unsigned handoffs_ = 0;
  bool shutting_down_ = false;
  std::size_t unfinished_ = 0;
  std::size_t live_ = 0;
  std::uint64_t created_ = 0;
  std::uint64_t switches_ = 0;
  void* altstack_ = nullptr;
  EhState* eh_ = nullptr;  // this thread's exception state, carried across switches
  // Notifications from other threads: a lock-free stack of Waiters (linked by mail_next), taken
  // whole by drain_mail(). sleeping_ is set while the carrier may sleep in the reactor, so a
  // poster knows it must wake it.
  std::atomic<Waiter*> mail_{nullptr};
  std::atomic<bool> sleeping_{false};
  std::atomic<std::size_t> external_{0};
  // posting_ counts post() calls in progress: a poster still reads sleeping_ and wakes the
  // reactor after its mail is in, by when the woken fiber may have finished the run, so the
  // destructor waits for it to reach zero before freeing any of this.
  std::atomic<unsigned> posting_{0};
};

}  // namespace weft::rt
