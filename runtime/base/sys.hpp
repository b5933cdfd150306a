// sys: the raw system calls the runtime itself needs.
//
// The shim interposes libc's read, write, close, poll and friends, and syscall(3) itself (a
// program's futexes go through it); if the runtime called any of those symbols it would re-enter
// itself. Everything here enters the kernel directly (the instruction is in base/arch/, one file
// per architecture, the only place that knows it) and returns the kernel's result, a value or
// -errno, like a CQE's res: errno is never touched, so a hook that calls the runtime keeps the
// program's errno without saving it first.
#pragma once

#include <pthread.h>
#include <signal.h>
#include <sys/types.h>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <weft/deadline.hpp>

#if defined(__x86_64__)
#include "base/arch/x86_64.hpp"
#elif defined(__aarch64__)
#include "base/arch/aarch64.hpp"
#else
#error "weft makes system calls on x86_64 and aarch64 only (runtime/base/arch/)"
#endif

struct pollfd;

namespace weft::sys {

namespace detail {
// word() is a system call argument as the register that carries it.
template <class T>
long word(T v) noexcept {
  if constexpr (std::is_pointer_v<T> || std::is_null_pointer_v<T>) {
    return reinterpret_cast<long>(v);
  } else {
    return static_cast<long>(v);
  }
}
}  // namespace detail

// call() makes system call n (a SYS_* number) with up to six arguments, straight into the kernel,
// never through libc; returns the kernel's result: a value, or -errno.
template <class... A>
long call(long n, A... args) noexcept {
  static_assert(sizeof...(A) <= 6, "a system call takes at most six arguments");
  long w[6] = {detail::word(args)...};
  return arch::syscall6(n, w[0], w[1], w[2], w[3], w[4], w[5]);
}

// read() is read(2) returning -errno.
ssize_t read(int fd, void* buf, std::size_t n) noexcept;
// write() is write(2) returning -errno.
ssize_t write(int fd, const void* buf, std::size_t n) noexcept;
// close() is close(2) returning -errno.
int close(int fd) noexcept;
// dup2() is dup2(2) returning -errno.
int dup2(int from, int to) noexcept;
// dup3() is dup3(2) returning -errno.
int dup3(int from, int to, int flags) noexcept;
// poll() is poll(2) returning -errno.
int poll(pollfd* fds, unsigned nfds, int timeout_ms) noexcept;
// futex_wait() sleeps while *word holds expected, at most timeout (relative; forever when null),
// as FUTEX_WAIT_PRIVATE; returns 0 once woken, or -EAGAIN (the value differed), -ETIMEDOUT or
// -EINTR. A caller rechecks its condition either way: futex wake-ups may be spurious.
int futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected,
               const timespec* timeout = nullptr) noexcept;
// futex_wait_until() sleeps while *word holds value, until deadline passes (forever when it is
// unset), and leaves errno alone; returns whether the word changed (false: the deadline passed).
bool futex_wait_until(std::atomic<std::uint32_t>* word, std::uint32_t value,
                      const Deadline& deadline) noexcept;
// futex_wake() wakes up to n threads sleeping in futex_wait() on word; returns how many woke.
int futex_wake(std::atomic<std::uint32_t>* word, int n) noexcept;
// yield_thread() is sched_yield(2): it lets another OS thread run.
void yield_thread() noexcept;
// check_seekable() returns 0 if fd can be read at an offset, else -ESPIPE (pipes, sockets)
// or -EBADF. io_uring silently ignores the offset of a stream, where pread(2) refuses.
int check_seekable(int fd) noexcept;
// ThreadHooks are the pthread functions the runtime starts and joins its own threads with
// (carriers, the blocking pool, the watchdog), and the key it runs a plain thread's fiber-local
// destructors with at its exit. The shim interposes pthread_create to turn the program's threads
// into fibers, and the key functions to make keys per fiber, so it points these at libc's real
// ones.
struct ThreadHooks {
  // create is pthread_create.
  int (*create)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*) = &pthread_create;
  // join is pthread_join.
  int (*join)(pthread_t, void**) = &pthread_join;
  // key_create is pthread_key_create.
  int (*key_create)(pthread_key_t*, void (*)(void*)) = &pthread_key_create;
  // set_specific is pthread_setspecific.
  int (*set_specific)(pthread_key_t, const void*) = &pthread_setspecific;
  // block_signals makes every thread the runtime starts begin with every signal blocked but
  // glibc's own two: the shim sets it so that no program signal lands on a thread of weft's
  // (carriers then take the set the shim computes, via SignalHooks::carrier_start).
  bool block_signals = false;
};
// thread_hooks() is the process-wide table; set it before the first weft::run.
ThreadHooks& thread_hooks() noexcept;
// SignalHooks is the sigaction the runtime installs its own handlers with (stack overflow,
// the dump signal, the watchdog's backtraces). The shim interposes sigaction to wrap the
// program's handlers, so it points this at libc's real one: the runtime's handlers are no
// program's and must not interrupt the program's calls.
struct SignalHooks {
  // action is sigaction.
  int (*action)(int, const struct sigaction*, struct sigaction*) = &::sigaction;
  // carrier_start, if set, runs on each carrier thread the runtime starts, before its loop (the
  // shim gives the carrier its kernel signal mask there).
  void (*carrier_start)() noexcept = nullptr;
};
// signal_hooks() is the process-wide table; set it before the first weft::run.
SignalHooks& signal_hooks() noexcept;
// sigaction() is sigaction(2) through signal_hooks(), returning -errno.
int sigaction(int sig, const struct sigaction* act, struct sigaction* old) noexcept;
// default_action() sets sig's disposition back to SIG_DFL (async-signal-safe).
void default_action(int sig) noexcept;
// start_thread() starts an OS thread running fn(arg) on a stack of stack_size bytes: glibc's, or
// the caller's memory at stack (which must outlive the thread); returns 0 or -errno.
int start_thread(pthread_t* thread, void* (*fn)(void*), void* arg,
                 std::size_t stack_size = 256 * 1024, void* stack = nullptr) noexcept;
// block_all_signals() blocks every signal on the calling thread but glibc's own two (32 and 33,
// which setuid() and thread cancellation need on every thread); stores the old mask in *old if
// old is not null; async-signal-safe.
void block_all_signals(sigset_t* old) noexcept;
// set_signal_mask() sets the calling thread's kernel signal mask (rt_sigprocmask,
// async-signal-safe).
void set_signal_mask(const sigset_t& mask) noexcept;
// join_thread() waits for an OS thread started by start_thread(); returns 0 or -errno.
int join_thread(pthread_t thread) noexcept;
// mark_weft_thread() marks the calling OS thread as one of weft's own (a carrier, the watchdog,
// a blocking-pool helper): the shim does not count the calls it makes off a fiber in its stats.
void mark_weft_thread() noexcept;
// weft_thread() tells whether mark_weft_thread() marked the calling OS thread (its TLS: on a
// fiber with TLS of its own, false).
bool weft_thread() noexcept;

// write_stderr() writes a whole report to the report sink (base/report.hpp: a handler the
// program set, WEFT_LOG's file, or the duplicate of fd 2 taken at start) in one write, ignoring
// errors; async-signal-safe unless a handler is set (from a signal handler, use
// write_report_signal_safe()).
void write_stderr(const char* msg) noexcept;

}  // namespace weft::sys
