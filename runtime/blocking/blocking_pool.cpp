#include "blocking/blocking_pool.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <ctime>
#include <new>
#include <stdexcept>
#include <string>

#include <weft/deadline.hpp>

#include "base/memory.hpp"
#include "base/sys.hpp"

namespace weft::rt {
namespace {

constexpr unsigned kMaxThreads = 4096;

// futex_wait() sleeps while *word == expected, at most timeout_ms (forever if negative).
void futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected, long timeout_ms) {
  timespec ts{timeout_ms / 1000, (timeout_ms % 1000) * 1000000};
  sys::futex_wait(word, expected, timeout_ms >= 0 ? &ts : nullptr);
}

long ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

}  // namespace

// Worker is one helper thread; whoever joins it deletes it.
struct BlockingPool::Worker {
  BlockingPool* pool;
  pthread_t tid{};
  // tid_set is written under the lock once start_thread() returned; a thread exits only after
  // that, so its joiner always has the id.
  bool tid_set = false;
  // epoch is the fork epoch the thread started in: a job that forked leaves the helper running
  // in the child, where the job's fiber does not exist.
  std::uint32_t epoch = fork_epoch();
};

BlockingPool::BlockingPool(const Config& config) : cap_(config.blocking_threads) {
  if (cap_ < 1 || cap_ > kMaxThreads) {
    throw std::invalid_argument("weft::Config::blocking_threads must be in 1..4096, got " +
                                std::to_string(cap_));
  }
}

BlockingPool::~BlockingPool() {
  lock_.lock();
  stopping_ = true;
  wake_seq_.fetch_add(1, std::memory_order_relaxed);
  lock_.unlock();
  sys::futex_wake(&wake_seq_, INT_MAX);
  for (;;) {
    lock_.lock();
    if (threads_ == 0) break;
    std::uint32_t seq = exit_seq_.load(std::memory_order_relaxed);
    lock_.unlock();
    futex_wait(&exit_seq_, seq, -1);
  }
  // Each exiting thread joined the one before it; the last one is left.
  Worker* last = std::exchange(zombie_, nullptr);
  lock_.unlock();
  if (last != nullptr) {
    sys::join_thread(last->tid);
    mem_delete(last);
  }
}

int BlockingPool::submit(BlockingJob* job) noexcept {
  Worker* w = nullptr;
  bool wake = false;
  lock_.lock();
  queue_.push_back(job);
  ++queued_;
  // Idle threads take queued jobs first; a job beyond them gets a new thread if the cap allows.
  if (queued_ > idle_ && threads_ < cap_) {
    w = mem_new<Worker>();
    if (w != nullptr) {
      w->pool = this;
      ++threads_;
      peak_ = std::max(peak_, threads_);
    }
  }
  if (w == nullptr && idle_ > 0) {
    wake = true;
    wake_seq_.fetch_add(1, std::memory_order_relaxed);
  }
  bool orphan = w == nullptr && threads_ == 0;  // allocation failed and nobody would run it
  lock_.unlock();
  if (wake) sys::futex_wake(&wake_seq_, 1);
  if (w == nullptr && !orphan) return 0;

  pthread_t tid{};
  int r = w != nullptr ? sys::start_thread(&tid, &thread_main, w, kStackSize) : -ENOMEM;
  lock_.lock();
  if (r == 0) {
    w->tid = tid;
    w->tid_set = true;
    lock_.unlock();
    return 0;
  }
  if (w != nullptr) --threads_;
  bool unserved = threads_ == 0;
  if (unserved) {
    // No thread exists to take the job, so it is still queued: take it back so the caller can
    // report the error.
    queue_.remove(job);
    --queued_;
  }
  lock_.unlock();
  mem_delete(w);
  return unserved ? r : 0;
}

void* BlockingPool::thread_main(void* arg) {
  sys::mark_weft_thread();
  auto* self = static_cast<Worker*>(arg);
  self->pool->work(self);
  return nullptr;
}

void BlockingPool::work(Worker* self) noexcept {
  Clock::time_point idle_since = Clock::now();
  lock_.lock();
  for (;;) {
    if (BlockingJob* job = queue_.pop_front()) {
      --queued_;
      lock_.unlock();
      // Read first: a job without finish may be freed by the time work returns.
      BlockingJob::Fn finish = job->finish;
      job->work(job);
      // The child of a fork made by the job: whoever waits for it is in the parent, so there
      // is nothing for this thread to go back to. It ends as a process whose last thread
      // returned does.
      if (fork_epoch() != self->epoch) std::exit(0);
      jobs_done_.fetch_add(1, std::memory_order_relaxed);
      if (finish != nullptr) finish(job);  // the job's memory may be gone from here on
      idle_since = Clock::now();
      lock_.lock();
      continue;
    }
    long idle_ms = ms_since(idle_since);
    if (stopping_ || (self->tid_set && idle_ms >= static_cast<long>(kIdleExitMs))) break;
    ++idle_;
    std::uint32_t seq = wake_seq_.load(std::memory_order_relaxed);
    lock_.unlock();
    long left = static_cast<long>(kIdleExitMs) - idle_ms;
    futex_wait(&wake_seq_, seq, left > 0 ? left : static_cast<long>(kIdleExitMs));
    lock_.lock();
    --idle_;
  }
  --threads_;
  Worker* prev = std::exchange(zombie_, self);
  bool last = stopping_ && threads_ == 0;
  if (last) exit_seq_.fetch_add(1, std::memory_order_relaxed);
  lock_.unlock();
  if (last) sys::futex_wake(&exit_seq_, INT_MAX);
  if (prev != nullptr) {
    sys::join_thread(prev->tid);
    mem_delete(prev);
  }
}

void BlockingPool::after_fork_child() noexcept {
  // Nothing is destroyed: the queued jobs are in frames of fibers the child does not have, and
  // the workers (zombie_ included) are threads it does not have.
  new (&lock_) Lock();
  queue_.clear();
  queued_ = 0;
  threads_ = idle_ = 0;
  stopping_ = false;
  zombie_ = nullptr;
}

BlockingStats BlockingPool::stats() noexcept {
  lock_.lock();
  BlockingStats s;
  s.threads = threads_;
  s.threads_peak = peak_;
  s.queued = queued_;
  lock_.unlock();
  s.jobs = jobs_done_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace weft::rt
