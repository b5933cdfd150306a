// after_fork: a carrier and its run, rebuilt in a forked child around the forking fiber.
//
// process/fork.cpp decides when (the model is in process/fork.hpp); this file does it for the
// scheduler's own objects: everything queued names fibers the child does not have, so it is
// dropped unread; the locks may have been held by threads that are gone, so they are made anew;
// the other carriers, the watchdog and the helper threads stayed in the parent, so their objects
// are abandoned (never destroyed: destructors would join threads the child does not have and
// write eventfds the parent reads) and new ones are started.
#include <sys/syscall.h>
#include <unistd.h>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/sys.hpp"
#include "blocking/blocking_pool.hpp"
#include "reactor/backend.hpp"
#include "sched/carrier.hpp"
#include "sched/run.hpp"
#include "sched/watchdog.hpp"
#include "tls/thread_block.hpp"

namespace weft::rt {
namespace {

// The child abandons what belonged to the parent's other threads instead of destroying it
// (destructors would join threads the child does not have and write eventfds the parent reads).
// keep() holds a heap copy of each abandoned object's bytes, so whatever it points to stays
// reachable: LeakSanitizer then has nothing to report in a child that exits.
void keep(const void* object, std::size_t size) noexcept {
  static std::vector<void*>* kept = new std::vector<void*>();
  void* copy = std::malloc(size);
  if (copy == nullptr) return;
  std::memcpy(copy, object, size);
  kept->push_back(copy);
}

}  // namespace

void Carrier::after_fork_child(FiberControl* self) {
  // The old reactor is forgotten already; its queues hold only the parent's operations.
  reactor_ = make_reactor(run_.config(), run_.blocking_pool());
  // Everything queued here names fibers the child does not have; nothing of it is read. The
  // locks may have been held by threads that are gone.
  keep(&timers_, sizeof timers_);
  keep(&tasks_, sizeof tasks_);
  timers_.after_fork_child();
  run_queue_.clear();
  fresh_.clear();
  all_.clear();
  stack_cache_.after_fork_child();
  all_lock_.reset();
  new (&task_lock_) Lock();
  new (&fresh_lock_) Lock();
  new (&tasks_) MemVector<Task>();
  all_.push_front(self);
  main_ = self;
  to_free_ = nullptr;
  shut_down_ = false;
  handoffs_ = 0;
  tid_ = static_cast<int>(sys::call(SYS_gettid));
  // The child's one thread is the forking fiber's, with its thread pointer: glibc counts the
  // carrier thread's own as gone (a thread of the parent), so the scheduler takes the fiber's.
  own_tp_ = tls::current_tp();
  cur_tp_ = nullptr;
  load_.store(1, std::memory_order_relaxed);
  load_own_.store(0, std::memory_order_relaxed);
  stalled_.store(false, std::memory_order_relaxed);
  in_fiber_ = true;
  sleep_.store(kAwake, std::memory_order_relaxed);
  mail_.reset();
  interrupts_.reset();
  tasks_pending_.store(false, std::memory_order_relaxed);
  fresh_count_.store(0, std::memory_order_relaxed);
  posting_.store(0, std::memory_order_relaxed);
}

void Run::after_fork_child(Carrier& home) {
  FiberControl* self = home.running();
  // The other carriers' threads, the watchdog's and the helpers' stayed in the parent. Their
  // objects are leaked, not destroyed: destructors would join threads that do not exist here
  // and write eventfds the parent reads.
  keep(slots_, sizeof slots_);
  keep(owned_, sizeof owned_);
  for (unsigned i = 0; i < kMaxCarriers; ++i) {
    if (slots_[i].load(std::memory_order_relaxed) != &home) {
      slots_[i].store(nullptr, std::memory_order_relaxed);
    }
    (void)owned_[i].release();
  }
  if (watchdog_ != nullptr) {
    watchdog_->forget();
    keep(&watchdog_, sizeof watchdog_);
    (void)watchdog_.release();
  }
  if (blocking_ != nullptr) {
    keep(blocking_, sizeof *blocking_);
    blocking_->after_fork_child();
  }
  keep(&threads_, sizeof threads_);
  keep(&start_error_, sizeof start_error_);
  keep(&stacks_, sizeof stacks_);
  new (&threads_) std::vector<Thread>();
  threads_.reserve(kMaxCarriers);
  new (&start_error_) std::string();
  new (&start_lock_) Lock();
  stacks_.after_fork_child(1);

  // The forking fiber is the child run's one fiber and its main: when it returns, the run ends.
  self->fork_epoch_ = fork_epoch();
  unfinished_.store(1, std::memory_order_relaxed);
  live_elsewhere_.store(0, std::memory_order_relaxed);
  home.live_.store(1, std::memory_order_relaxed);
  shutdown_.store(false, std::memory_order_relaxed);
  deadlock_warned_.store(false, std::memory_order_relaxed);
  hopeless_.store(0, std::memory_order_relaxed);
  external_.store(0, std::memory_order_relaxed);
  started_.store(0, std::memory_order_relaxed);
  start_failed_.store(false, std::memory_order_relaxed);
  fork_home_ = &home;
  child_main_ = self;
  // Its handle may be held by a fiber of the parent's, never to be dropped, or by nobody
  // (detached, as the shim's threads are); the run holds one itself, since the loop reads its
  // main fiber after it finished.
  if (self != main_fiber_) self->refs_.fetch_add(1, std::memory_order_relaxed);
  home.after_fork_child(self);

  // The same number of carriers as the parent's configuration asks for (spares are the
  // watchdog's answer to a stall of the parent's, not a setting): the home carrier keeps its
  // number, new threads take the others. They run at once: go_ stays 1.
  unsigned n = std::max(config_.carriers, home.index() + 1);
  go_.store(1, std::memory_order_relaxed);
  count_.store(n, std::memory_order_release);
  if (home.index() > 0) start_carriers(0, home.index());
  if (home.index() + 1 < n) start_carriers(home.index() + 1, n - home.index() - 1);
  if (start_failed_.load()) throw std::runtime_error(start_error_);
  if (config_.stall_ms != 0 || config_.dump_signal != 0) {
    watchdog_ = std::make_unique<Watchdog>(*this);
  }
}

void Run::end_forked_child() noexcept {
  watchdog_.reset();
  wake_all();
  join_carriers();
  std::exit(0);
}

}  // namespace weft::rt
