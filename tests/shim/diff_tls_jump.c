// diff_tls_jump: what glibc protects with the pointer guard keeps working across thread switches
// (issue 13). On x86-64 glibc mangles the code and stack pointers it saves in a jmp_buf, and the
// function pointers of atexit()/on_exit() handlers and fopencookie() streams, with a secret kept
// in the thread's control block (%fs:0x30) and copied into every new thread: a thread block
// built without it, or with another, jumps or calls through garbage.
// - 100 threads, 20 rounds: setjmp (or sigsetjmp with a mask), then blocking calls three frames
//   deeper, then longjmp (or siglongjmp) back; locals and the mask are as they were (the mask
//   is not changed in between: under weftrun a siglongjmp outside a handler does not restore a
//   changed one, a signal matter apart from TLS). Built with
//   _FORTIFY_SOURCE, so longjmp is __longjmp_chk, which checks the target frame is on the stack.
// - The same threads write to a fopencookie() stream main made: the cookie's write function,
//   mangled by main's guard, is called by each of them.
// - Last, a thread calls exit(3) while main waits in pthread_join: main's atexit and on_exit
//   handlers run in that thread, and the status is 3 (4 if a fact above was wrong).
// No weft header.
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>

#include "check.h"

enum { kThreads = 100, kRounds = 20 };

static pthread_t main_thread;
static uintptr_t guards[kThreads + 1];  // guards[kThreads] is main's
static int landed, bad_locals, bad_masks;
static FILE* cookie_stream;
static size_t cookie_bytes;

static uintptr_t pointer_guard(void) {
#if defined(__x86_64__) && defined(__GLIBC__)
  uintptr_t g;
  __asm__ volatile("mov %%fs:0x30, %0" : "=r"(g));
  return g;
#else
  return 1;  // elsewhere the guard is not in the thread block: nothing to compare
#endif
}

static void block(int n) {
  if (n % 2 == 0) {
    struct timespec ts = {0, 20000};
    CHECK(nanosleep(&ts, NULL) == 0);
  } else {
    CHECK(sched_yield() == 0);
  }
}

static __attribute__((noinline, noreturn)) void jump_from(jmp_buf env, int depth, int value) {
  block(depth + value);
  if (depth == 3) longjmp(env, value);
  jump_from(env, depth + 1, value);
}

static __attribute__((noinline, noreturn)) void sigjump_from(sigjmp_buf env, int depth, int value) {
  block(depth + value);
  if (depth == 3) siglongjmp(env, value);
  sigjump_from(env, depth + 1, value);
}

static int mask_is_usr1(void) {
  sigset_t now;
  CHECK(pthread_sigmask(SIG_BLOCK, NULL, &now) == 0);
  return sigismember(&now, SIGUSR1) == 1 && sigismember(&now, SIGUSR2) == 0;
}

static void* worker(void* arg) {
  int id = (int)(intptr_t)arg;
  guards[id] = pointer_guard();
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  CHECK(pthread_sigmask(SIG_BLOCK, &usr1, NULL) == 0);
  for (volatile int r = 0; r < kRounds; r++) {
    volatile int local = id * 1000 + r;
    int got;
    if (r % 2 == 0) {
      jmp_buf env;
      got = setjmp(env);
      if (got == 0) jump_from(env, 0, id + 1);
    } else {
      sigjmp_buf env;
      got = sigsetjmp(env, 1);
      if (got == 0) sigjump_from(env, 0, id + 1);
      if (!mask_is_usr1()) __atomic_fetch_add(&bad_masks, 1, __ATOMIC_RELAXED);
    }
    if (got == id + 1) __atomic_fetch_add(&landed, 1, __ATOMIC_RELAXED);
    if (local != id * 1000 + r) __atomic_fetch_add(&bad_locals, 1, __ATOMIC_RELAXED);
    CHECK(fprintf(cookie_stream, "thread %d round %d\n", id, r) > 0);
    CHECK(fflush(cookie_stream) == 0);
  }
  return NULL;
}

static ssize_t cookie_write(void* cookie, const char* buf, size_t size) {
  (void)buf;
  *(size_t*)cookie += size;  // under the stream's lock
  return (ssize_t)size;
}

static void at_exit(void) {
  printf("atexit handler ran in the thread that called exit(): %s\n",
         pthread_equal(pthread_self(), main_thread) ? "no" : "yes");
}

static void on_exit_handler(int status, void* arg) {
  printf("on_exit handler: status %d, argument %s\n", status, (const char*)arg);
}

// exiter() ends the process with status 3, or 4 when a fact above was wrong.
static void* exiter(void* arg) {
  block(0);
  exit(arg != NULL ? 3 : 4);
}

int main(void) {
  alarm(50);  // a hung run fails (SIGALRM) before meson's timeout
  main_thread = pthread_self();
  guards[kThreads] = pointer_guard();
  CHECK(atexit(at_exit) == 0);
  CHECK(on_exit(on_exit_handler, "kept") == 0);
  cookie_io_functions_t io = {NULL, cookie_write, NULL, NULL};
  cookie_stream = fopencookie(&cookie_bytes, "w", io);
  CHECK(cookie_stream != NULL);

  pthread_t threads[kThreads];
  for (int i = 0; i < kThreads; i++)
    CHECK(pthread_create(&threads[i], NULL, worker, (void*)(intptr_t)i) == 0);
  for (int i = 0; i < kThreads; i++) CHECK(pthread_join(threads[i], NULL) == 0);
  CHECK(fclose(cookie_stream) == 0);

  size_t want = 0;
  for (int i = 0; i < kThreads; i++)
    for (int r = 0; r < kRounds; r++)
      want += (size_t)snprintf(NULL, 0, "thread %d round %d\n", i, r);
  int same = 1;
  for (int i = 0; i < kThreads; i++) same &= guards[i] == guards[kThreads];
  printf("%d threads, %d jumps each across blocking calls\n", kThreads, kRounds);
  printf("jumps that landed with their value: %d\n", landed);
  printf("locals changed: %d, masks changed by siglongjmp: %d\n", bad_locals, bad_masks);
  printf("bytes through the cookie stream: %s\n", cookie_bytes == want ? "all" : "missing");
  printf("pointer guard the same in every thread: %s\n", same ? "yes" : "no");
  fflush(stdout);

  pthread_t t;
  int good = landed == kThreads * kRounds && bad_locals == 0 && bad_masks == 0 &&
             cookie_bytes == want && same;
  CHECK(pthread_create(&t, NULL, exiter, good ? &t : NULL) == 0);
  pthread_join(t, NULL);
  printf("not reached: pthread_join returned\n");
  return 1;
}
