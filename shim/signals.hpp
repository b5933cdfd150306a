// signals: the program's signal handlers, and EINTR from the interposed calls as natively.
//
// The shim interposes sigaction (and signal, sysv_signal, siginterrupt) to learn each handler
// and its flags, and installs a wrapper of its own in the kernel. The wrapper runs the program's
// handler where the kernel delivered the signal (as before: on whatever a carrier was running),
// then, for a process-directed signal, records the delivery and asks the main fiber's carrier to
// interrupt the main fiber's wait (rt::interrupt_fiber): the kernel delivers such a signal to the
// main thread when that thread does not block it, and ends its blocking call. The interposed
// call then decides, in normal context on the main fiber, as signal(7) says: EINTR, or (the
// handler has SA_RESTART and the call is one that restarts) wait again.
//
// pthread_kill and pthread_sigqueue to a fiber thread queue the signal on the thread's record and
// interrupt its wait; the fiber runs the handler itself when it is woken, or at its next
// interruptible call, so the handler runs "in" the target thread (pthread_self() is the target).
#pragma once

#include <signal.h>
#include <atomic>
#include <cerrno>
#include <cstdint>

#include "sched/interrupt.hpp"

namespace weft::shim {

struct ThreadRecord;
struct SigSlot;

// Restart says whether a call interrupted by a handler with SA_RESTART waits again (signal(7):
// read, write, the socket calls without a timeout, sem_wait) or always fails with EINTR (poll,
// select, epoll_wait, the sleeps, socket calls with a timeout).
enum class Restart : bool { kNever, kWithSaRestart };

// g_thread_signals counts the signals queued on fiber threads whose handlers have not run yet;
// while it is 0, an interruptible call does not look for any.
extern std::atomic<long> g_thread_signals;

// signals_begin_wait() is called by an interruptible call before it waits: it forgets earlier
// process-directed deliveries (they came before the call) and runs handlers queued on the
// calling thread.
void signals_begin_wait() noexcept;
// signals_after_wake() is called when an interruptible wait ended with -EINTR: it runs the
// handlers queued on the calling thread and tells whether the call waits again (true) or fails
// with EINTR (false), from the signals delivered during the wait and their SA_RESTART.
bool signals_after_wake(Restart mode) noexcept;
// run_queued_signals() runs the handlers of the signals queued on the calling fiber thread
// that its (carrier's) mask does not block; returns how many ran, and in *all_restart whether
// every one of them had SA_RESTART.
int run_queued_signals(bool* all_restart) noexcept;

// interruptible() runs attempt() (a weft wait returning -errno) on a fiber as an interruptible
// system call: a signal delivered meanwhile ends it with -EINTR, or makes it wait again (attempt
// is called again, so it must keep an absolute deadline for a restart with the time left).
template <class Attempt>
long interruptible(Restart mode, Attempt&& attempt) noexcept {
  rt::Interruptible scope;
  signals_begin_wait();
  for (;;) {
    long r = attempt();
    if (r != -EINTR) {
      // A signal queued on this thread while the call was finishing runs before it returns.
      if (g_thread_signals.load(std::memory_order_relaxed) != 0) {
        bool restart;
        run_queued_signals(&restart);
      }
      return r;
    }
    if (!signals_after_wake(mode)) return -EINTR;
  }
}

// send_to_thread() is pthread_kill (code SI_TKILL) or pthread_sigqueue (SI_QUEUE, with value)
// to the fiber thread t, for a signal that is not 0 and not glibc's own; returns 0 or an error
// number.
int send_to_thread(ThreadRecord* t, int sig, int code, sigval value) noexcept;
// send_to_self_process() is kill(getpid(), sig) (code SI_USER) or sigqueue (SI_QUEUE, value)
// from a fiber, delivered to the thread the kernel would pick, at once; false when the kernel must
// do it (no handler of the program's, or every thread blocks the signal).
bool send_to_self_process(int sig, int code, sigval value) noexcept;
// forget_queued_signals() drops the signals still queued on t as its thread ends.
void forget_queued_signals(ThreadRecord* t) noexcept;
// program_thread() is the program thread running on this carrier now, or nullptr (the carrier
// is between fibers, or runs none of the program's); any context, signal handlers included.
ThreadRecord* program_thread() noexcept;
// signals_set_main() records the main thread, which process-directed signals prefer.
void signals_set_main(ThreadRecord* main) noexcept;
// info_of() fills *info for signal sig from what a queue kept of it.
void info_of(int sig, const SigSlot& slot, siginfo_t* info) noexcept;
// take_queued() takes the lowest signal of want queued on t: true and *sig, *slot, or false.
bool take_queued(ThreadRecord* t, std::uint64_t want, int* sig, SigSlot* slot) noexcept;
// take_process_pending() takes the lowest signal of want that is pending for the process in the
// shim's own set (signals the kernel no longer holds, sigmask.hpp): true and *sig, *slot.
bool take_process_pending(std::uint64_t want, int* sig, SigSlot* slot) noexcept;
// process_pending() is the shim's own set of signals pending for the process.
std::uint64_t process_pending() noexcept;
// signals_run_deferred() runs the deliveries that came while the calling thread held one of the
// shim's signal locks (SigLockScope calls it as the outermost one is released).
void signals_run_deferred() noexcept;
// redeliver_kick() tells whether info is the shim's kick to a carrier (a signal meant to make a
// fiber there run its queued handler) and, if so, reaches that fiber again: for a wait that
// took the kick from the kernel itself (sigwait's).
bool redeliver_kick(int sig, const siginfo_t* info) noexcept;
// signals_after_fork_child() makes self the forked child's only thread, with nothing pending.
void signals_after_fork_child(ThreadRecord* self, bool fresh) noexcept;

}  // namespace weft::shim
