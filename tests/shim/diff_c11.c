// diff_c11: C11 <threads.h> -- thrd_create/join/exit/detach, mtx_* (plain, timed, recursive),
// cnd_* , call_once, tss_* with destructors, thrd_sleep -- give the same results natively and
// under the shim. On one carrier, workers hold a C11 mutex across thrd_sleep and wait on C11
// condition variables: if these calls were glibc's (real threads, futex waits), the carrier
// would hang instead of finishing.
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <threads.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static const struct timespec kMs = {0, 1000000};

// Workers increment a counter under a mutex they hold across a sleep.
static mtx_t counter_lock;
static long counter;

static int bump(void* arg) {
  int id = (int)(intptr_t)arg;
  for (int i = 0; i < 5; ++i) {
    CHECK(mtx_lock(&counter_lock) == thrd_success);
    long seen = counter;
    thrd_sleep(&kMs, NULL);  // a thread that slept holding the lock must find it unchanged
    counter = seen + 1;
    CHECK(mtx_unlock(&counter_lock) == thrd_success);
  }
  return id * 10;
}

// A bounded queue with two condition variables.
enum { kCap = 4, kItems = 2000 };
static mtx_t q_lock;
static cnd_t q_not_empty, q_not_full;
static int q_items[kCap], q_head, q_len;
static long q_sum;

static int produce(void* arg) {
  (void)arg;
  for (int i = 1; i <= kItems; ++i) {
    mtx_lock(&q_lock);
    while (q_len == kCap) cnd_wait(&q_not_full, &q_lock);
    q_items[(q_head + q_len++) % kCap] = i;
    cnd_signal(&q_not_empty);
    mtx_unlock(&q_lock);
  }
  return 0;
}

static int consume(void* arg) {
  (void)arg;
  for (int i = 0; i < kItems; ++i) {
    mtx_lock(&q_lock);
    while (q_len == 0) cnd_wait(&q_not_empty, &q_lock);
    q_sum += q_items[q_head];
    q_head = (q_head + 1) % kCap;
    --q_len;
    cnd_signal(&q_not_full);
    mtx_unlock(&q_lock);
  }
  return 0;
}

// A thread that holds a mutex until told to let go (over a pipe, so nothing depends on timing).
static mtx_t timed_lock;
static int hold_pipe[2], held_pipe[2];

static int holder(void* arg) {
  (void)arg;
  char c;
  mtx_lock(&timed_lock);
  CHECK(write(held_pipe[1], "h", 1) == 1);
  CHECK(read(hold_pipe[0], &c, 1) == 1);
  mtx_unlock(&timed_lock);
  return 0;
}

static once_flag once = ONCE_FLAG_INIT;
static int once_runs;

static void init_once(void) {
  thrd_sleep(&kMs, NULL);  // the other callers must wait for it, not return early
  ++once_runs;
}

static int call_it(void* arg) {
  call_once(&once, init_once);
  return once_runs == 1 ? (int)(intptr_t)arg : -1;
}

static tss_t key;
static mtx_t dtor_lock;
static long dtor_sum;

static void dtor(void* value) {
  mtx_lock(&dtor_lock);
  dtor_sum += (long)(intptr_t)value;
  mtx_unlock(&dtor_lock);
}

static int keep_value(void* arg) {
  CHECK(tss_set(key, arg) == thrd_success);
  thrd_sleep(&kMs, NULL);  // the others set theirs meanwhile
  if (tss_get(key) != arg) return -1;
  if ((intptr_t)arg == 3) thrd_exit(33);  // destructors run after thrd_exit too
  return 0;
}

static int finish_quietly(void* arg) {
  (void)arg;
  return 0;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);

  CHECK(mtx_init(&counter_lock, mtx_plain) == thrd_success);
  thrd_t t[20];
  for (int i = 0; i < 20; ++i) CHECK(thrd_create(&t[i], bump, (void*)(intptr_t)i) == thrd_success);
  long results = 0;
  for (int i = 0; i < 20; ++i) {
    int r = -1;
    CHECK(thrd_join(t[i], &r) == thrd_success);
    results += r;
  }
  printf("20 threads x 5 locked increments across a sleep: %ld, results sum %ld\n", counter,
         results);

  CHECK(mtx_init(&q_lock, mtx_plain) == thrd_success);
  CHECK(cnd_init(&q_not_empty) == thrd_success && cnd_init(&q_not_full) == thrd_success);
  thrd_t pc[2];
  thrd_create(&pc[0], consume, NULL);
  thrd_create(&pc[1], produce, NULL);
  thrd_join(pc[0], NULL);
  thrd_join(pc[1], NULL);
  printf("queue through cnd_wait: sum %ld (expected %ld)\n", q_sum,
         (long)kItems * (kItems + 1) / 2);

  // Timed and try locks against a holder.
  CHECK(mtx_init(&timed_lock, mtx_timed) == thrd_success);
  CHECK(pipe(hold_pipe) == 0 && pipe(held_pipe) == 0);
  thrd_t h;
  thrd_create(&h, holder, NULL);
  char c;
  CHECK(read(held_pipe[0], &c, 1) == 1);
  printf("mtx_trylock on a held mutex -> busy %d\n", mtx_trylock(&timed_lock) == thrd_busy);
  struct timespec until;
  timespec_get(&until, TIME_UTC);
  until.tv_nsec += 20 * 1000000;
  if (until.tv_nsec >= 1000000000) until.tv_sec++, until.tv_nsec -= 1000000000;
  printf("mtx_timedlock 20 ms on a held mutex -> timedout %d\n",
         mtx_timedlock(&timed_lock, &until) == thrd_timedout);
  CHECK(write(hold_pipe[1], "g", 1) == 1);
  thrd_join(h, NULL);
  printf("mtx_trylock after release -> success %d\n", mtx_trylock(&timed_lock) == thrd_success);
  mtx_unlock(&timed_lock);
  mtx_destroy(&timed_lock);

  // cnd_timedwait times out with the mutex held again.
  timespec_get(&until, TIME_UTC);
  until.tv_nsec += 10 * 1000000;
  if (until.tv_nsec >= 1000000000) until.tv_sec++, until.tv_nsec -= 1000000000;
  mtx_lock(&q_lock);
  printf("cnd_timedwait 10 ms -> timedout %d\n",
         cnd_timedwait(&q_not_empty, &q_lock, &until) == thrd_timedout);
  printf("mutex held after it -> trylock busy %d\n", mtx_trylock(&q_lock) == thrd_busy);
  mtx_unlock(&q_lock);

  // Recursive mutexes; a bad type.
  mtx_t rec;
  CHECK(mtx_init(&rec, mtx_plain | mtx_recursive) == thrd_success);
  printf("recursive: %d %d %d\n", mtx_lock(&rec), mtx_lock(&rec), mtx_trylock(&rec));
  mtx_unlock(&rec);
  mtx_unlock(&rec);
  mtx_unlock(&rec);
  mtx_destroy(&rec);
  // glibc takes an unknown type for a plain one.
  int init = mtx_init(&rec, 77);
  int locked = mtx_lock(&rec);
  int busy = mtx_trylock(&rec) == thrd_busy;
  printf("mtx_init with an unknown type -> %d, lock %d, trylock busy %d\n", init, locked, busy);
  mtx_unlock(&rec);
  mtx_destroy(&rec);

  // call_once from 10 threads: the routine runs once, and nobody returns before it finished.
  thrd_t callers[10];
  for (int i = 0; i < 10; ++i) thrd_create(&callers[i], call_it, (void*)(intptr_t)(i + 1));
  int once_ok = 0;
  for (int i = 0; i < 10; ++i) {
    int r;
    thrd_join(callers[i], &r);
    once_ok += r == i + 1;
  }
  printf("call_once: runs %d, callers that saw it done %d\n", once_runs, once_ok);

  // tss: values per thread, destructors at thread end (thrd_exit included).
  CHECK(mtx_init(&dtor_lock, mtx_plain) == thrd_success);
  CHECK(tss_create(&key, dtor) == thrd_success);
  thrd_t k[10];
  for (int i = 0; i < 10; ++i) thrd_create(&k[i], keep_value, (void*)(intptr_t)(i + 1));
  int kept = 0;
  for (int i = 0; i < 10; ++i) {
    int r;
    thrd_join(k[i], &r);
    kept += r == 0 || r == 33;
  }
  printf("tss: threads that kept their value %d, destructor sum %ld\n", kept, dtor_sum);
  tss_delete(key);

  // Detach, current, equal, yield, sleep.
  thrd_t d;
  thrd_create(&d, finish_quietly, NULL);
  printf("thrd_detach -> %d\n", thrd_detach(d));
  printf("thrd_equal(current, current) %d\n", thrd_equal(thrd_current(), thrd_current()) != 0);
  thrd_yield();
  struct timespec bad = {0, -1};
  printf("thrd_sleep 1 ms -> %d, bad duration -> %d\n", thrd_sleep(&kMs, NULL),
         thrd_sleep(&bad, NULL));
  return 0;
}
