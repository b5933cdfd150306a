// diff_barrier: pthread barriers -- 10 threads meet 20 times, one of them serial each round,
// nobody runs ahead; init and destroy errors; a process-shared barrier through glibc. No weft
// header.
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { kThreads = 10, kRounds = 20 };
static pthread_barrier_t barrier;
static int serial, ahead, round_of[kThreads];

static void* worker(void* arg) {
  long id = (long)arg;
  for (int r = 0; r < kRounds; ++r) {
    round_of[id] = r;
    usleep((useconds_t)(id * 50));  // arrive at different times
    int ret = pthread_barrier_wait(&barrier);
    if (ret == PTHREAD_BARRIER_SERIAL_THREAD) {
      __atomic_fetch_add(&serial, 1, __ATOMIC_RELAXED);
    } else if (ret != 0) {
      exit(3);
    }
    // Everyone has reached round r before anyone goes on.
    for (int i = 0; i < kThreads; ++i) {
      if (__atomic_load_n(&round_of[i], __ATOMIC_RELAXED) < r) {
        __atomic_fetch_add(&ahead, 1, __ATOMIC_RELAXED);
      }
    }
    pthread_barrier_wait(&barrier);
  }
  return NULL;
}

int main(void) {
  pthread_barrier_t b;
  printf("init with count 0 -> %s\n", strerror(pthread_barrier_init(&b, NULL, 0)));
  if (pthread_barrier_init(&barrier, NULL, kThreads) != 0) return 1;
  pthread_t t[kThreads];
  for (long i = 0; i < kThreads; ++i) pthread_create(&t[i], NULL, worker, (void*)i);
  for (int i = 0; i < kThreads; ++i) pthread_join(t[i], NULL);
  printf("%d rounds: %d serial returns from their first waits, %d threads ran ahead\n", kRounds,
         serial, ahead);
  printf("destroy -> %d\n", pthread_barrier_destroy(&barrier));
  if (pthread_barrier_init(&b, NULL, 1) != 0) return 1;
  printf("a barrier of one -> serial %d\n",
         pthread_barrier_wait(&b) == PTHREAD_BARRIER_SERIAL_THREAD);
  pthread_barrierattr_t attr;
  pthread_barrierattr_init(&attr);
  pthread_barrierattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_barrier_t shared;
  int r = pthread_barrier_init(&shared, &attr, 1);
  printf("process-shared init -> %d, wait alone -> serial %d\n", r,
         pthread_barrier_wait(&shared) == PTHREAD_BARRIER_SERIAL_THREAD);
  return 0;
}
