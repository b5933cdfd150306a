// threads: the program's pthreads as fibers -- create, join, detach, exit, self, equal.
//
// pthread_create on a fiber spawns a fiber (on the run's least loaded carrier) running the
// thread's function; off a fiber (code before main, the runtime's own threads) it makes a real
// thread. Joining waits on the record's Event (a fiber) or its futex word (a plain thread), so a
// joiner never blocks its carrier. Joining a real thread from a fiber runs pthread_join on a
// blocking-pool helper while the fiber waits.
//
// pthread_exit unwinds the fiber's stack the way glibc unwinds a thread's: a forced unwind
// (_Unwind_ForcedUnwind) runs C++ destructors and catch(...) blocks, which must rethrow as with
// glibc, and stops at the frame that called the thread's function, which then returns normally.
// pthread_exit from main waits until every fiber thread has finished and exits with status 0,
// as a process whose main thread left with pthread_exit ends when its last thread does.
#include <linux/futex.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include <weft/blocking.hpp>
#include <weft/fiber.hpp>

#include "base/memory.hpp"
#include "base/sys.hpp"
#include "real.hpp"
#include "sched/fls.hpp"
#include "sched/park.hpp"
#include "shim.hpp"
#include "sigmask.hpp"
#include "signals.hpp"
#include "stats.hpp"
#include "thread_record.hpp"
#include "thread_wait.hpp"

namespace weft::shim {
namespace {

// Fiber threads that have not finished, and whether main has left with pthread_exit.
std::atomic<long> g_live{0};
std::atomic<bool> g_main_exited{false};
// In a child forked by a thread other than main, that thread: it stands in for main, which the
// child does not have (see thread_main()).
ThreadRecord* g_fork_main = nullptr;
weft::Event* g_all_done = nullptr;
// The stack size a fresh pthread_attr_t reports: an attr that still has it asked for nothing.
std::size_t g_default_attr_stack = 0;

void unref(ThreadRecord* t) noexcept {
  if (t->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    t->magic = 0;
    weft::rt::mem_delete(t);
  }
}

// thread_finished() publishes the result and wakes joiners, then drops the thread's reference.
void thread_finished(ThreadRecord* t, void* retval) noexcept {
  t->retval = retval;
  t->done.store(1, std::memory_order_release);
  sys::futex_wake(&t->done, INT32_MAX);
  t->done_event.set();
  unref(t);
  if (g_live.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
      g_main_exited.load(std::memory_order_seq_cst)) {
    g_all_done->set();
  }
}

void exit_unwind_cleanup(_Unwind_Reason_Code, _Unwind_Exception*) {
  // Reached only if a catch block swallowed the unwinding instead of rethrowing it.
  sys::write_stderr("weft: pthread_exit: a catch block did not rethrow the thread's unwinding\n");
  std::abort();
}

_Unwind_Reason_Code exit_unwind_stop(int, _Unwind_Action actions, _Unwind_Exception_Class,
                                     _Unwind_Exception*, _Unwind_Context* ctx, void* param) {
  auto* t = static_cast<ThreadRecord*>(param);
  // Stop at the function that called the thread's function, before its own clean-ups run (it
  // may be noexcept, which would make the unwinder terminate). The frame is told by the function
  // it belongs to: a CFA comparison would be off by one frame, since the stop function sees each
  // frame with its callee's CFA.
  if ((actions & _UA_END_OF_STACK) != 0 || _Unwind_GetRegionStart(ctx) == t->exit_function) {
    longjmp(t->exit_jump, 1);
  }
  return _URC_NO_REASON;
}

// call_thread_fn() runs fn(arg) so that pthread_exit can end it; returns fn's result or the
// value given to pthread_exit.
__attribute__((noinline)) void* call_thread_fn(ThreadRecord* t, void* (*fn)(void*), void* arg) {
  t->exit_function = reinterpret_cast<std::uintptr_t>(&call_thread_fn);
  if (setjmp(t->exit_jump) != 0) return t->retval;
  return fn(arg);
}

void thread_main(ThreadRecord* t) noexcept {
  rt::fls_set_owner(t);
  t->fiber.store(rt::running_fiber(), std::memory_order_release);
  if (t->name[0] != '\0') weft::this_fiber::set_name(t->name);
  void* retval = call_thread_fn(t, t->fn, t->arg);
  stats_fiber_end();
  // The thread's storage is destroyed now (thread_local destructors, then the keys'), as glibc
  // does before the thread counts as ended: they may call pthread_self() and lock mutexes as
  // this thread, whose record is freed below.
  rt::fiber_exit_storage(rt::running_fiber());
  forget_queued_signals(t);
  bool fork_main = t == g_fork_main;  // read first: thread_finished() may free t
  thread_finished(t, retval);
  if (!fork_main) return;
  // The forked child's first thread returned. Natively the process lives on until its last
  // thread has returned, then exits with status 0; here that thread's fiber is the child run's
  // main, whose end would cancel the others, so it waits as a main that called pthread_exit.
  if (g_live.load(std::memory_order_seq_cst) != 0) g_all_done->wait();
  std::exit(0);
}

// stack_for() is the fiber stack a thread made with attr gets: what the attr asked for, or
// the run's default (WEFT_STACK_SIZE) when it asked for nothing.
std::size_t stack_for(const pthread_attr_t* attr) noexcept {
  if (attr == nullptr) return 0;
  std::size_t size = 0;
  if (pthread_attr_getstacksize(attr, &size) != 0 || size == g_default_attr_stack) return 0;
  constexpr std::size_t kMin = 16 * 1024;
  constexpr std::size_t kMax = std::size_t{1} << 30;
  return size < kMin ? kMin : size > kMax ? kMax : size;
}

int join_fiber_thread(ThreadRecord* t, void** retval, const WaitLimit& limit) noexcept {
  if (on_fiber() && t == current_thread()) return EDEADLK;
  int expected = ThreadRecord::kJoinable;
  if (!t->join_state.compare_exchange_strong(expected, ThreadRecord::kJoining)) return EINVAL;
  int r = wait_thread_done(*t, limit);
  if (r != 0) {
    t->join_state.store(ThreadRecord::kJoinable, std::memory_order_release);
    return r;
  }
  if (retval != nullptr) *retval = t->retval;
  unref(t);
  return 0;
}

}  // namespace

void threads_init() noexcept {
  // Never destroyed: static destructors run at exit while fibers may still wait on or set it.
  g_all_done = weft::rt::mem_new<weft::Event>();
  if (g_all_done == nullptr) {
    sys::write_stderr("weft: out of memory while loading the shim\n");
    std::abort();
  }
  pthread_attr_t attr;
  if (pthread_attr_init(&attr) == 0) {
    pthread_attr_getstacksize(&attr, &g_default_attr_stack);
    pthread_attr_destroy(&attr);
  }
}

// The forked child's only thread keeps the identity its fiber had, as a forked thread keeps its
// pthread_t natively: mutexes it held before the fork stay its own. Set on that thread only.
constinit thread_local pthread_t tls_forked_self __attribute__((tls_model("initial-exec"))) = 0;

void threads_after_fork_child(bool fresh) noexcept {
  if (!fresh) {
    if (weft::in_fiber()) {
      tls_forked_self = handle_of(current_thread());
      signals_after_fork_child(current_thread(), false);
    }
    return;
  }
  // The counts were the parent's threads. The old event may have waiters of the parent's; it is
  // leaked rather than destroyed.
  ThreadRecord* self = current_thread();
  signals_after_fork_child(self, true);
  g_all_done = weft::rt::mem_new<weft::Event>();
  if (g_all_done == nullptr) {
    sys::write_stderr("weft: out of memory in a forked child\n");
    std::abort();
  }
  bool main = self->is_main;
  g_live.store(main ? 0 : 1, std::memory_order_relaxed);
  g_main_exited.store(!main, std::memory_order_relaxed);
  g_fork_main = main ? nullptr : self;
}

ThreadRecord* current_thread() noexcept {
  if (void* p = rt::fls_owner()) return static_cast<ThreadRecord*>(p);
  // The main fiber, the only fiber not made by pthread_create. Its record is static: this runs
  // inside the first hook main calls, which may be the program's malloc taking its lock, so
  // allocating it there would re-enter that malloc (and this hook) without end.
  alignas(ThreadRecord) static unsigned char main_record[sizeof(ThreadRecord)];
  // Made once. A fiber of the program that has no owner yet is a new thread in its first
  // instructions, before thread_main() set its owner; a signal handler that runs there and calls
  // a hook gets main's record rather than a second one made over the first.
  static std::atomic<bool> made{false};
  if (made.exchange(true, std::memory_order_acq_rel)) {
    return std::launder(reinterpret_cast<ThreadRecord*>(main_record));
  }
  auto* t = new (main_record) ThreadRecord;
  t->is_main = true;
  t->fiber.store(rt::running_fiber(), std::memory_order_release);
  ::prctl(PR_GET_NAME, t->name);
  rt::fls_set_owner(t);
  // Main's mask is the one the process started with (read before any thread of weft's ran).
  sigmask_register(t, start_mask());
  return t;
}

[[noreturn]] void run_main_fiber(int (*main)(int, char**, char**), int argc, char** argv,
                                 char** envp) noexcept {
  ThreadRecord* t = current_thread();
  signals_set_main(t);
  t->exit_function = reinterpret_cast<std::uintptr_t>(&run_main_fiber);
  if (setjmp(t->exit_jump) == 0) std::exit(main(argc, argv, envp));
  // main called pthread_exit: the process lives on until its last thread has finished.
  g_main_exited.store(true, std::memory_order_seq_cst);
  if (g_live.load(std::memory_order_seq_cst) != 0) g_all_done->wait();
  std::exit(0);
}

}  // namespace weft::shim

using weft::shim::count;
using weft::shim::on_fiber;
using weft::shim::Route;
using weft::shim::Sym;
using weft::shim::ThreadRecord;

extern "C" {

WEFT_EXPORT int pthread_create(pthread_t* thread, const pthread_attr_t* attr, void* (*fn)(void*),
                               void* arg) noexcept {
  if (!on_fiber()) {
    count(Sym::pthread_create, Route::kOffFiber);
    auto real = WEFT_REAL(pthread_create);
    return real != nullptr ? real(thread, attr, fn, arg) : EAGAIN;
  }
  count(Sym::pthread_create, Route::kWeft);
  int detach = PTHREAD_CREATE_JOINABLE;
  if (attr != nullptr && pthread_attr_getdetachstate(attr, &detach) != 0) return EINVAL;
  auto* t = weft::rt::mem_new<ThreadRecord>();
  if (t == nullptr) return EAGAIN;
  t->fn = fn;
  t->arg = arg;
  // A new thread is named like the thread that made it, as the kernel names a new task.
  std::memcpy(t->name, weft::shim::current_thread()->name, ThreadRecord::kNameSize);
  // A new thread starts with its creator's mask; from now on signals may choose it.
  weft::shim::sigmask_register(t, weft::shim::fiber_mask());
  if (detach == PTHREAD_CREATE_DETACHED) {
    t->join_state.store(ThreadRecord::kDetached, std::memory_order_relaxed);
    t->refs.store(1, std::memory_order_relaxed);
  }
  weft::shim::ErrnoScope keep;
  weft::shim::g_live.fetch_add(1, std::memory_order_seq_cst);
  try {
    weft::spawn_with({.name = "pthread", .stack_size = weft::shim::stack_for(attr)}, [t] {
      weft::shim::thread_main(t);
    }).detach();
  } catch (...) {
    weft::shim::g_live.fetch_sub(1, std::memory_order_seq_cst);
    weft::shim::sigmask_unregister(t);
    weft::rt::mem_delete(t);
    keep.restore();
    return EAGAIN;
  }
  keep.restore();
  *thread = weft::shim::handle_of(t);
  return 0;
}

WEFT_EXPORT int pthread_join(pthread_t thread, void** retval) {
  if (!weft::shim::is_fiber_handle(thread)) {
    auto real = WEFT_REAL(pthread_join);
    if (real == nullptr) return ESRCH;
    if (!on_fiber()) {
      count(Sym::pthread_join, Route::kOffFiber);
      return real(thread, retval);
    }
    // A real thread: join it on a helper thread so the carrier keeps running fibers.
    count(Sym::pthread_join, Route::kForeign);
    weft::shim::ErrnoScope keep;
    try {
      int r = weft::blocking(real, thread, retval);
      keep.restore();
      return r;
    } catch (...) {
      keep.restore();
      return EAGAIN;
    }
  }
  count(Sym::pthread_join, weft::shim::fiber_route());
  ThreadRecord* t = weft::shim::record_of(thread);
  if (t == nullptr) return ESRCH;
  return weft::shim::join_fiber_thread(t, retval, weft::shim::WaitLimit::forever());
}

WEFT_EXPORT int pthread_tryjoin_np(pthread_t thread, void** retval) noexcept {
  if (!weft::shim::is_fiber_handle(thread)) {
    count(Sym::pthread_tryjoin_np, Route::kForeign);
    auto real = WEFT_REAL(pthread_tryjoin_np);
    return real != nullptr ? real(thread, retval) : ESRCH;
  }
  count(Sym::pthread_tryjoin_np, Route::kWeft);
  ThreadRecord* t = weft::shim::record_of(thread);
  if (t == nullptr) return ESRCH;
  return weft::shim::join_fiber_thread(t, retval, weft::shim::WaitLimit::now());
}

WEFT_EXPORT int pthread_timedjoin_np(pthread_t thread, void** retval, const timespec* abstime) {
  if (!weft::shim::is_fiber_handle(thread)) {
    count(Sym::pthread_timedjoin_np, Route::kForeign);
    auto real = WEFT_REAL(pthread_timedjoin_np);
    return real != nullptr ? real(thread, retval, abstime) : ESRCH;
  }
  count(Sym::pthread_timedjoin_np, Route::kWeft);
  ThreadRecord* t = weft::shim::record_of(thread);
  if (t == nullptr) return ESRCH;
  if (abstime == nullptr) {
    return weft::shim::join_fiber_thread(t, retval, weft::shim::WaitLimit::forever());
  }
  weft::shim::WaitLimit limit;
  if (int r = weft::shim::WaitLimit::until(CLOCK_REALTIME, *abstime, limit); r != 0) return r;
  return weft::shim::join_fiber_thread(t, retval, limit);
}

WEFT_EXPORT int pthread_clockjoin_np(pthread_t thread, void** retval, clockid_t clock,
                                     const timespec* abstime) {
  if (!weft::shim::is_fiber_handle(thread)) {
    count(Sym::pthread_clockjoin_np, Route::kForeign);
    auto real = WEFT_REAL(pthread_clockjoin_np);
    return real != nullptr ? real(thread, retval, clock, abstime) : ESRCH;
  }
  count(Sym::pthread_clockjoin_np, Route::kWeft);
  ThreadRecord* t = weft::shim::record_of(thread);
  if (t == nullptr) return ESRCH;
  if (abstime == nullptr) {
    return weft::shim::join_fiber_thread(t, retval, weft::shim::WaitLimit::forever());
  }
  weft::shim::WaitLimit limit;
  if (int r = weft::shim::WaitLimit::until(clock, *abstime, limit); r != 0) return r;
  return weft::shim::join_fiber_thread(t, retval, limit);
}

WEFT_EXPORT int pthread_detach(pthread_t thread) noexcept {
  if (!weft::shim::is_fiber_handle(thread)) {
    count(Sym::pthread_detach, Route::kForeign);
    auto real = WEFT_REAL(pthread_detach);
    return real != nullptr ? real(thread) : ESRCH;
  }
  count(Sym::pthread_detach, Route::kWeft);
  ThreadRecord* t = weft::shim::record_of(thread);
  if (t == nullptr) return ESRCH;
  int expected = ThreadRecord::kJoinable;
  if (!t->join_state.compare_exchange_strong(expected, ThreadRecord::kDetached)) return EINVAL;
  weft::shim::unref(t);
  return 0;
}

WEFT_EXPORT pthread_t pthread_self() noexcept {
  if (!on_fiber()) {
    if (weft::shim::tls_forked_self != 0) return weft::shim::tls_forked_self;
    auto real = WEFT_REAL(pthread_self);
    return real != nullptr ? real() : 0;
  }
  return weft::shim::handle_of(weft::shim::current_thread());
}

WEFT_EXPORT int pthread_equal(pthread_t a, pthread_t b) noexcept {
  return a == b;
}

WEFT_EXPORT void pthread_exit(void* retval) {
  if (!on_fiber()) {
    count(Sym::pthread_exit, Route::kOffFiber);
    auto real = WEFT_REAL(pthread_exit);
    if (real != nullptr) real(retval);
    std::abort();
  }
  count(Sym::pthread_exit, Route::kWeft);
  ThreadRecord* t = weft::shim::current_thread();
  t->retval = retval;
  t->unwind.exception_class = 0x5745465445584954ull;  // "WEFTEXIT"
  t->unwind.exception_cleanup = weft::shim::exit_unwind_cleanup;
  _Unwind_ForcedUnwind(&t->unwind, weft::shim::exit_unwind_stop, t);
  // Unwinding found no frame to stop at (no unwind tables): jump to the thread's start directly.
  longjmp(t->exit_jump, 1);
}

}  // extern "C"
