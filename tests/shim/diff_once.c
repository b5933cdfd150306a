// diff_once: pthread_once runs its routine exactly once while 50 threads call it, and every
// caller returns only after the routine finished, also when the routine blocks. No weft header.
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int runs, ready;
static int saw_unready;

static void init(void) {
  ++runs;
  usleep(20000);  // the other callers arrive meanwhile and must wait
  ready = 1;
}

static void* caller(void* arg) {
  (void)arg;
  pthread_once(&once, init);
  if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE))
    __atomic_fetch_add(&saw_unready, 1, __ATOMIC_RELAXED);
  return NULL;
}

int main(void) {
  pthread_t t[50];
  for (int i = 0; i < 50; ++i) pthread_create(&t[i], NULL, caller, NULL);
  for (int i = 0; i < 50; ++i) pthread_join(t[i], NULL);
  pthread_once(&once, init);
  printf("routine ran %d times; callers that returned before it finished: %d\n", runs, saw_unready);
  return 0;
}
