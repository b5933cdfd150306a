// fork: a forked child gets a fresh runtime for the thread that forked.
//
// fork() copies one thread, the caller, and all memory. If the caller was a fiber, the child
// holds that fiber's stack and its carrier's state, but none of the other threads: no other
// carrier, no blocking-pool helper, no watchdog. And it holds things it must not use: the
// carriers' io_uring rings (the fd and the MAP_SHARED ring memory are the parent's very rings:
// a submission or a reaped completion from the child would take the parent's), the carriers'
// eventfds (the same file descriptions: a write from the child wakes the parent), run queues,
// timers, mailboxes and fd-table entries full of fibers that do not exist in the child, and
// locks another thread may have held at the instant of the fork.
//
// after_fork_child(), run from a pthread_atfork child handler, makes the child sound:
//   - every fiber that existed at the fork, except the forking one, is a ghost: the fork epoch
//     is bumped, each fiber records the epoch it was spawned in (the forking fiber is moved into
//     the new one), and notify(), cancel and the wait lists ignore ghosts, so nothing of theirs
//     ever runs and a hand-off (a mutex, a permit) never goes to one;
//   - every inherited ring is forgotten: unmapped from the child, with no io_uring call at all
//     (the parent's rings are also MADV_DONTFORK, so a stray access faults instead of taking the
//     parent's completions); every fd of the parent's runtime (rings, epoll sets, eventfds, the
//     poll sets of fibers that are ghosts now) is closed where its number still names the same
//     file (base/own_fd.hpp: identity by statx and FD_CLOEXEC); the dump signal no longer
//     reaches the parent's watchdog;
//   - if the forking thread is a carrier, its run is rebuilt in place around it: a new ring and
//     eventfd for that carrier, its queues, timers and mailboxes emptied, the fd table's lists of
//     operations in flight cleared, the counters reset to the one fiber, fresh carrier threads
//     for the other carrier numbers (the same Config::carriers), the blocking pool emptied (its
//     threads start again on demand) and the watchdog restarted if configured. The forking
//     fiber is the child run's main fiber: when it returns the child run ends (weft::run returns
//     if it was the run's main fiber, else the process exits with status 0, as a process whose
//     last thread returned).
// The forking fiber just goes on; its next block switches to its carrier's scheduler loop, which
// now polls the child's own ring.
//
// Locks: rt::Locks are never held across a switch, so a lock another thread held at the fork was
// in the middle of a short update. No prepare handler takes them (one would deadlock a carrier
// on itself: docs/design.md, "fork"); the child reinitialises every lock of the runtime and
// rebuilds what it guarded rather than reading it where it can (the stack pool starts afresh;
// the fiber-local key table is kept as it stood).
#pragma once

#include <cstdint>

#include "fiber/fork_epoch.hpp"

namespace weft::rt {

// ForkChild says what after_fork_child() made of the child.
enum class ForkChild : std::uint8_t {
  // kNoCarrier: the forking thread was no carrier; it goes on as a plain thread.
  kNoCarrier,
  // kFresh: the forking thread's run was rebuilt; if it was running a fiber, that fiber goes on
  // as the only fiber of the child's run.
  kFresh,
  // kOff: the runtime must not be used in this child: fresh_runtime was false, the forking
  // carrier was in its scheduler (a signal handler), or the rebuild failed (no ring, no thread;
  // a message says why).
  kOff,
};

// after_fork_child() makes a forked child sound (see above); fresh_runtime false only makes it
// safe (ghosts, rings, dump signal) and leaves the runtime unusable, for a child that will only
// pass calls through (the shim's vfork). Call it in the child, before anything else uses weft.
ForkChild after_fork_child(bool fresh_runtime) noexcept;

// install_fork_handlers() registers the runtime's pthread_atfork handlers, once per process.
// child is the child handler to register, which must call after_fork_child() first; nullptr
// registers one that only calls it. The first call wins: the shim installs its own handler from
// its constructor, before any run exists; weft::run calls this with nullptr.
void install_fork_handlers(void (*child)()) noexcept;

}  // namespace weft::rt
