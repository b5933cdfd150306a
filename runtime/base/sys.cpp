#include "base/sys.hpp"

#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cerrno>
#include <chrono>
#include <cstring>

namespace weft::sys {

ssize_t read(int fd, void* buf, std::size_t n) noexcept {
  return call(SYS_read, fd, buf, n);
}

ssize_t write(int fd, const void* buf, std::size_t n) noexcept {
  return call(SYS_write, fd, buf, n);
}

int close(int fd) noexcept {
  return static_cast<int>(call(SYS_close, fd));
}

int dup2(int from, int to) noexcept {
  // x86-64 and arm64 alike have dup3; dup2 onto itself, which dup3 refuses, is checked by hand.
  if (from == to) return call(SYS_fcntl, from, F_GETFD) < 0 ? -EBADF : to;
  return static_cast<int>(call(SYS_dup3, from, to, 0));
}

int dup3(int from, int to, int flags) noexcept {
  return static_cast<int>(call(SYS_dup3, from, to, flags));
}

int poll(pollfd* fds, unsigned nfds, int timeout_ms) noexcept {
  return static_cast<int>(call(SYS_poll, fds, nfds, timeout_ms));
}

int futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected,
               const timespec* timeout) noexcept {
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
  return static_cast<int>(call(SYS_futex, reinterpret_cast<std::uint32_t*>(word),
                               FUTEX_WAIT_PRIVATE, expected, timeout, nullptr, 0));
}

bool futex_wait_until(std::atomic<std::uint32_t>* word, std::uint32_t value,
                      const Deadline& deadline) noexcept {
  while (word->load(std::memory_order_acquire) == value) {
    timespec rel{};
    timespec* timeout = nullptr;
    if (deadline.is_set()) {
      auto left = deadline.at() - Clock::now();
      if (left <= Clock::duration::zero()) break;
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      rel.tv_sec = static_cast<time_t>(ns / 1000000000);
      rel.tv_nsec = static_cast<long>(ns % 1000000000);
      timeout = &rel;
    }
    futex_wait(word, value, timeout);
  }
  return word->load(std::memory_order_acquire) != value;
}

int futex_wake(std::atomic<std::uint32_t>* word, int n) noexcept {
  return static_cast<int>(call(SYS_futex, reinterpret_cast<std::uint32_t*>(word),
                               FUTEX_WAKE_PRIVATE, n, nullptr, nullptr, 0));
}

void yield_thread() noexcept {
  call(SYS_sched_yield);
}

int check_seekable(int fd) noexcept {
  long r = call(SYS_lseek, fd, 0, SEEK_CUR);
  return r < 0 ? static_cast<int>(r) : 0;
}

ThreadHooks& thread_hooks() noexcept {
  static ThreadHooks hooks;
  return hooks;
}

SignalHooks& signal_hooks() noexcept {
  static SignalHooks hooks;
  return hooks;
}

int sigaction(int sig, const struct sigaction* act, struct sigaction* old) noexcept {
  int saved = errno;
  int r = signal_hooks().action(sig, act, old) == 0 ? 0 : -errno;
  errno = saved;
  return r;
}

void default_action(int sig) noexcept {
  struct sigaction sa {};
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  weft::sys::sigaction(sig, &sa, nullptr);
}

int start_thread(pthread_t* thread, void* (*fn)(void*), void* arg, std::size_t stack_size,
                 void* stack) noexcept {
  pthread_attr_t attr;
  if (pthread_attr_init(&attr) != 0) return -ENOMEM;
  if (stack != nullptr) {
    pthread_attr_setstack(&attr, stack, stack_size);
  } else {
    pthread_attr_setstacksize(&attr, stack_size);
  }
  // A new thread inherits its creator's mask: block around the creation, not in the thread,
  // so that no signal reaches it before its first instruction.
  bool block = thread_hooks().block_signals;
  sigset_t old;
  if (block) block_all_signals(&old);
  int r = thread_hooks().create(thread, &attr, fn, arg);
  if (block) set_signal_mask(old);
  pthread_attr_destroy(&attr);
  return -r;
}

void block_all_signals(sigset_t* old) noexcept {
  sigset_t all;
  sigfillset(&all);
  // glibc's sigfillset already leaves out 32 and 33; a raw mask must say so itself.
  sigdelset(&all, 32);
  sigdelset(&all, 33);
  call(SYS_rt_sigprocmask, SIG_BLOCK, &all, old, _NSIG / 8);
}

void set_signal_mask(const sigset_t& mask) noexcept {
  call(SYS_rt_sigprocmask, SIG_SETMASK, &mask, nullptr, _NSIG / 8);
}

namespace {
constinit thread_local bool tls_weft_thread __attribute__((tls_model("initial-exec"))) = false;
}  // namespace

void mark_weft_thread() noexcept {
  tls_weft_thread = true;
}

bool weft_thread() noexcept {
  return tls_weft_thread;
}

int join_thread(pthread_t thread) noexcept {
  return -thread_hooks().join(thread, nullptr);
}

}  // namespace weft::sys
