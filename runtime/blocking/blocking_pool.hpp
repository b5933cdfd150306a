// blocking pool: helper OS threads for work that must not run on a carrier.
//
// Some work cannot be made to yield: CPU-bound loops, and calls no hook reaches (getaddrinfo's
// resolver, a library's own blocking syscalls, a regular file on the epoll backend). Run on a
// carrier it would stall every fiber of that carrier, so it is handed to this pool (gevent's
// threadpool) as a BlockingJob. The pool knows nothing of fibers: a job is two functions, one
// that does the work on a helper thread and one that reports its end. weft::blocking()
// (io/blocking_call.cpp) reports by notifying the fiber that waits for it; the epoll reactor's
// offloaded I/O reports by queueing the op for its reactor.
//
// Model. One pool per weft::run, made before the run's carriers, which hand it to their
// reactors; weft::blocking() finds it through the run. Threads start lazily, one per job that
// finds no idle thread, up to Config::blocking_threads; beyond the cap jobs queue FIFO. A thread
// with nothing to do for kIdleExitMs exits, so a burst does not pin threads for the rest of the
// run. Threads get 8 MiB stacks: user code runs there, as on a main thread. A job lives in its
// submitter's memory (a fiber's frame, a reactor's record); the pool touches it only until it
// calls finish.
//
// Joining: every thread is joined, none detached, so weft::run() returns with no thread of its own
// left (tests count /proc/self/task). An exiting thread parks itself in zombie_ and joins the
// previous zombie, so at most one thread is left unjoined between exits; ~BlockingPool() joins
// it. Joins happen on pool threads or at teardown, never on a carrier while fibers run.
//
// Locking: rt::Lock guards everything; idle threads sleep on a futex word (wake_seq_) bumped by
// every submit that wants an idle thread, so a wake-up between the unlock and the futex wait is
// not lost. No std::mutex or std::thread: the shim interposes the pthread calls they make.
#pragma once

#include <pthread.h>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include <weft/blocking.hpp>
#include <weft/config.hpp>

#include "base/list.hpp"
#include "base/lock.hpp"
#include "fiber/fork_epoch.hpp"

namespace weft::rt {

// BlockingJob is one piece of work for a helper thread, in its submitter's memory.
struct BlockingJob {
  // Fn is one step of a job, called with the job itself.
  using Fn = void (*)(BlockingJob*) noexcept;
  // BlockingJob() makes a job that runs work on a helper thread, then finish (if not null).
  BlockingJob(Fn work_, Fn finish_) noexcept : work(work_), finish(finish_) {}
  // work does the job on the helper thread.
  Fn work;
  // finish reports the end, on the same thread, once work has returned and the job is counted
  // done; the pool touches the job no more after calling it. A job without one reports its end
  // from work itself, which may then free the job.
  Fn finish;
  // next links the job into the pool's FIFO queue.
  BlockingJob* next = nullptr;
};

// BlockingPool is the helper threads of one weft::run().
class BlockingPool {
 public:
  // kIdleExitMs is how long a helper thread waits for work before it exits, in milliseconds.
  static constexpr unsigned kIdleExitMs = 3000;
  // kStackSize is each helper thread's stack: user code runs there.
  static constexpr std::size_t kStackSize = 8 * 1024 * 1024;

  // BlockingPool() checks Config::blocking_threads (std::invalid_argument unless 1..4096); no
  // thread starts until the first submit().
  explicit BlockingPool(const Config& config);
  // ~BlockingPool() stops and joins every helper thread; no job may be pending.
  ~BlockingPool();
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  // submit() queues job, starting a thread if no idle one will take it and the cap allows;
  // returns 0, or -errno when no thread could be started and none runs (job not queued).
  int submit(BlockingJob* job) noexcept;
  // stats() snapshots the pool's counters.
  BlockingStats stats() noexcept;
  // after_fork_child() empties the pool in a forked child: its threads and the jobs queued for
  // them stayed in the parent; new threads start on demand (runtime/process/fork.hpp).
  void after_fork_child() noexcept;

 private:
  struct Worker;
  static void* thread_main(void* arg);
  void work(Worker* self) noexcept;

  Lock lock_;
  List<BlockingJob, &BlockingJob::next> queue_;  // jobs no thread has taken yet
  std::size_t queued_ = 0;
  unsigned cap_;
  unsigned threads_ = 0;  // started (or starting) and not yet exiting
  unsigned idle_ = 0;     // threads waiting for work that have not re-taken the lock
  unsigned peak_ = 0;
  std::atomic<std::uint64_t> jobs_done_{0};  // counted before finish, so a woken fiber sees it
  bool stopping_ = false;
  Worker* zombie_ = nullptr;                // the last thread that exited, not yet joined
  std::atomic<std::uint32_t> wake_seq_{0};  // futex word idle threads sleep on
  std::atomic<std::uint32_t> exit_seq_{0};  // futex word ~BlockingPool() sleeps on
};

}  // namespace weft::rt
