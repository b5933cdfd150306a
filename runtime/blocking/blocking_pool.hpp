// blocking pool: helper OS threads that run weft::blocking() calls while their fibers wait.
//
// Some work cannot be made to yield: CPU-bound loops, and calls no hook reaches (getaddrinfo's
// resolver, a library's own blocking syscalls). Run on a carrier it would stall every fiber of
// that carrier, so weft::blocking() hands it to this pool (gevent's threadpool) and parks the
// fiber until a helper thread has run it.
//
// Model. One pool per weft::run. Threads start lazily, one per job that finds no idle thread,
// up to Config::blocking_threads; beyond the cap jobs queue FIFO. A thread with nothing to do for
// kIdleExit exits, so a burst does not pin threads for the rest of the run. Threads get 8 MiB
// stacks: user code runs there, as on a main thread. The job lives in the waiting fiber's frame
// (with its Waiter and the call's arguments); the helper runs it, then rt::notify()s the fiber
// and never touches the job again.
//
// Waiting without a deadlock report: a carrier with nothing ready, no timer and no I/O in flight
// takes its blocked fibers for deadlocked. A fiber waiting for the pool is woken by a thread that
// is no carrier, so it brackets the wait with Carrier::expect_mail()/mail_done().
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

#include "base/lock.hpp"
#include "sched/park.hpp"

namespace weft::rt {

// BlockingJob is one weft::blocking() call, owned by the waiting fiber's frame.
struct BlockingJob {
  // BlockingJob() makes a job for the running fiber that will call fn(arg) on a pool thread.
  BlockingJob(void (*fn_)(void*), void* arg_) noexcept : fn(fn_), arg(arg_), waiter("blocking") {}
  // fn runs the call; it must not throw (the public template catches into the job's frame).
  void (*fn)(void*);
  // arg is fn's argument.
  void* arg;
  // waiter is notified once fn has returned, unless its fiber is nullptr: such a job reports
  // its end itself (the epoll reactor's offloaded I/O) and may be freed by fn.
  Waiter waiter;
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

  // BlockingPool() checks Config::blocking_threads (std::invalid_argument unless 1..4096) and
  // binds the pool to the calling thread; no thread starts until the first submit().
  explicit BlockingPool(const Config& config);
  // ~BlockingPool() stops and joins every helper thread; no job may be pending.
  ~BlockingPool();
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  // current() is the pool bound to the calling (carrier) thread, or nullptr.
  static BlockingPool* current() noexcept;
  // bind() makes this pool the one current() returns on the calling thread (for carriers that
  // join the run later); the pool must outlive the binding.
  void bind() noexcept;

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
  BlockingJob* pop() noexcept;

  Lock lock_;
  BlockingJob* head_ = nullptr;  // FIFO queue of jobs no thread has taken yet
  BlockingJob* tail_ = nullptr;
  std::size_t queued_ = 0;
  unsigned cap_;
  unsigned threads_ = 0;  // started (or starting) and not yet exiting
  unsigned idle_ = 0;     // threads waiting for work that have not re-taken the lock
  unsigned peak_ = 0;
  std::atomic<std::uint64_t> jobs_done_{0};  // counted before the notify, so a woken fiber sees it
  bool stopping_ = false;
  Worker* zombie_ = nullptr;                // the last thread that exited, not yet joined
  std::atomic<std::uint32_t> wake_seq_{0};  // futex word idle threads sleep on
  std::atomic<std::uint32_t> exit_seq_{0};  // futex word ~BlockingPool() sleeps on
};

}  // namespace weft::rt
