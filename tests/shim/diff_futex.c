// diff_futex: futex(2) through syscall(3), as Rust's std and libstdc++ make it. Plain C with no
// weft header.
//
// - A mutex and a condition variable built the way Rust's std builds them (a three-state lock
//   word, a sequence counter; waits are FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG with
//   FUTEX_BITSET_MATCH_ANY and an absolute CLOCK_MONOTONIC time or none, wakes FUTEX_WAKE |
//   FUTEX_PRIVATE_FLAG): 8 threads hold the mutex across a yield, 4 producers and 4 consumers
//   pass 1,000 items through a 4-slot queue. On one carrier, a wait that slept the carrier in the
//   kernel would never be woken: the holder it waits for runs on that carrier.
// - Results: EAGAIN for a word that differs, ETIMEDOUT (FUTEX_WAIT's relative time, the
//   absolute times of FUTEX_WAIT_BITSET on CLOCK_MONOTONIC and CLOCK_REALTIME, a time already
//   past; never early), a timed wait woken long before its time, EINVAL, ENOSYS, EFAULT.
// - Counts: how many FUTEX_WAKE woke (0 wakes one), bitsets, FUTEX_REQUEUE, FUTEX_CMP_REQUEUE
//   (and its EAGAIN), FUTEX_WAKE_OP. Waiters are known to wait (no sleep guesses) by moving them
//   with FUTEX_REQUEUE until all have moved: only a waiting thread can be requeued.
// - A thread a constructor made (a real thread under the shim) and a fiber thread wake each
//   other; a shared futex in MAP_SHARED memory, where a forked child wakes the parent's waiting
//   thread, and the parent's other thread (on one carrier, the waiter's carrier) must run
//   meanwhile.
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

// fx() is futex(2) through syscall(3): the result, or -errno.
static long fx(void* uaddr, int op, uint32_t val, const struct timespec* t, void* uaddr2,
               uint32_t val3) {
  long r = syscall(SYS_futex, uaddr, op, val, t, uaddr2, val3);
  return r < 0 ? -errno : r;
}

// fx2() is a futex call whose fourth argument is the number val2 (requeue, wake-op).
static long fx2(void* uaddr, int op, uint32_t val, long val2, void* uaddr2, uint32_t val3) {
  long r = syscall(SYS_futex, uaddr, op, val, val2, uaddr2, val3);
  return r < 0 ? -errno : r;
}

static const char* name(long r) {
  static char buf[32];
  switch (r) {
    case -EAGAIN:
      return "EAGAIN";
    case -ETIMEDOUT:
      return "ETIMEDOUT";
    case -EINVAL:
      return "EINVAL";
    case -ENOSYS:
      return "ENOSYS";
    case -EFAULT:
      return "EFAULT";
    case -EINTR:
      return "EINTR";
    default:
      snprintf(buf, sizeof buf, "%ld", r);
      return buf;
  }
}

static double now_s(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

// ---- Rust's std::sync::Mutex and Condvar on futexes (library/std/src/sys/unix/locks) ----

// rust_wait() is std's futex_wait: FUTEX_WAIT_BITSET, private, absolute CLOCK_MONOTONIC time.
static void rust_wait(atomic_uint* w, uint32_t expected, long timeout_ms) {
  struct timespec abs;
  if (timeout_ms >= 0) abs = in_ms(CLOCK_MONOTONIC, timeout_ms);
  long r = fx(w, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, expected, timeout_ms >= 0 ? &abs : NULL,
              NULL, FUTEX_BITSET_MATCH_ANY);
  CHECK(r == 0 || r == -EAGAIN || r == -EINTR);
}

static void rust_wake(atomic_uint* w, int n) {
  CHECK(fx(w, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, (uint32_t)n, NULL, NULL, 0) >= 0);
}

typedef struct {
  atomic_uint state;  // 0 unlocked, 1 locked, 2 locked with waiters
} RustMutex;

static void rm_lock(RustMutex* m) {
  unsigned expected = 0;
  if (atomic_compare_exchange_strong(&m->state, &expected, 1)) return;
  for (int spin = 0; spin < 100 && atomic_load(&m->state) == 1; spin++) {
  }
  while (atomic_exchange(&m->state, 2) != 0) rust_wait(&m->state, 2, -1);
}

static void rm_unlock(RustMutex* m) {
  if (atomic_exchange(&m->state, 0) == 2) rust_wake(&m->state, 1);
}

typedef struct {
  atomic_uint seq;
} RustCondvar;

static void rc_wait(RustCondvar* c, RustMutex* m, long timeout_ms) {
  unsigned seq = atomic_load(&c->seq);
  rm_unlock(m);
  rust_wait(&c->seq, seq, timeout_ms);
  rm_lock(m);
}

static void rc_notify_one(RustCondvar* c) {
  atomic_fetch_add(&c->seq, 1);
  rust_wake(&c->seq, 1);
}

static void rc_notify_all(RustCondvar* c) {
  atomic_fetch_add(&c->seq, 1);
  rust_wake(&c->seq, INT_MAX);
}

static RustMutex mu;
static long counter;

static void* incrementer(void* arg) {
  (void)arg;
  for (int i = 0; i < 500; i++) {
    rm_lock(&mu);
    long c = counter;
    if (i % 8 == 0) sched_yield();  // held across a switch: the others queue on the futex
    counter = c + 1;
    rm_unlock(&mu);
  }
  return NULL;
}

enum { kSlots = 4, kItems = 250, kPairs = 4 };
static RustCondvar not_empty, not_full;
static long queue[kSlots];
static int q_head, q_len;
static long consumed_sum;
static int consumed;

static void* producer(void* arg) {
  long base = (long)(intptr_t)arg * kItems;
  for (long i = 1; i <= kItems; i++) {
    rm_lock(&mu);
    while (q_len == kSlots) rc_wait(&not_full, &mu, i % 2 ? 30000 : -1);
    queue[(q_head + q_len++) % kSlots] = base + i;
    rc_notify_one(&not_empty);
    rm_unlock(&mu);
  }
  return NULL;
}

static void* consumer(void* arg) {
  (void)arg;
  for (;;) {
    rm_lock(&mu);
    while (q_len == 0 && consumed < kPairs * kItems) rc_wait(&not_empty, &mu, 30000);
    if (q_len == 0) {
      rm_unlock(&mu);
      return NULL;
    }
    consumed_sum += queue[q_head];
    q_head = (q_head + 1) % kSlots;
    q_len--;
    if (++consumed == kPairs * kItems) rc_notify_all(&not_empty);  // the others stop
    rc_notify_one(&not_full);
    rm_unlock(&mu);
  }
}

static void rust_locks(void) {
  pthread_t t[8];
  for (int i = 0; i < 8; i++) CHECK(pthread_create(&t[i], NULL, incrementer, NULL) == 0);
  for (int i = 0; i < 8; i++) CHECK(pthread_join(t[i], NULL) == 0);
  printf("Rust-style mutex: 8 threads x 500 increments held across a yield -> %ld\n", counter);
  pthread_t p[kPairs], c[kPairs];
  for (int i = 0; i < kPairs; i++) {
    CHECK(pthread_create(&p[i], NULL, producer, (void*)(intptr_t)i) == 0);
    CHECK(pthread_create(&c[i], NULL, consumer, NULL) == 0);
  }
  for (int i = 0; i < kPairs; i++) {
    CHECK(pthread_join(p[i], NULL) == 0);
    CHECK(pthread_join(c[i], NULL) == 0);
  }
  long n = kPairs * kItems;
  printf("Rust-style condvar: %d items through %d slots, sum %s\n", consumed, kSlots,
         consumed_sum == n * (n + 1) / 2 ? "right" : "WRONG");
}

// ---- results ----

static atomic_uint word;

// set_and_wake() changes word and wakes its waiter, with the private or shared wake (arg).
static void* set_and_wake(void* arg) {
  atomic_store(&word, 1);
  CHECK(fx(&word, arg != NULL ? FUTEX_WAKE : FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0) >= 0);
  return NULL;
}

static void results(void) {
  atomic_uint w = 0;
  struct timespec rel = {0, 1000000};
  printf("FUTEX_WAIT, word differs -> %s\n", name(fx(&w, FUTEX_WAIT_PRIVATE, 1, NULL, NULL, 0)));
  printf("FUTEX_WAIT_BITSET, word differs -> %s\n",
         name(fx(&w, FUTEX_WAIT_BITSET_PRIVATE, 1, NULL, NULL, FUTEX_BITSET_MATCH_ANY)));
  printf("shared FUTEX_WAIT, word differs -> %s\n", name(fx(&w, FUTEX_WAIT, 1, NULL, NULL, 0)));

  double t0 = now_s(CLOCK_MONOTONIC);
  struct timespec r30 = {0, 30000000};
  long r = fx(&w, FUTEX_WAIT_PRIVATE, 0, &r30, NULL, 0);
  printf("FUTEX_WAIT, 30 ms relative -> %s, not early: %d\n", name(r),
         now_s(CLOCK_MONOTONIC) - t0 >= 0.030);
  struct timespec abs = in_ms(CLOCK_MONOTONIC, 30);
  r = fx(&w, FUTEX_WAIT_BITSET_PRIVATE, 0, &abs, NULL, FUTEX_BITSET_MATCH_ANY);
  printf("FUTEX_WAIT_BITSET, CLOCK_MONOTONIC +30 ms -> %s, not early: %d\n", name(r),
         now_s(CLOCK_MONOTONIC) >= (double)abs.tv_sec + (double)abs.tv_nsec / 1e9);
  abs = in_ms(CLOCK_REALTIME, 30);
  r = fx(&w, FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME, 0, &abs, NULL,
         FUTEX_BITSET_MATCH_ANY);
  printf("FUTEX_WAIT_BITSET, CLOCK_REALTIME +30 ms -> %s, not early: %d\n", name(r),
         now_s(CLOCK_REALTIME) >= (double)abs.tv_sec + (double)abs.tv_nsec / 1e9);
  struct timespec past = {1, 0};
  printf("FUTEX_WAIT_BITSET, a time long past -> %s\n",
         name(fx(&w, FUTEX_WAIT_BITSET_PRIVATE, 0, &past, NULL, FUTEX_BITSET_MATCH_ANY)));
  t0 = now_s(CLOCK_MONOTONIC);
  r = fx(&w, FUTEX_WAIT, 0, &r30, NULL, 0);
  printf("shared FUTEX_WAIT, 30 ms relative -> %s, not early: %d\n", name(r),
         now_s(CLOCK_MONOTONIC) - t0 >= 0.030);
  abs = in_ms(CLOCK_REALTIME, 30);
  r = fx(&w, FUTEX_WAIT_BITSET | FUTEX_CLOCK_REALTIME, 0, &abs, NULL, FUTEX_BITSET_MATCH_ANY);
  printf("shared FUTEX_WAIT_BITSET, CLOCK_REALTIME +30 ms -> %s, not early: %d\n", name(r),
         now_s(CLOCK_REALTIME) >= (double)abs.tv_sec + (double)abs.tv_nsec / 1e9);

  // A wait with a long time limit that another thread ends: on one carrier, a wait that held
  // the carrier would keep that thread from running until the time ran out.
  for (int shared = 0; shared < 2; shared++) {
    atomic_store(&word, 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, set_and_wake, shared ? &word : NULL) == 0);
    struct timespec r20 = {20, 0};
    int op = shared ? FUTEX_WAIT : FUTEX_WAIT_PRIVATE;
    do {
      r = fx(&word, op, 0, &r20, NULL, 0);
    } while (r == 0 && atomic_load(&word) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    printf("%s FUTEX_WAIT for 20 s, woken by a thread -> %s\n", shared ? "shared" : "private",
           r == 0 || r == -EAGAIN ? "woken" : name(r));
  }

  struct timespec bad = {0, 1000000000};
  struct timespec neg = {-1, 0};
  printf("FUTEX_WAIT, tv_nsec 1e9 -> %s\n", name(fx(&w, FUTEX_WAIT_PRIVATE, 0, &bad, NULL, 0)));
  printf("FUTEX_WAIT, tv_sec -1 -> %s\n", name(fx(&w, FUTEX_WAIT_PRIVATE, 0, &neg, NULL, 0)));
  printf("FUTEX_WAIT_BITSET, bitset 0 -> %s\n",
         name(fx(&w, FUTEX_WAIT_BITSET_PRIVATE, 0, &rel, NULL, 0)));
  printf("FUTEX_WAKE_BITSET, bitset 0 -> %s\n",
         name(fx(&w, FUTEX_WAKE_BITSET_PRIVATE, 1, NULL, NULL, 0)));
  printf("FUTEX_WAIT, misaligned -> %s\n",
         name(fx((char*)&w + 1, FUTEX_WAIT_PRIVATE, 0, &rel, NULL, 0)));
  printf("FUTEX_WAKE, misaligned -> %s\n",
         name(fx((char*)&w + 2, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0)));
  printf("FUTEX_WAIT, NULL -> %s\n", name(fx(NULL, FUTEX_WAIT_PRIVATE, 0, &rel, NULL, 0)));
  printf("FUTEX_WAKE, NULL -> %s\n", name(fx(NULL, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0)));
  printf("FUTEX_WAIT | FUTEX_CLOCK_REALTIME -> %s\n",
         name(fx(&w, FUTEX_WAIT_PRIVATE | FUTEX_CLOCK_REALTIME, 0, &rel, NULL, 0)));
  printf("FUTEX_WAKE | FUTEX_CLOCK_REALTIME -> %s\n",
         name(fx(&w, FUTEX_WAKE_PRIVATE | FUTEX_CLOCK_REALTIME, 1, NULL, NULL, 0)));
  printf("FUTEX_REQUEUE, nr_wake -1 -> %s\n",
         name(fx2(&w, FUTEX_REQUEUE_PRIVATE, (uint32_t)-1, 1, &word, 0)));
  printf("FUTEX_CMP_REQUEUE, nr_requeue -1 -> %s\n",
         name(fx2(&w, FUTEX_CMP_REQUEUE_PRIVATE, 1, -1, &word, 0)));
  printf("command 99 -> %s\n", name(fx(&w, 99, 0, NULL, NULL, 0)));
  printf("FUTEX_WAKE, nobody waits -> %s\n", name(fx(&w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0)));
  printf("shared FUTEX_WAKE, nobody waits -> %s\n", name(fx(&w, FUTEX_WAKE, 1, NULL, NULL, 0)));
  printf("errno after a successful call is kept: ");
  errno = 1234;
  fx(&w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
  printf("%d\n", errno == 1234);
}

// ---- counts: waiters known to wait ----

enum { kMaxWaiters = 8 };
static atomic_int returned, woken_ok;

typedef struct {
  atomic_uint* word;
  uint32_t bitset;
  int shared;
} Wait;

static void* waiter(void* arg) {
  Wait* w = arg;
  int op = w->bitset != 0 ? FUTEX_WAIT_BITSET : FUTEX_WAIT;
  if (!w->shared) op |= FUTEX_PRIVATE_FLAG;
  long r = fx(w->word, op, 0, NULL, NULL, w->bitset);
  if (r == 0) atomic_fetch_add(&woken_ok, 1);
  atomic_fetch_add(&returned, 1);
  return NULL;
}

// gather() moves the n threads waiting on from onto to, returning once all n have moved (each
// move returns how many it moved): then they certainly wait.
static void gather(atomic_uint* from, atomic_uint* to, int n, int shared) {
  int op = shared ? FUTEX_REQUEUE : FUTEX_REQUEUE_PRIVATE;
  double give_up = now_s(CLOCK_MONOTONIC) + 30;
  for (int moved = 0; moved < n;) {
    long r = fx2(from, op, 0, INT_MAX, to, 0);
    CHECK(r >= 0);
    moved += (int)r;
    CHECK(moved <= n);
    if (moved < n) {
      CHECK(now_s(CLOCK_MONOTONIC) < give_up);
      usleep(1000);
    }
  }
}

static void await_returned(int n) {
  double give_up = now_s(CLOCK_MONOTONIC) + 30;
  while (atomic_load(&returned) < n) {
    CHECK(now_s(CLOCK_MONOTONIC) < give_up);
    usleep(1000);
  }
}

static void start_waiters(pthread_t* t, Wait* w, int n) {
  for (int i = 0; i < n; i++) CHECK(pthread_create(&t[i], NULL, waiter, &w[i]) == 0);
}

static void join_all(pthread_t* t, int n) {
  for (int i = 0; i < n; i++) CHECK(pthread_join(t[i], NULL) == 0);
}

static atomic_uint a_word, b_word, e_word, g_word;

static void counts(int shared) {
  int priv = shared ? 0 : FUTEX_PRIVATE_FLAG;
  const char* kind = shared ? "shared" : "private";
  atomic_store(&returned, 0);
  atomic_store(&woken_ok, 0);
  enum { kN = 6 };
  pthread_t t[kN];
  Wait w[kN];
  for (int i = 0; i < kN; i++) w[i] = (Wait){&a_word, 0, shared};
  start_waiters(t, w, kN);
  gather(&a_word, &b_word, kN, shared);
  printf("%s: %d waiters requeued one by one onto a second word\n", kind, kN);
  printf("%s: FUTEX_WAKE 2 -> %ld\n", kind, fx(&b_word, FUTEX_WAKE | priv, 2, NULL, NULL, 0));
  await_returned(2);
  printf("%s: FUTEX_WAKE 0 (wakes one) -> %ld\n", kind,
         fx(&b_word, FUTEX_WAKE | priv, 0, NULL, NULL, 0));
  await_returned(3);
  gather(&b_word, &a_word, kN - 3, shared);
  printf("%s: FUTEX_CMP_REQUEUE, word differs -> %s\n", kind,
         name(fx2(&a_word, FUTEX_CMP_REQUEUE | priv, 1, 1, &b_word, 7)));
  printf("%s: FUTEX_CMP_REQUEUE wake 1, requeue 1 -> %ld\n", kind,
         fx2(&a_word, FUTEX_CMP_REQUEUE | priv, 1, 1, &b_word, 0));
  await_returned(4);
  printf("%s: FUTEX_REQUEUE wake 0, requeue 0 -> %ld\n", kind,
         fx2(&a_word, FUTEX_REQUEUE | priv, 0, 0, &b_word, 0));
  printf("%s: FUTEX_WAKE all on the first word -> %ld\n", kind,
         fx(&a_word, FUTEX_WAKE | priv, INT_MAX, NULL, NULL, 0));
  printf("%s: FUTEX_WAKE all on the second word -> %ld\n", kind,
         fx(&b_word, FUTEX_WAKE | priv, INT_MAX, NULL, NULL, 0));
  await_returned(kN);
  join_all(t, kN);
  printf("%s: every waiter returned 0: %d\n", kind, atomic_load(&woken_ok) == kN);

  // Bitsets: a wake meets the waiters whose bitset shares a bit with its own.
  atomic_store(&returned, 0);
  atomic_store(&woken_ok, 0);
  uint32_t bits[3] = {1, 2, 6};
  for (int i = 0; i < 3; i++) w[i] = (Wait){&a_word, bits[i], shared};
  start_waiters(t, w, 3);
  gather(&a_word, &b_word, 3, shared);
  printf("%s: FUTEX_WAKE_BITSET 8 (no waiter's bit) -> %ld\n", kind,
         fx(&b_word, FUTEX_WAKE_BITSET | priv, INT_MAX, NULL, NULL, 8));
  printf("%s: FUTEX_WAKE_BITSET 2 -> %ld\n", kind,
         fx(&b_word, FUTEX_WAKE_BITSET | priv, INT_MAX, NULL, NULL, 2));
  await_returned(2);
  printf("%s: FUTEX_WAKE_BITSET 1 -> %ld\n", kind,
         fx(&b_word, FUTEX_WAKE_BITSET | priv, INT_MAX, NULL, NULL, 1));
  await_returned(3);
  join_all(t, 3);
  printf("%s: every waiter returned 0: %d\n", kind, atomic_load(&woken_ok) == 3);

  // FUTEX_WAKE_OP: change the second word, wake on both as its old value says.
  atomic_store(&returned, 0);
  atomic_store(&e_word, 0);
  w[0] = (Wait){&a_word, 0, shared};
  start_waiters(t, w, 1);
  gather(&a_word, &e_word, 1, shared);
  long r = fx2(&g_word, FUTEX_WAKE_OP | priv, 1, 1, &e_word,
               FUTEX_OP(FUTEX_OP_ADD, 5, FUTEX_OP_CMP_EQ, 0));
  printf("%s: FUTEX_WAKE_OP add 5 if 0 -> %ld, word %u\n", kind, r, atomic_load(&e_word));
  await_returned(1);
  join_all(t, 1);
  r = fx2(&g_word, FUTEX_WAKE_OP | priv, 1, 1, &e_word,
          FUTEX_OP((FUTEX_OP_OR | FUTEX_OP_OPARG_SHIFT), 4, FUTEX_OP_CMP_GT, 100));
  printf("%s: FUTEX_WAKE_OP or 1<<4 if > 100 -> %ld, word %u\n", kind, r, atomic_load(&e_word));
  r = fx2(&g_word, FUTEX_WAKE_OP | priv, 1, 1, &e_word, FUTEX_OP(FUTEX_OP_SET, 3, 9, 0));
  printf("%s: FUTEX_WAKE_OP set 3, unknown comparison -> %s, word %u\n", kind, name(r),
         atomic_load(&e_word));
  r = fx2(&g_word, FUTEX_WAKE_OP | priv, 1, 1, &e_word, FUTEX_OP(7, 3, FUTEX_OP_CMP_EQ, 0));
  printf("%s: FUTEX_WAKE_OP unknown operation -> %s, word %u\n", kind, name(r),
         atomic_load(&e_word));
}

// ---- a plain thread and a fiber thread wake each other ----

static pthread_t early;
static atomic_uint early_go, main_go;

// early_thread() is made by a constructor: under the shim a real thread, which waits in the
// kernel. It is woken by a thread of main's, then wakes main.
static void* early_thread(void* arg) {
  (void)arg;
  while (atomic_load(&early_go) == 0) {
    long r = fx(&early_go, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    if (r != 0 && r != -EAGAIN && r != -EINTR) _exit(92);
  }
  atomic_store(&main_go, 1);
  if (fx(&main_go, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0) < 0) _exit(93);
  return NULL;
}

__attribute__((constructor)) static void before_main(void) {
  if (pthread_create(&early, NULL, early_thread, NULL) != 0) _exit(91);
}

static void* wake_early(void* arg) {
  (void)arg;
  atomic_store(&early_go, 1);
  CHECK(fx(&early_go, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0) >= 0);
  return NULL;
}

static void plain_thread(void) {
  pthread_t t;
  CHECK(pthread_create(&t, NULL, wake_early, NULL) == 0);
  // On one carrier: main parks here, the new thread runs and wakes the plain thread, which
  // wakes main.
  while (atomic_load(&main_go) == 0) {
    long r = fx(&main_go, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    CHECK(r == 0 || r == -EAGAIN);
  }
  CHECK(pthread_join(t, NULL) == 0);
  CHECK(pthread_join(early, NULL) == 0);
  printf("a thread made by a constructor was woken by a thread of main's, and woke main\n");
}

// ---- a shared futex between two processes ----

typedef struct {
  atomic_uint parent_ready;  // the parent's other thread ran
  atomic_uint child_done;    // the child woke the parent
} Shared;

static void* parent_helper(void* arg) {
  Shared* s = arg;
  atomic_store(&s->parent_ready, 1);
  CHECK(fx(&s->parent_ready, FUTEX_WAKE, 1, NULL, NULL, 0) >= 0);
  return NULL;
}

static void cross_process(void) {
  Shared* s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  CHECK(s != MAP_FAILED);
  atomic_store(&s->parent_ready, 0);
  atomic_store(&s->child_done, 0);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    // The child waits until the parent's helper has run, then wakes the parent's main.
    while (atomic_load(&s->parent_ready) == 0) {
      long r = fx(&s->parent_ready, FUTEX_WAIT, 0, NULL, NULL, 0);
      if (r != 0 && r != -EAGAIN) _exit(3);
    }
    atomic_store(&s->child_done, 1);
    _exit(fx(&s->child_done, FUTEX_WAKE, 1, NULL, NULL, 0) >= 0 ? 0 : 4);
  }
  pthread_t t;
  CHECK(pthread_create(&t, NULL, parent_helper, s) == 0);
  // main waits; on one carrier the helper must still run for the child to wake main.
  while (atomic_load(&s->child_done) == 0) {
    long r = fx(&s->child_done, FUTEX_WAIT, 0, NULL, NULL, 0);
    CHECK(r == 0 || r == -EAGAIN);
  }
  CHECK(pthread_join(t, NULL) == 0);
  int status;
  CHECK(waitpid(pid, &status, 0) == pid);
  printf("shared futex: the forked child woke the parent's waiting thread, status %d\n",
         WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  munmap(s, sizeof *s);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  plain_thread();
  rust_locks();
  results();
  counts(0);
  counts(1);
  cross_process();
  return 0;
}
