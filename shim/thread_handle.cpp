// thread_handle: the pthread functions that take a pthread_t, for fiber threads' handles.
//
// glibc would dereference a fiber's handle as its struct pthread, so every such function is
// interposed: a real thread's handle passes through; a fiber thread's is served here where a
// fiber has a meaning for the call (names, attributes, liveness, signals: signals.hpp), and
// refused with ENOTSUP where it has none yet (scheduling, affinity, CPU clocks, cancellation).
#include <sched.h>
#include <signal.h>
#include <cerrno>
#include <cstring>

#include <weft/fiber.hpp>

#include "real.hpp"
#include "shim.hpp"
#include "signals.hpp"
#include "stats.hpp"
#include "thread_record.hpp"

using weft::shim::count;
using weft::shim::is_fiber_handle;
using weft::shim::record_of;
using weft::shim::Route;
using weft::shim::Sym;
using weft::shim::ThreadRecord;

// WEFT_FOREIGN passes a real thread's handle through to libc (ESRCH if libc lacks the call).
#define WEFT_FOREIGN(name, thread, ...)                             \
  do {                                                              \
    if (!is_fiber_handle(thread)) {                                 \
      count(Sym::name, Route::kForeign);                            \
      auto real = WEFT_REAL(name);                                  \
      return real != nullptr ? real(thread, ##__VA_ARGS__) : ESRCH; \
    }                                                               \
    count(Sym::name, Route::kWeft);                                 \
  } while (0)

extern "C" {

WEFT_EXPORT int pthread_setname_np(pthread_t thread, const char* name) noexcept {
  WEFT_FOREIGN(pthread_setname_np, thread, name);
  ThreadRecord* t = record_of(thread);
  if (t == nullptr) return ESRCH;
  std::size_t n = std::strlen(name);
  if (n >= ThreadRecord::kNameSize) return ERANGE;
  std::memcpy(t->name, name, n + 1);
  // The fiber's own name shows in fiber dumps; only the fiber itself may change it.
  if (weft::shim::on_fiber() && t == weft::shim::current_thread()) {
    weft::this_fiber::set_name(name);
  }
  return 0;
}

WEFT_EXPORT int pthread_getname_np(pthread_t thread, char* buf, size_t len) noexcept {
  WEFT_FOREIGN(pthread_getname_np, thread, buf, len);
  ThreadRecord* t = record_of(thread);
  if (t == nullptr) return ESRCH;
  std::size_t n = strnlen(t->name, ThreadRecord::kNameSize - 1);
  if (len <= n) return ERANGE;
  std::memcpy(buf, t->name, n);
  buf[n] = '\0';
  return 0;
}

WEFT_EXPORT int pthread_getattr_np(pthread_t thread, pthread_attr_t* attr) noexcept {
  WEFT_FOREIGN(pthread_getattr_np, thread, attr);
  ThreadRecord* t = record_of(thread);
  if (t == nullptr) return ESRCH;
  weft::detail::FiberControl* f = t->fiber.load(std::memory_order_acquire);
  if (f == nullptr) return ESRCH;  // created but not started yet
  if (int r = pthread_attr_init(attr); r != 0) return r;
  // The fiber's stack, so code that finds its own stack bounds (GCs, runtimes) gets the truth.
  pthread_attr_setstack(attr, f->stack_.base, f->stack_.size);
  pthread_attr_setguardsize(attr, f->stack_.guarded ? 64 * 1024 : 0);
  if (t->join_state.load(std::memory_order_acquire) == ThreadRecord::kDetached) {
    pthread_attr_setdetachstate(attr, PTHREAD_CREATE_DETACHED);
  }
  return 0;
}

WEFT_EXPORT int pthread_kill(pthread_t thread, int sig) noexcept {
  WEFT_FOREIGN(pthread_kill, thread, sig);
  ThreadRecord* t = record_of(thread);
  if (t == nullptr) return ESRCH;
  // glibc refuses its own signals (cancellation, setxid) and the kernel numbers it does not know.
  if (sig < 0 || sig >= NSIG || sig == 32 || sig == 33) return EINVAL;
  // Signal 0 only asks whether the handle is valid: glibc answers 0 for a thread that has ended
  // but was not joined, and sends nothing to one that is ending.
  if (sig == 0) return 0;
  return weft::shim::send_to_thread(t, sig, SI_TKILL, sigval{});
}

WEFT_EXPORT int pthread_sigqueue(pthread_t thread, int sig, const union sigval value) noexcept {
  WEFT_FOREIGN(pthread_sigqueue, thread, sig, value);
  ThreadRecord* t = record_of(thread);
  // Unlike pthread_kill, glibc's pthread_sigqueue refuses a thread that has ended.
  if (t == nullptr || t->done.load(std::memory_order_acquire) != 0) return ESRCH;
  if (sig == 32 || sig == 33) return EINVAL;
  if (sig < 0 || sig >= NSIG) return EINVAL;
  if (sig == 0) return 0;
  return weft::shim::send_to_thread(t, sig, SI_QUEUE, value);
}

WEFT_EXPORT int pthread_cancel(pthread_t thread) {
  WEFT_FOREIGN(pthread_cancel, thread);
  return record_of(thread) == nullptr ? ESRCH : ENOTSUP;
}

WEFT_EXPORT int pthread_setaffinity_np(pthread_t thread, size_t size,
                                       const cpu_set_t* set) noexcept {
  WEFT_FOREIGN(pthread_setaffinity_np, thread, size, set);
  return record_of(thread) == nullptr ? ESRCH : ENOTSUP;
}

WEFT_EXPORT int pthread_getaffinity_np(pthread_t thread, size_t size, cpu_set_t* set) noexcept {
  WEFT_FOREIGN(pthread_getaffinity_np, thread, size, set);
  return record_of(thread) == nullptr ? ESRCH : ENOTSUP;
}

WEFT_EXPORT int pthread_setschedparam(pthread_t thread, int policy,
                                      const sched_param* param) noexcept {
  WEFT_FOREIGN(pthread_setschedparam, thread, policy, param);
  return record_of(thread) == nullptr ? ESRCH : ENOTSUP;
}

WEFT_EXPORT int pthread_getschedparam(pthread_t thread, int* policy, sched_param* param) noexcept {
  WEFT_FOREIGN(pthread_getschedparam, thread, policy, param);
  return record_of(thread) == nullptr ? ESRCH : ENOTSUP;
}

WEFT_EXPORT int pthread_setschedprio(pthread_t thread, int prio) noexcept {
  WEFT_FOREIGN(pthread_setschedprio, thread, prio);
  return record_of(thread) == nullptr ? ESRCH : ENOTSUP;
}

WEFT_EXPORT int pthread_getcpuclockid(pthread_t thread, clockid_t* clock) noexcept {
  WEFT_FOREIGN(pthread_getcpuclockid, thread, clock);
  return record_of(thread) == nullptr ? ESRCH : ENOTSUP;
}

}  // extern "C"
