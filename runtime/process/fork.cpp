// fork: making a forked child sound, and its run its own (the model is in fork.hpp; the
// scheduler's part of the rebuild is sched/after_fork.cpp).
#include "process/fork.hpp"

#include <pthread.h>
#include <atomic>
#include <cstdlib>
#include <exception>
#include <string>

#include "base/memory.hpp"
#include "base/own_fd.hpp"
#include "base/report.hpp"
#include "base/sys.hpp"
#include "io/fd_table.hpp"
#include "reactor/reactor.hpp"
#include "sched/carrier.hpp"
#include "sched/fls.hpp"
#include "sched/run.hpp"
#include "sched/watchdog.hpp"

namespace weft::rt {

namespace {

std::atomic<bool> g_handlers_installed{false};

void default_child_handler() {
  // A weft::run program that forked from a fiber: without a runtime of its own the fiber's next
  // weft call would fault on the forgotten ring, so say why now.
  if (after_fork_child(true) != ForkChild::kOff) return;
  Carrier* c = Carrier::current();
  if (c != nullptr && c->running() != nullptr) std::abort();
}

}  // namespace

void install_fork_handlers(void (*child)()) noexcept {
  if (g_handlers_installed.exchange(true)) return;
  ::pthread_atfork(nullptr, nullptr, child != nullptr ? child : &default_child_handler);
}

ForkChild after_fork_child(bool fresh_runtime) noexcept {
  // Only this thread exists now, so plain stores suffice for everything below.
  g_fork_epoch.fetch_add(1, std::memory_order_relaxed);
  mem_after_fork_child();
  fls_after_fork_child();
  Reactor::forget_all();
  // The parent's rings, epoll sets and eventfds (and the poll sets of fibers the child does not
  // have): closed where their numbers still name them, before the new runtime makes its own.
  own_fds_after_fork_child();
  sys::report_sink_after_fork_child();
  fd_table_after_fork_child();
  watchdogs_after_fork();
  Carrier* home = Carrier::current();
  if (home == nullptr) return ForkChild::kNoCarrier;
  // A fork from a signal handler that interrupted the carrier's scheduler: there is no fiber to
  // go on with, and the scheduler's own frame is mid-step.
  if (!fresh_runtime || home->running() == nullptr) return ForkChild::kOff;
  try {
    home->run().after_fork_child(*home);
  } catch (const std::exception& e) {
    std::string msg =
        std::string("weft: the forked child cannot have a runtime of its own: ") + e.what() + "\n";
    sys::write_stderr(msg.c_str());
    return ForkChild::kOff;
  }
  return ForkChild::kFresh;
}

}  // namespace weft::rt
