// diff_errno: errno belongs to each thread, also while other threads run during a blocking
// call (under weft, fibers of one carrier share the OS thread's errno). No weft header.
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum { kThreads = 20, kRounds = 50 };
static int mismatches;

static void* worker(void* arg) {
  long id = (long)arg;
  for (int round = 0; round < kRounds; ++round) {
    // Each thread fails differently, then blocks, then looks at its errno again.
    if (id % 2 == 0) {
      read(-1, NULL, 0);
    } else {
      close(100000 + (int)id);  // EBADF too, but via another call
      errno = (int)(1000 + id);
    }
    int mine = errno;
    usleep(100);
    if (errno != mine) __atomic_fetch_add(&mismatches, 1, __ATOMIC_RELAXED);
  }
  return NULL;
}

int main(void) {
  pthread_t t[kThreads];
  for (long i = 0; i < kThreads; ++i) pthread_create(&t[i], NULL, worker, (void*)i);
  for (int i = 0; i < kThreads; ++i) pthread_join(t[i], NULL);
  printf("errno changed under a thread %d times\n", mismatches);
  return mismatches != 0;
}
