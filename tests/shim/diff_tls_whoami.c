// diff_tls_whoami: a thread that records "who am I" in thread-local storage when it starts finds
// the same answer there after any number of yields and blocking calls (issue 13). Language
// runtimes do exactly this (Rust's current thread, HotSpot's Thread::current(), Ruby's execution
// context) and trust it forever after. Each of 200 threads (half from pthread_create, half from
// C11 thrd_create) and main stores its index, pthread_self(), &errno, the address of a __thread
// variable and the thread pointer in a _Thread_local record; after 50 rounds of sched_yield,
// nanosleep, poll and a condition variable it checks that record against a fresh look, and,
// while all are alive, main checks that no two threads share any of them. It prints only facts
// that hold natively whatever the scheduling. No weft header.
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <threads.h>

#include "check.h"

enum { kThreads = 200, kRounds = 50 };

// Me is what a thread knows about itself.
struct Me {
  int index;
  pthread_t self;
  int* errno_addr;
  void* tls_addr;
  uintptr_t tp;  // the thread pointer (x86-64: %fs:0, the TCB's pointer to itself), or 0
};

static _Thread_local struct Me me = {-1, 0, NULL, NULL, 0};
static struct Me seen[kThreads + 1];  // seen[kThreads] is main
static pthread_t created[kThreads + 1];
// pthread_self() is the shim's handle under weftrun, not the thread pointer glibc returns
// natively (docs/shim.md, Limits): not compared here.
static int changed, not_created_handle, wrong;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int arrived, released;

static uintptr_t thread_pointer(void) {
#if defined(__x86_64__) && defined(__GLIBC__)
  uintptr_t tp;
  __asm__ volatile("mov %%fs:0, %0" : "=r"(tp));
  return tp;
#else
  return 0;
#endif
}

static struct Me look(int index) {
  struct Me m = {index, pthread_self(), &errno, &me, thread_pointer()};
  return m;
}

static int same(const struct Me* a, const struct Me* b) {
  return a->index == b->index && pthread_equal(a->self, b->self) &&
         a->errno_addr == b->errno_addr && a->tls_addr == b->tls_addr && a->tp == b->tp;
}

// rounds() yields and blocks in several ways, then compares the record with a fresh look.
static void rounds(int index) {
  for (int r = 0; r < kRounds; r++) {
    switch (r % 4) {
      case 0:
        CHECK(sched_yield() == 0);
        break;
      case 1: {
        struct timespec ts = {0, 50000};
        CHECK(nanosleep(&ts, NULL) == 0);
        break;
      }
      case 2:
        CHECK(poll(NULL, 0, 1) == 0);
        break;
      case 3: {
        struct timespec until = in_ms(CLOCK_REALTIME, 1);
        CHECK(pthread_mutex_lock(&lock) == 0);
        int rc = pthread_cond_timedwait(&cond, &lock, &until);
        CHECK(rc == 0 || rc == ETIMEDOUT);
        CHECK(pthread_mutex_unlock(&lock) == 0);
        break;
      }
    }
  }
  struct Me now = look(index);
  if (me.index != index || !same(&me, &now)) __atomic_fetch_add(&changed, 1, __ATOMIC_RELAXED);
}

// meet() waits until all threads and main have recorded themselves, and then until main has
// compared the records: every thread is alive while main looks.
static void meet(void) {
  CHECK(pthread_mutex_lock(&lock) == 0);
  ++arrived;
  CHECK(pthread_cond_broadcast(&cond) == 0);
  while (!released) CHECK(pthread_cond_wait(&cond, &lock) == 0);
  CHECK(pthread_cond_broadcast(&cond) == 0);
  CHECK(pthread_mutex_unlock(&lock) == 0);
}

static void start(int index) {
  me = look(index);
  seen[index] = me;
}

static void* posix_thread(void* arg) {
  int index = (int)(intptr_t)arg;
  start(index);
  rounds(index);
  meet();
  rounds(index);
  return NULL;
}

static int c11_thread(void* arg) {
  posix_thread(arg);
  return 0;
}

// yes() is "yes" or "no" for fact, and counts a wrong fact for the exit status.
static const char* yes(int fact) {
  wrong += !fact;
  return fact ? "yes" : "no";
}

static int distinct(size_t offset) {
  for (int i = 0; i <= kThreads; i++)
    for (int j = i + 1; j <= kThreads; j++)
      if (memcmp((char*)&seen[i] + offset, (char*)&seen[j] + offset, sizeof(void*)) == 0) return 0;
  return 1;
}

// same_offset() is whether v - tp is the same in every thread: a variable of the static TLS lies
// at a fixed distance from the thread pointer in every thread's block.
static int same_offset(size_t offset) {
  for (int i = 0; i <= kThreads; i++) {
    uintptr_t a = *(uintptr_t*)((char*)&seen[i] + offset),
              b = *(uintptr_t*)((char*)&seen[0] + offset);
    if (a - seen[i].tp != b - seen[0].tp) return 0;
  }
  return 1;
}

int main(void) {
  alarm(50);  // a hung run fails (SIGALRM) before meson's timeout
  start(kThreads);
  created[kThreads] = pthread_self();
  for (int i = 0; i < kThreads; i++) {
    if (i % 2 == 0) {
      CHECK(pthread_create(&created[i], NULL, posix_thread, (void*)(intptr_t)i) == 0);
    } else {
      thrd_t t;
      CHECK(thrd_create(&t, c11_thread, (void*)(intptr_t)i) == thrd_success);
      created[i] = (pthread_t)t;
    }
  }
  rounds(kThreads);
  CHECK(pthread_mutex_lock(&lock) == 0);
  while (arrived < kThreads) CHECK(pthread_cond_wait(&cond, &lock) == 0);
  for (int i = 0; i <= kThreads; i++)
    if (!pthread_equal(created[i], seen[i].self)) ++not_created_handle;
  printf("%d threads (pthread_create and thrd_create) and main\n", kThreads);
  printf("pthread_self() is not the handle its creator got: %d\n", not_created_handle);
  printf("pthread_self() distinct: %s\n", yes(distinct(offsetof(struct Me, self))));
  printf("&errno distinct: %s\n", yes(distinct(offsetof(struct Me, errno_addr))));
  printf("&me (a __thread variable) distinct: %s\n", yes(distinct(offsetof(struct Me, tls_addr))));
  if (seen[0].tp != 0) {
    printf("thread pointer distinct: %s\n", yes(distinct(offsetof(struct Me, tp))));
    printf("&errno and &me at the same offset from the thread pointer in all: %s\n",
           yes(same_offset(offsetof(struct Me, errno_addr)) &&
               same_offset(offsetof(struct Me, tls_addr))));
  }
  released = 1;
  CHECK(pthread_cond_broadcast(&cond) == 0);
  CHECK(pthread_mutex_unlock(&lock) == 0);
  rounds(kThreads);
  for (int i = 0; i < kThreads; i++) {
    if (i % 2 == 0) {
      CHECK(pthread_join(created[i], NULL) == 0);
    } else {
      CHECK(thrd_join((thrd_t)created[i], NULL) == thrd_success);
    }
  }
  printf("checks that found the record changed after %d yields and blocking calls: %d\n", kRounds,
         changed);
  return changed != 0 || not_created_handle != 0 || wrong != 0;
}
