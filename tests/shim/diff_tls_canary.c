// diff_tls_canary: code built with -fstack-protector-all keeps working when its protected frames
// span blocking calls and thread switches (issue 13). On x86-64 the canary each protected frame
// stores on entry and checks on return is read from the thread's control block (%fs:0x28),
// which glibc copies from the process's value into every new thread: a thread block built
// without it, or a frame that returns under another block's canary, aborts with "stack smashing
// detected". 200 threads (and main) recurse 16 frames deep, each frame holding a buffer filled
// with a pattern of its own and making a blocking call on the way down and on the way up, and
// check their buffers. Main's protected frame spans creating and joining them. No weft header.
#include <poll.h>
#include <pthread.h>
#include <stdint.h>

#include "check.h"

enum { kThreads = 200, kDepth = 16 };

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static uintptr_t guards[kThreads + 1];  // guards[kThreads] is main's
static int bad_frames, frames;

static uintptr_t stack_guard(void) {
#if defined(__x86_64__) && defined(__GLIBC__)
  uintptr_t g;
  __asm__ volatile("mov %%fs:0x28, %0" : "=r"(g));
  return g;
#else
  return 1;  // elsewhere the canary is not in the thread block: nothing to compare
#endif
}

static void block(int n) {
  switch (n % 4) {
    case 0: {
      struct timespec ts = {0, 20000};
      CHECK(nanosleep(&ts, NULL) == 0);
      break;
    }
    case 1:
      CHECK(sched_yield() == 0);
      break;
    case 2:
      CHECK(poll(NULL, 0, 0) == 0);
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

// descend() is one protected frame: a buffer with a pattern of (id, depth), a blocking call
// before and after the deeper frames, and a check of the buffer before it returns.
static __attribute__((noinline)) int descend(int id, int depth) {
  volatile unsigned char buf[64];
  for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(id * 7 + depth * 13 + i);
  block(id + depth);
  int below = depth + 1 < kDepth ? descend(id, depth + 1) : 0;
  block(id + depth + 1);
  int ok = 1;
  for (size_t i = 0; i < sizeof buf; i++) ok &= buf[i] == (unsigned char)(id * 7 + depth * 13 + i);
  __atomic_fetch_add(&frames, 1, __ATOMIC_RELAXED);
  if (!ok) __atomic_fetch_add(&bad_frames, 1, __ATOMIC_RELAXED);
  return below + 1;
}

static void* worker(void* arg) {
  int id = (int)(intptr_t)arg;
  guards[id] = stack_guard();
  for (int i = 0; i < 4; i++) CHECK(descend(id, 0) == kDepth);
  return NULL;
}

// run() is main's protected frame around the threads' whole life.
static __attribute__((noinline)) void run(void) {
  char name[32];
  snprintf(name, sizeof name, "main frame");
  pthread_t threads[kThreads];
  for (int i = 0; i < kThreads; i++)
    CHECK(pthread_create(&threads[i], NULL, worker, (void*)(intptr_t)i) == 0);
  CHECK(descend(kThreads, 0) == kDepth);
  for (int i = 0; i < kThreads; i++) CHECK(pthread_join(threads[i], NULL) == 0);
  CHECK(strcmp(name, "main frame") == 0);
}

int main(void) {
  alarm(50);  // a hung run fails (SIGALRM) before meson's timeout
  guards[kThreads] = stack_guard();
  run();
  int same = guards[kThreads] != 0;
  for (int i = 0; i < kThreads; i++) same &= guards[i] == guards[kThreads];
  printf("%d threads (4 descents each) and main (1), %d protected frames deep, all blocking\n",
         kThreads, kDepth);
  printf("frames returned: %d, with a changed buffer: %d\n", frames, bad_frames);
  printf("stack guard the same (and not 0) in every thread: %s\n", same ? "yes" : "no");
  return bad_frames != 0 || !same;
}
