// c11_threads: C11 <threads.h> (thrd_*, mtx_*, cnd_*, call_once, tss_*) on the shim's pthreads.
//
// glibc implements C11 threads on its internal pthread functions, which no interposition
// reaches: without these hooks thrd_create would make a real thread and a thread waiting in
// mtx_lock would hold its whole carrier. Each hook here calls the shim's own pthread hook and
// maps the result as glibc does (0 -> thrd_success, EBUSY -> thrd_busy, ETIMEDOUT ->
// thrd_timedout, ENOMEM -> thrd_nomem, anything else -> thrd_error). The types are glibc's
// pthread types under other names (thrd_t is pthread_t, mtx_t a pthread_mutex_t, once_flag a
// pthread_once_t, tss_t a pthread_key_t), so the objects are the pthread hooks' own and
// WEFT_STATS counts these calls under their pthread counterparts as well.
#include <pthread.h>
#include <sched.h>
#include <threads.h>
#include <time.h>
#include <cerrno>
#include <cstdint>
#include <cstdlib>

#include "base/memory.hpp"
#include "shim.hpp"
#include "stats.hpp"

static_assert(sizeof(thrd_t) == sizeof(pthread_t));
static_assert(sizeof(mtx_t) == sizeof(pthread_mutex_t));
static_assert(sizeof(cnd_t) == sizeof(pthread_cond_t));
static_assert(sizeof(once_flag) == sizeof(pthread_once_t));
static_assert(sizeof(tss_t) == sizeof(pthread_key_t));

namespace weft::shim {
namespace {

int thrd_result(int err) noexcept {
  switch (err) {
    case 0:
      return thrd_success;
    case EBUSY:
      return thrd_busy;
    case ETIMEDOUT:
      return thrd_timedout;
    case ENOMEM:
      return thrd_nomem;
    default:
      return thrd_error;
  }
}

void note(Sym s) noexcept {
  count(s, fiber_route());
}

// C11Start carries a C11 thread's int-returning function to the pthread start routine.
struct C11Start {
  thrd_start_t fn;
  void* arg;
};

void* c11_start(void* p) {
  C11Start start = *static_cast<C11Start*>(p);
  weft::rt::mem_free(p);
  // The int travels in the pointer-sized exit value, as glibc's C11 threads carry it.
  return reinterpret_cast<void*>(static_cast<std::intptr_t>(start.fn(start.arg)));
}

pthread_mutex_t* as_mutex(mtx_t* m) noexcept {
  return reinterpret_cast<pthread_mutex_t*>(m);
}

pthread_cond_t* as_cond(cnd_t* c) noexcept {
  return reinterpret_cast<pthread_cond_t*>(c);
}

}  // namespace
}  // namespace weft::shim

using namespace weft::shim;  // NOLINT: the hooks below are this file's whole content

extern "C" {

WEFT_EXPORT int thrd_create(thrd_t* thr, thrd_start_t fn, void* arg) {
  note(Sym::thrd_create);
  auto* start = static_cast<C11Start*>(weft::rt::mem_alloc(sizeof(C11Start)));
  if (start == nullptr) return thrd_nomem;
  *start = C11Start{fn, arg};
  int err = pthread_create(thr, nullptr, &c11_start, start);
  if (err != 0) weft::rt::mem_free(start);
  // glibc reports a refused thread (EAGAIN) as thrd_error, as thrd_result() does.
  return thrd_result(err);
}

WEFT_EXPORT int thrd_join(thrd_t thr, int* res) {
  note(Sym::thrd_join);
  void* value = nullptr;
  int err = pthread_join(thr, &value);
  if (err == 0 && res != nullptr) {
    *res = static_cast<int>(reinterpret_cast<std::intptr_t>(value));
  }
  return thrd_result(err);
}

WEFT_EXPORT int thrd_detach(thrd_t thr) noexcept {
  note(Sym::thrd_detach);
  return thrd_result(pthread_detach(thr));
}

WEFT_EXPORT thrd_t thrd_current() noexcept {
  note(Sym::thrd_current);
  return pthread_self();
}

WEFT_EXPORT int thrd_equal(thrd_t a, thrd_t b) noexcept {
  note(Sym::thrd_equal);
  return pthread_equal(a, b);
}

WEFT_EXPORT void thrd_exit(int res) {
  note(Sym::thrd_exit);
  pthread_exit(reinterpret_cast<void*>(static_cast<std::intptr_t>(res)));
}

WEFT_EXPORT int thrd_sleep(const timespec* duration, timespec* remaining) {
  note(Sym::thrd_sleep);
  // As glibc: 0 when slept, -1 when a signal interrupted it, another negative value on error.
  int err = clock_nanosleep(CLOCK_REALTIME, 0, duration, remaining);
  return err == 0 ? 0 : err == EINTR ? -1 : -2;
}

WEFT_EXPORT void thrd_yield() noexcept {
  note(Sym::thrd_yield);
  sched_yield();
}

WEFT_EXPORT int mtx_init(mtx_t* m, int type) noexcept {
  note(Sym::mtx_init);
  // As glibc: exactly the two recursive kinds make a recursive mutex; every other value,
  // unknown ones included, a normal one.
  bool recursive = type == (mtx_plain | mtx_recursive) || type == (mtx_timed | mtx_recursive);
  int kind = recursive ? PTHREAD_MUTEX_RECURSIVE : PTHREAD_MUTEX_NORMAL;
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_settype(&attr, kind);
  int err = pthread_mutex_init(as_mutex(m), &attr);
  pthread_mutexattr_destroy(&attr);
  return thrd_result(err);
}

WEFT_EXPORT int mtx_lock(mtx_t* m) noexcept {
  note(Sym::mtx_lock);
  return thrd_result(pthread_mutex_lock(as_mutex(m)));
}

WEFT_EXPORT int mtx_trylock(mtx_t* m) noexcept {
  note(Sym::mtx_trylock);
  return thrd_result(pthread_mutex_trylock(as_mutex(m)));
}

WEFT_EXPORT int mtx_timedlock(mtx_t* m, const timespec* abstime) noexcept {
  note(Sym::mtx_timedlock);
  return thrd_result(pthread_mutex_timedlock(as_mutex(m), abstime));
}

WEFT_EXPORT int mtx_unlock(mtx_t* m) noexcept {
  note(Sym::mtx_unlock);
  return thrd_result(pthread_mutex_unlock(as_mutex(m)));
}

WEFT_EXPORT void mtx_destroy(mtx_t* m) noexcept {
  note(Sym::mtx_destroy);
  pthread_mutex_destroy(as_mutex(m));
}

WEFT_EXPORT int cnd_init(cnd_t* c) noexcept {
  note(Sym::cnd_init);
  return thrd_result(pthread_cond_init(as_cond(c), nullptr));
}

WEFT_EXPORT int cnd_signal(cnd_t* c) noexcept {
  note(Sym::cnd_signal);
  return thrd_result(pthread_cond_signal(as_cond(c)));
}

WEFT_EXPORT int cnd_broadcast(cnd_t* c) noexcept {
  note(Sym::cnd_broadcast);
  return thrd_result(pthread_cond_broadcast(as_cond(c)));
}

WEFT_EXPORT int cnd_wait(cnd_t* c, mtx_t* m) {
  note(Sym::cnd_wait);
  return thrd_result(pthread_cond_wait(as_cond(c), as_mutex(m)));
}

WEFT_EXPORT int cnd_timedwait(cnd_t* c, mtx_t* m, const timespec* abstime) {
  note(Sym::cnd_timedwait);
  return thrd_result(pthread_cond_timedwait(as_cond(c), as_mutex(m), abstime));
}

WEFT_EXPORT void cnd_destroy(cnd_t* c) noexcept {
  note(Sym::cnd_destroy);
  pthread_cond_destroy(as_cond(c));
}

WEFT_EXPORT void call_once(once_flag* flag, void (*fn)()) {
  note(Sym::call_once);
  pthread_once(reinterpret_cast<pthread_once_t*>(flag), fn);
}

WEFT_EXPORT int tss_create(tss_t* key, tss_dtor_t dtor) noexcept {
  note(Sym::tss_create);
  return thrd_result(pthread_key_create(key, dtor));
}

WEFT_EXPORT void* tss_get(tss_t key) noexcept {
  note(Sym::tss_get);
  return pthread_getspecific(key);
}

WEFT_EXPORT int tss_set(tss_t key, void* value) noexcept {
  note(Sym::tss_set);
  return thrd_result(pthread_setspecific(key, value));
}

WEFT_EXPORT void tss_delete(tss_t key) noexcept {
  note(Sym::tss_delete);
  pthread_key_delete(key);
}

}  // extern "C"
