// fork_epoch: how a forked child tells the parent's fibers and threads from its own.
//
// fork() copies memory but only the calling thread, so a child holds wait lists, mailboxes and
// queues full of fibers and threads that do not exist in it. Rather than find and unlink every
// one of them, the child bumps the epoch (process/fork.cpp); whatever records the epoch it was
// made in (a fiber, a pool thread, a shim wait node) and finds it older is a ghost of the parent,
// which nothing may wake, run, cancel or hand anything to.
#pragma once

#include <atomic>
#include <cstdint>

namespace weft::rt {

// g_fork_epoch is fork_epoch()'s counter; only after_fork_child() (process/fork.hpp) changes it.
inline std::atomic<std::uint32_t> g_fork_epoch{0};

// fork_epoch() counts the forks this process descends from.
inline std::uint32_t fork_epoch() noexcept {
  return g_fork_epoch.load(std::memory_order_relaxed);
}

}  // namespace weft::rt
