// sigmask: each program thread's signal mask, emulated, and the kernel masks that follow from it.
//
// Natively every thread has its own mask, and the kernel hands a process-directed signal to a
// thread that does not block it, or keeps it pending while every thread blocks it. Under the
// shim the program's threads are fibers that share a few carrier threads, so a mask set in the
// kernel would reach every fiber of that carrier and no fiber of another. The shim therefore
// keeps each thread's mask in its record (pthread_sigmask, sigprocmask and sigsuspend change
// only that), counts for every signal how many threads do not block it, and gives every carrier
// one kernel mask: the signals that every thread of the program blocks. Then:
//   - a signal that every thread blocks stays pending in the kernel, as natively: sigpending(),
//     a program's own signalfd, and sigwait's signalfd see it; no carrier takes it, so a
//     default action (SIGTERM's) does not happen;
//   - any other signal reaches a carrier, whose wrapper (signals.cpp) picks the thread that
//     takes it from the emulated masks, as the kernel would pick among threads;
//   - a change of that set is applied at once on the calling carrier (so a signal unblocked and
//     pending is delivered before pthread_sigmask returns, as natively), and posted to every
//     other carrier, which applies it in its loop (rt::post_to_every_carrier).
// SIGURG is never in a carrier's mask: the watchdog samples stalled carriers with it.
// Threads weft owns (the watchdog, the blocking pool, spare carriers before they start) begin
// with every signal blocked (sys::ThreadHooks::block_signals) and never take one of the program's.
#pragma once

#include <signal.h>
#include <ucontext.h>
#include <cstdint>

#include "base/lock.hpp"

namespace weft::shim {

struct ThreadRecord;

// SigBits is a set of signals 1 to 64, bit s-1 standing for signal s.
using SigBits = std::uint64_t;

// sig_bit() is the bit of signal sig (1 to 64).
constexpr SigBits sig_bit(int sig) noexcept {
  return SigBits{1} << (sig - 1);
}
// kNeverMasked are the signals no mask holds: SIGKILL, SIGSTOP, and glibc's own 32 and 33.
inline constexpr SigBits kNeverMasked =
    sig_bit(SIGKILL) | sig_bit(SIGSTOP) | sig_bit(32) | sig_bit(33);
// bits_of() is set as SigBits.
SigBits bits_of(const sigset_t& set) noexcept;
// sigset_of() writes bits into *set.
void sigset_of(SigBits bits, sigset_t* set) noexcept;

// KernelBlock blocks every signal on the calling thread while it lives, so that a lock it holds
// cannot be wanted by a signal handler interrupting the same thread.
class KernelBlock {
 public:
  // KernelBlock() blocks.
  KernelBlock() noexcept;
  // ~KernelBlock() restores the mask the thread had.
  ~KernelBlock();
  KernelBlock(const KernelBlock&) = delete;
  KernelBlock& operator=(const KernelBlock&) = delete;

 private:
  sigset_t old_;
};

// SigLockScope holds one of the locks a signal handler may also want (the registry, a thread's
// queue, the shim's pending set) and counts it on the calling thread, so that a handler which
// interrupted the holder sees it (in_sig_lock()) and takes no lock at all instead of waiting for
// its own thread: cheaper than blocking every signal around each hold, which would cost two
// system calls per thread created and per mask change.
class SigLockScope {
 public:
  // SigLockScope() takes lock.
  explicit SigLockScope(rt::Lock& lock) noexcept;
  // ~SigLockScope() releases it.
  ~SigLockScope();
  SigLockScope(const SigLockScope&) = delete;
  SigLockScope& operator=(const SigLockScope&) = delete;

 private:
  rt::Lock& lock_;
};
// in_sig_lock() tells whether the calling thread holds, or is taking, a SigLockScope's lock.
bool in_sig_lock() noexcept;

// sigmask_register() adds t, a new thread whose mask is mask, to the threads that signals
// choose among (the main thread with the kernel mask it started with; another with its
// creator's mask).
void sigmask_register(ThreadRecord* t, SigBits mask) noexcept;
// sigmask_unregister() removes t as its thread ends (its mask no longer counts).
void sigmask_unregister(ThreadRecord* t) noexcept;
// set_thread_mask() makes mask the mask of t (the calling fiber's thread) and applies what
// changes for the carriers; returns the old mask.
SigBits set_thread_mask(ThreadRecord* t, SigBits mask) noexcept;
// carriers_behind() tells whether some carrier may not have applied the newest set yet (a
// signal every thread blocks could still reach it).
bool carriers_behind() noexcept;
// all_block() is the set of signals every thread of the program blocks.
SigBits all_block() noexcept;
// find_unblocking() returns a live thread that does not block sig (prefer first, if it does not),
// or nullptr; any context, signal handlers included.
ThreadRecord* find_unblocking(int sig, ThreadRecord* prefer) noexcept;
// apply_carrier_mask() sets the calling carrier's kernel mask from all_block().
void apply_carrier_mask() noexcept;
// carrier_mask_start() is sys::SignalHooks::carrier_start: a new carrier takes its mask.
void carrier_mask_start() noexcept;
// applied_here() is what the calling carrier's kernel mask holds of all_block() now.
SigBits applied_here() noexcept;
// fix_return_mask() makes the mask a signal handler's return restores (uc's) follow what changed
// of the carrier's share of all_block() since the handler began (applied_at_entry).
void fix_return_mask(ucontext_t* uc, SigBits applied_at_entry) noexcept;
// block_on_return() adds sig to the mask the calling carrier gets back when the handler that
// got uc returns (a carrier that had not applied the newest set yet).
void block_on_return(ucontext_t* uc, int sig) noexcept;
// sigmask_capture_start() records the mask the process started with, on its first thread before
// any other exists (main's mask), and that the thread's kernel mask holds it.
void sigmask_capture_start() noexcept;
// start_mask() is the mask sigmask_capture_start() recorded.
SigBits start_mask() noexcept;
// sigmask_after_fork_child() makes self the forked child's only thread: the counts are its
// mask's, and the child's thread gets its kernel mask (fresh: the runtime goes on; otherwise the
// thread runs natively from now on and takes self's mask as its own).
void sigmask_after_fork_child(ThreadRecord* self, bool fresh) noexcept;

// ExecMask gives the calling carrier the calling fiber's mask for a call that makes a new
// program (exec, posix_spawn, system): the kernel hands the caller's mask to the new program.
class ExecMask {
 public:
  // ExecMask() sets the kernel mask to the fiber's (nothing off a fiber).
  ExecMask() noexcept;
  // ~ExecMask() gives the carrier its own mask back (the call failed, or has returned).
  ~ExecMask();
  ExecMask(const ExecMask&) = delete;
  ExecMask& operator=(const ExecMask&) = delete;

 private:
  bool set_ = false;
  sigset_t old_;
};

// fiber_mask() is the calling fiber's mask (the kernel's off a fiber).
SigBits fiber_mask() noexcept;

}  // namespace weft::shim
