// run: one weft::run -- its carriers, and what they share.
//
// Model. A run has N carriers (Config::carriers, default: the CPUs the process may use). The
// thread that called weft::run becomes carrier 0 and runs the main fiber; carriers 1..N-1 are
// threads the run starts and joins. The carriers share the stack pool (fibers may be freed by
// a carrier other than the one that spawned them), the counters that decide when the run is
// over, and the blocking pool, which each carrier hands to its reactor. Everything else is per
// carrier. (The fd table is shared too, by every run of the process: io/fd_table.hpp.)
//
// Placement. spawn() puts a new fiber on the least loaded carrier (fewest unfinished fibers, the
// spawner's carrier counting one more since the spawner runs there now; a tie goes to another
// carrier than the spawner's, one asleep in its reactor first): a fiber that never blocks must
// not share a carrier with the fiber that made it when another carrier could take it (docs/
// design.md, "Placement"). With one carrier it goes
// straight into the spawner's run queue; with more, into the target's fresh queue, from which
// an idle carrier may steal half before it goes to sleep. A fiber is pinned once it has started.
//
// Termination and deadlock. unfinished_ counts every fiber of the run; when main has finished
// and the count reaches zero every carrier leaves its loop. A carrier that would sleep with no
// I/O in flight and no timer armed is "hopeless": only another thread can wake it. When every
// carrier is hopeless and no blocking-pool job is outstanding, nothing can ever wake any fiber:
// that is a deadlock, reported with the list of fibers, then abort() -- unless a fiber waits on
// a sync primitive or channel (WaitKind::kPark): those may be signalled by a plain thread or
// another run, which nothing here can see, so the report is a warning (once per run) and the
// carriers keep sleeping until such a signal comes. A poster clears the
// target's hopeless mark itself before it could become hopeless too, so the count never claims
// a deadlock that a wake-up in transit would have broken.
#pragma once

#include <pthread.h>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <weft/config.hpp>
#include <weft/fiber.hpp>
#include <weft/runtime.hpp>

#include "base/lock.hpp"
#include "fiber/fiber_control.hpp"
#include "stack/stack_pool.hpp"

namespace weft::rt {

class Carrier;
class Watchdog;
class BlockingPool;

// Run is one weft::run: its carriers and their shared state.
class Run {
 public:
  // kMaxCarriers bounds Config::carriers plus the spares the watchdog may add.
  static constexpr unsigned kMaxCarriers = 256;

  // Run() validates config (std::invalid_argument) and prepares the shared state.
  explicit Run(const Config& config);
  ~Run();
  Run(const Run&) = delete;
  Run& operator=(const Run&) = delete;

  // execute() makes the calling thread carrier 0, starts the others, runs main until every fiber
  // has finished, and joins the other carriers; returns main's control block (one reference).
  FiberControl* execute(const detail::SpawnRequest& main);

  // spawn() creates a fiber, places it on a carrier and returns it with the handle's reference.
  FiberControl* spawn(Carrier& from, const detail::SpawnRequest& req);
  // destroy() frees a fiber whose last reference was dropped (any thread, never the fiber's own).
  void destroy(FiberControl* f) noexcept;
  // destroy_body() destroys f's callable and result, reporting an exception nobody joined.
  static void destroy_body(FiberControl* f) noexcept;

  // config() is the run's validated configuration.
  const Config& config() const noexcept { return config_; }
  // serial() numbers the process's runs from 1, in the order they were made (io/try_first.hpp
  // starts each run's fds afresh by it).
  std::uint32_t serial() const noexcept { return serial_; }
  // carriers() is how many carriers run now (spares included).
  unsigned carriers() const noexcept { return count_.load(std::memory_order_acquire); }
  // carrier() returns carrier i (< carriers()).
  Carrier* carrier(unsigned i) const noexcept { return slots_[i].load(std::memory_order_acquire); }
  // stacks() is the shared stack pool.
  StackPool& stacks() noexcept { return stacks_; }
  // blocking_pool() is the run's helper thread pool for weft::blocking().
  BlockingPool* blocking_pool() const noexcept { return blocking_; }
  // set_blocking_pool() attaches the pool (owned by the caller, outliving run()).
  void set_blocking_pool(BlockingPool* pool) noexcept { blocking_ = pool; }

  // shutting_down() tells whether main has finished (new fibers start cancelled).
  bool shutting_down() const noexcept { return shutdown_.load(std::memory_order_acquire); }
  // over() tells whether the run is over: main finished and so did every other fiber.
  bool over() const noexcept {
    return shutting_down() && unfinished_.load(std::memory_order_acquire) == 0;
  }
  // fiber_finished() counts a fiber out; the last one after main ends the run.
  void fiber_finished() noexcept;
  // main_finished() starts the shutdown: every carrier cancels its fibers.
  void main_finished() noexcept;

  // expect_external() notes a wake-up that a thread outside the run will deliver.
  void expect_external() noexcept { external_.fetch_add(1, std::memory_order_relaxed); }
  // external_done() ends what expect_external() began.
  void external_done() noexcept { external_.fetch_sub(1, std::memory_order_release); }
  // hopeless_enter() counts a carrier that sleeps with nothing of its own to wake it; returns
  // true if that makes every carrier hopeless with no outside wake-up pending: a deadlock.
  bool hopeless_enter() noexcept;
  // hopeless_leave() undoes hopeless_enter() (done by whoever wakes the carrier).
  void hopeless_leave() noexcept { hopeless_.fetch_sub(1, std::memory_order_seq_cst); }
  // confirm_deadlock() re-checks, with every carrier's mailboxes, that nothing can wake anyone.
  bool confirm_deadlock() const noexcept;
  // deadlock() prints every fiber of the run and aborts, or, if some fiber waits where a thread
  // outside the run could still wake it, warns once and returns.
  void deadlock() noexcept;
  // wake_all() wakes every sleeping carrier.
  void wake_all() noexcept;
  // stats() sums the counters of every carrier.
  RuntimeStats stats() const noexcept;
  // counters() is carriers, backend, fibers created and switches, safe to read from any thread.
  RuntimeStats counters() const noexcept;
  // describe_fibers() formats a dump of every fiber of the run: id, name, state, carrier, what
  // it waits on and for how long, and the stack of each parked fiber (sched/dump.cpp). Called
  // on a carrier, it does the work on a helper thread with a larger stack than a fiber's.
  std::string describe_fibers() const;
  // describe_fibers_here() is describe_fibers() on the calling thread.
  std::string describe_fibers_here() const;
  // add_spare() starts one more carrier while the run is going (for the watchdog); returns it,
  // or nullptr if it could not start.
  Carrier* add_spare() noexcept;

  // after_fork_child() rebuilds the run in a forked child around home, the forking thread's
  // carrier, and its running fiber (runtime/process/fork.hpp); throws if a ring or a thread cannot
  // be had.
  void after_fork_child(Carrier& home);

 private:
  // wants_own_tls() tells whether a fiber spawned with asked gets its own glibc thread.
  bool wants_own_tls(Tls asked) noexcept {
    if (asked == Tls::kDefault) asked = config_.tls;
    return asked == Tls::kPerFiber && wants_own_tls_slow();
  }
  // wants_own_tls_slow() is wants_own_tls() for a fiber that asks for its own glibc thread.
  bool wants_own_tls_slow() noexcept;
  struct Thread {
    pthread_t id;
    bool started = false;
    void* stack = nullptr;  // the run's memory the thread runs on, unmapped once joined
  };
  static void* carrier_thread(void* arg);
  void start_carriers(unsigned first, unsigned count);
  void join_carriers() noexcept;
  void abandon_start() noexcept;  // carriers started for a run that will not begin: stop them
  Carrier* pick(Carrier& from) const noexcept;
  // end_forked_child() ends a forked child whose run is over and whose home carrier cannot
  // return to a weft::run of its own: exit(0), as when a process's last thread returns.
  [[noreturn]] void end_forked_child() noexcept;
  void steal_for(Carrier& thief) noexcept;
  // free_stack() gives a stack back, to the calling carrier's cache if it can take it.
  void free_stack(StackSpan stack) noexcept;
  friend class Carrier;
  friend struct DebugLayout;  // sched/debug_info.cpp: the debugger's offsets of these fields

  Config config_;
  std::uint32_t serial_;
  StackPool stacks_;
  std::atomic<bool> tls_warned_{false};  // the run said per-fiber TLS is unavailable
  std::atomic<Carrier*> slots_[kMaxCarriers] = {};
  // The carriers themselves, destroyed with the run: a late wake() may still reach one whose
  // thread has left.
  std::unique_ptr<Carrier> owned_[kMaxCarriers];
  std::atomic<unsigned> count_{0};
  std::vector<Thread> threads_;
  std::atomic<std::size_t> unfinished_{0};
  // Fibers freed on a thread that is none of the run's carriers (each carrier counts its own
  // spawns and frees, Carrier::live_), for RuntimeStats::fibers_live.
  std::atomic<std::int64_t> live_elsewhere_{0};
  std::atomic<bool> shutdown_{false};
  std::atomic<bool> deadlock_warned_{false};
  std::atomic<unsigned> hopeless_{0};
  std::atomic<std::size_t> external_{0};
  // Start-up handshake with the carrier threads (each builds its own ring on its own thread).
  std::atomic<std::uint32_t> started_{0};
  std::atomic<bool> start_failed_{false};
  std::atomic<std::uint32_t> go_{0};  // 1: carriers may run; 2: the run was abandoned at start
  std::string start_error_;
  Lock start_lock_;
  std::unique_ptr<Watchdog> watchdog_;
  BlockingPool* blocking_ = nullptr;
  FiberControl* main_fiber_ = nullptr;
  // In a forked child: the carrier that went on from the parent, and its fiber, the child's main.
  Carrier* fork_home_ = nullptr;
  FiberControl* child_main_ = nullptr;
};

}  // namespace weft::rt
