// watchdog: the monitor thread of a run -- stall reports, spare carriers and fiber dumps.
//
// The cooperative model's weak spot is a fiber that does not yield: a long computation, or a
// call that blocks without the runtime seeing it (a raw syscall, a library lock). Every fiber
// of its carrier waits behind it. The watchdog samples each carrier's switch counter every
// stall_ms/4; a carrier that is running fibers (not sleeping in its reactor) whose counter has
// not moved for stall_ms is stalled. Then, once per stall:
//   - it reports on stderr which fiber holds the carrier (id, name), for how long, and where:
//     when the carrier thread sleeps in a system call (/proc/self/task/TID/syscall,
//     sched/syscall_probe.hpp), the call's name and number, and nothing is sent to it: a caught
//     signal would end that call, a wait the program chose. Otherwise a backtrace taken on the
//     carrier thread itself (SIGURG, the signal Go preempts with: rarely used by programs, and
//     its default is to do nothing), through a handler installed for that one sample only and
//     never over a disposition of the program's (its handler or SIG_IGN: then a note instead).
//     The handler only stores return addresses; this thread names them (diag::Symbolizer:
//     function, file:line, module) and prints them;
//   - it marks the carrier stalled, so new fibers are placed elsewhere, moves the carrier's
//     unstarted fibers away, and, when fewer carriers than Config::carriers are left unstalled,
//     starts a spare carrier (Go's sysmon hands off a P from a thread stuck in a syscall the
//     same way). Started fibers stay where they are: they cannot change threads.
// When the carrier moves again the mark is cleared and the end of the stall is reported. Spare
// carriers stay until the run ends; at most Run::kMaxCarriers carriers exist.
//
// Fiber dumps: Run::describe_fibers() formats every fiber of the run, with the stack of each
// parked one (sched/dump.cpp); Config::dump_signal installs
// a handler that only counts a request and writes to the watchdogs' eventfds (async-signal-safe),
// and each watchdog thread prints the dump when it sees the count move. The eventfd only wakes
// the thread: a wake-up is never a request by itself (a move of the fd nudges it too), and an
// eventfd that fails (POLLNVAL, EBADF: closed behind the runtime's back by a raw system call) is
// a fault, reported once; the watchdog then keeps its stall checks on a plain timed sleep.
#pragma once

#include <pthread.h>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/own_fd.hpp"
#include "diag/stack.hpp"
#include "sched/syscall_probe.hpp"

namespace weft::rt {

class Carrier;
class Run;

// Watchdog watches the carriers of one run from its own thread.
class Watchdog {
 public:
  // Watchdog() starts the monitor thread; throws std::runtime_error if it cannot.
  explicit Watchdog(Run& sched);
  // ~Watchdog() stops and joins the monitor thread.
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  // forget() gives up, in a forked child, a watchdog whose thread stayed in the parent. Its
  // eventfd is the parent's file too, so it is never written (the child's
  // own_fds_after_fork_child() closes it); the caller leaks the object instead of destroying it
  // (the destructor writes the eventfd and joins the thread).
  void forget() noexcept;

 private:
  struct Seen {
    std::uint64_t progress = 0;
    std::int64_t since_ns = 0;
    bool reported = false;
  };
  static void* thread_main(void* arg);
  static void nudge(void* self) noexcept;
  void watch();
  void wait_tick(int tick_ms, bool& broken);
  void check(unsigned i, Seen& seen, std::int64_t now_ns);
  // report_stall() formats the stall report of carrier i into msg, and the frames of its sample
  // into frames (named later, by check()).
  void report_stall(unsigned i, std::int64_t stalled_ns, std::string& msg, diag::RawStack& frames);
  // sample() takes the stalled carrier's backtrace into frames, or appends why there is none to
  // out.
  void sample(Carrier& c, SyscallProbe& probe, std::string& out, diag::RawStack& frames);
  // relieve() starts a spare carrier for stalled carrier i (or picks a free one) and hands it
  // the fibers that have not started; returns the line saying so, for the report.
  std::string relieve(unsigned i);

  Run& run_;
  OwnFd event_fd_;
  int dump_slot_ = -1;
  pthread_t thread_{};
  // stop_ is 1 once the destructor asks the thread to end (a futex word: a broken watchdog
  // sleeps on it).
  std::atomic<std::uint32_t> stop_{0};
  std::vector<Seen> seen_;
  // probes_ reads, per carrier, the system call its thread sleeps in.
  std::unique_ptr<SyscallProbe[]> probes_;
};

// install_dump_signal() makes sig print a fiber dump of every run; returns 0 or -errno.
int install_dump_signal(int sig) noexcept;
// watchdogs_after_fork() unhooks, in a forked child, every watchdog the parent had from the dump
// signal (their eventfds would wake the parent's watchdogs) and clears a backtrace request.
void watchdogs_after_fork() noexcept;

}  // namespace weft::rt
