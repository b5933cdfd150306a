// diff_sync: pthread mutexes and condition variables -- held across blocking calls, 1,000
// threads in a producer/consumer queue, the three mutex types, timed waits, static
// initializers, broadcast, process-shared objects, spin locks held across a sleep. Plain C with no
// weft header; on one carrier a wait that blocked the carrier would deadlock against a holder on
// the same carrier.
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static pthread_t spawn(void* (*fn)(void*), void* arg) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  pthread_t t;
  CHECK(pthread_create(&t, &attr, fn, arg) == 0);
  pthread_attr_destroy(&attr);
  return t;
}

// ---- a mutex held across a blocking call.
static pthread_mutex_t counter_lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;

static void* bump(void* arg) {
  (void)arg;
  for (int i = 0; i < 20; ++i) {
    pthread_mutex_lock(&counter_lock);
    long seen = counter;
    usleep(100);  // another thread would see a torn update if the lock did not hold
    counter = seen + 1;
    pthread_mutex_unlock(&counter_lock);
  }
  return NULL;
}

// ---- a bounded queue: 500 producers, 500 consumers.
enum { kProducers = 500, kConsumers = 500, kItems = 20, kCap = 16 };
static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_not_empty = PTHREAD_COND_INITIALIZER;
static pthread_cond_t q_not_full = PTHREAD_COND_INITIALIZER;
static long q_items[kCap];
static int q_head, q_len;
static long consumed_sum, consumed_count;

static void* produce(void* arg) {
  long id = (long)arg;
  for (int i = 0; i < kItems; ++i) {
    pthread_mutex_lock(&q_lock);
    while (q_len == kCap) pthread_cond_wait(&q_not_full, &q_lock);
    q_items[(q_head + q_len++) % kCap] = id * kItems + i;
    pthread_cond_signal(&q_not_empty);
    pthread_mutex_unlock(&q_lock);
  }
  return NULL;
}

static void* consume(void* arg) {
  (void)arg;
  for (int i = 0; i < kItems; ++i) {
    pthread_mutex_lock(&q_lock);
    while (q_len == 0) pthread_cond_wait(&q_not_empty, &q_lock);
    long v = q_items[q_head];
    q_head = (q_head + 1) % kCap;
    --q_len;
    consumed_sum += v;
    ++consumed_count;
    pthread_cond_signal(&q_not_full);
    pthread_mutex_unlock(&q_lock);
  }
  return NULL;
}

// ---- a holder keeps a mutex until told to let go.
static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate = PTHREAD_COND_INITIALIZER;
static int holding, release_it;

static void* holder(void* arg) {
  pthread_mutex_t* m = arg;
  CHECK(pthread_mutex_lock(m) == 0);
  pthread_mutex_lock(&gate_lock);
  holding = 1;
  pthread_cond_broadcast(&gate);
  while (!release_it) pthread_cond_wait(&gate, &gate_lock);
  pthread_mutex_unlock(&gate_lock);
  CHECK(pthread_mutex_unlock(m) == 0);
  return NULL;
}

static pthread_t hold(pthread_mutex_t* m) {
  holding = release_it = 0;
  pthread_t t = spawn(holder, m);
  pthread_mutex_lock(&gate_lock);
  while (!holding) pthread_cond_wait(&gate, &gate_lock);
  pthread_mutex_unlock(&gate_lock);
  return t;
}

static void let_go(pthread_t t) {
  pthread_mutex_lock(&gate_lock);
  release_it = 1;
  pthread_cond_broadcast(&gate);
  pthread_mutex_unlock(&gate_lock);
  CHECK(pthread_join(t, NULL) == 0);
}

static void* try_from_other(void* arg) {
  return (void*)(long)pthread_mutex_trylock(arg);
}

static void* unlock_from_other(void* arg) {
  return (void*)(long)pthread_mutex_unlock(arg);
}

static long other(void* (*fn)(void*), void* arg) {
  void* r;
  CHECK(pthread_join(spawn(fn, arg), &r) == 0);
  return (long)r;
}

// ---- broadcast.
static pthread_mutex_t b_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t b_cond = PTHREAD_COND_INITIALIZER;
static int b_waiting, b_go, b_woken;

static void* b_waiter(void* arg) {
  (void)arg;
  pthread_mutex_lock(&b_lock);
  ++b_waiting;
  while (!b_go) pthread_cond_wait(&b_cond, &b_lock);
  ++b_woken;
  pthread_mutex_unlock(&b_lock);
  return NULL;
}

// Spin-lock users hold the lock across a sleep: on one carrier, a spinner that never yielded
// would keep the sleeping holder from ever running again.
static pthread_spinlock_t spin;
static long spin_counter;

static void* spin_bump(void* arg) {
  (void)arg;
  for (int i = 0; i < 5; ++i) {
    CHECK(pthread_spin_lock(&spin) == 0);
    long seen = spin_counter;
    usleep(500);
    spin_counter = seen + 1;
    CHECK(pthread_spin_unlock(&spin) == 0);
  }
  return NULL;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  pthread_t t[kProducers + kConsumers];

  for (int i = 0; i < 20; ++i) t[i] = spawn(bump, NULL);
  for (int i = 0; i < 20; ++i) CHECK(pthread_join(t[i], NULL) == 0);
  printf("counter under a mutex held across usleep: %ld\n", counter);

  for (long i = 0; i < kProducers; ++i) t[i] = spawn(produce, (void*)i);
  for (long i = 0; i < kConsumers; ++i) t[kProducers + i] = spawn(consume, NULL);
  for (int i = 0; i < kProducers + kConsumers; ++i) CHECK(pthread_join(t[i], NULL) == 0);
  long n = (long)kProducers * kItems;
  printf("queue: %ld items consumed, sum right: %d\n", consumed_count,
         consumed_sum == n * (n - 1) / 2);

  // Error-checking mutex.
  pthread_mutex_t ec = PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP;
  printf("errorcheck: unlock unlocked -> %s\n", strerror(pthread_mutex_unlock(&ec)));
  CHECK(pthread_mutex_lock(&ec) == 0);
  printf("errorcheck: relock -> %s\n", strerror(pthread_mutex_lock(&ec)));
  printf("errorcheck: unlock by another thread -> %s\n",
         strerror((int)other(unlock_from_other, &ec)));
  printf("errorcheck: destroy while locked -> %s\n", strerror(pthread_mutex_destroy(&ec)));
  CHECK(pthread_mutex_unlock(&ec) == 0);
  CHECK(pthread_mutex_destroy(&ec) == 0);

  // Recursive mutex, from the static initializer and from an attribute.
  pthread_mutex_t rec = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
  CHECK(pthread_mutex_lock(&rec) == 0 && pthread_mutex_lock(&rec) == 0);
  CHECK(pthread_mutex_trylock(&rec) == 0);
  printf("recursive: trylock from another thread -> %s\n",
         strerror((int)other(try_from_other, &rec)));
  CHECK(pthread_mutex_unlock(&rec) == 0 && pthread_mutex_unlock(&rec) == 0);
  CHECK(pthread_mutex_unlock(&rec) == 0);
  printf("recursive: after three unlocks, trylock from another thread -> %s\n",
         strerror((int)other(try_from_other, &rec)));
  pthread_mutexattr_t ma;
  pthread_mutexattr_init(&ma);
  pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
  pthread_mutex_t rec2;
  CHECK(pthread_mutex_init(&rec2, &ma) == 0);
  CHECK(pthread_mutex_lock(&rec2) == 0 && pthread_mutex_lock(&rec2) == 0);
  printf("recursive from attr: unlock by another thread -> %s\n",
         strerror((int)other(unlock_from_other, &rec2)));
  CHECK(pthread_mutex_unlock(&rec2) == 0 && pthread_mutex_unlock(&rec2) == 0);
  CHECK(pthread_mutex_destroy(&rec2) == 0);

  // trylock and timedlock against a holder.
  pthread_t h = hold(&held);
  printf("trylock held -> %s\n", strerror(pthread_mutex_trylock(&held)));
  struct timespec soon = in_ms(CLOCK_REALTIME, 30);
  printf("timedlock held 30 ms -> %s\n", strerror(pthread_mutex_timedlock(&held, &soon)));
  soon = in_ms(CLOCK_MONOTONIC, 30);
  printf("clocklock held 30 ms -> %s\n",
         strerror(pthread_mutex_clocklock(&held, CLOCK_MONOTONIC, &soon)));
  let_go(h);
  soon = in_ms(CLOCK_REALTIME, 30);
  printf("timedlock free -> %s\n", strerror(pthread_mutex_timedlock(&held, &soon)));
  CHECK(pthread_mutex_unlock(&held) == 0);

  // Timed condition waits, on both clocks.
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t c_rt = PTHREAD_COND_INITIALIZER, c_mono;
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  CHECK(pthread_cond_init(&c_mono, &ca) == 0);
  pthread_mutex_lock(&m);
  soon = in_ms(CLOCK_REALTIME, 20);
  printf("cond timedwait realtime -> %s\n", strerror(pthread_cond_timedwait(&c_rt, &m, &soon)));
  soon = in_ms(CLOCK_MONOTONIC, 20);
  printf("cond timedwait monotonic -> %s\n", strerror(pthread_cond_timedwait(&c_mono, &m, &soon)));
  soon = in_ms(CLOCK_MONOTONIC, 20);
  printf("cond clockwait -> %s\n",
         strerror(pthread_cond_clockwait(&c_rt, &m, CLOCK_MONOTONIC, &soon)));
  printf("mutex held again after the timeouts: trylock from another thread -> %s\n",
         strerror((int)other(try_from_other, &m)));
  pthread_mutex_unlock(&m);
  CHECK(pthread_cond_destroy(&c_mono) == 0);

  // Broadcast wakes every waiter.
  for (int i = 0; i < 50; ++i) t[i] = spawn(b_waiter, NULL);
  for (;;) {
    pthread_mutex_lock(&b_lock);
    int all = b_waiting == 50;
    if (all) {
      b_go = 1;
      pthread_cond_broadcast(&b_cond);
    }
    pthread_mutex_unlock(&b_lock);
    if (all) break;
    usleep(1000);
  }
  for (int i = 0; i < 50; ++i) CHECK(pthread_join(t[i], NULL) == 0);
  printf("broadcast woke %d of 50\n", b_woken);

  // Process-shared objects stay glibc's and still work (a normal mutex: glibc's recursive and
  // error-checking ones know owners by OS thread, which fibers of one carrier share).
  pthread_mutexattr_destroy(&ma);
  pthread_mutexattr_init(&ma);
  pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
  pthread_mutex_t ps;
  CHECK(pthread_mutex_init(&ps, &ma) == 0);
  CHECK(pthread_mutex_lock(&ps) == 0);
  printf("process-shared: trylock from another thread -> %s\n",
         strerror((int)other(try_from_other, &ps)));
  CHECK(pthread_mutex_unlock(&ps) == 0 && pthread_mutex_destroy(&ps) == 0);
  pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
  pthread_cond_t cps;
  CHECK(pthread_cond_init(&cps, &ca) == 0);
  CHECK(pthread_mutex_init(&ps, &ma) == 0);
  pthread_mutex_lock(&ps);
  soon = in_ms(CLOCK_MONOTONIC, 10);
  printf("process-shared cond timedwait -> %s\n",
         strerror(pthread_cond_timedwait(&cps, &ps, &soon)));
  // A shim condition variable with a process-shared (glibc's) mutex.
  soon = in_ms(CLOCK_REALTIME, 10);
  int waited = pthread_cond_timedwait(&c_rt, &ps, &soon);
  printf("shim cond, process-shared mutex: timedwait -> %s, then held: trylock elsewhere -> %s\n",
         strerror(waited), strerror((int)other(try_from_other, &ps)));
  pthread_mutex_unlock(&ps);

  CHECK(pthread_spin_init(&spin, PTHREAD_PROCESS_PRIVATE) == 0);
  pthread_t spinners[10];
  for (int i = 0; i < 10; ++i) spinners[i] = spawn(spin_bump, NULL);
  for (int i = 0; i < 10; ++i) CHECK(pthread_join(spinners[i], NULL) == 0);
  printf("10 threads x 5 spin-locked increments across a sleep: %ld\n", spin_counter);
  CHECK(pthread_spin_lock(&spin) == 0);
  printf("pthread_spin_trylock on a held lock -> %s\n", strerror(pthread_spin_trylock(&spin)));
  CHECK(pthread_spin_unlock(&spin) == 0 && pthread_spin_destroy(&spin) == 0);
  return 0;
}
