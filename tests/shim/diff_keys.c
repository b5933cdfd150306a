// diff_keys: pthread_key_* values are per thread (fibers of one carrier do not share them), and
// their destructors run when a thread ends, in rounds, also after pthread_exit, as that thread
// (pthread_self() there is still the ending thread's) and before pthread_join returns. No weft
// header.
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

static pthread_key_t key, again_key, self_key;
static long destroyed_sum, destroyed_count, again_rounds, mismatches, self_checked, not_self;

static void destroy(void* v) {
  __atomic_fetch_add(&destroyed_sum, (long)v, __ATOMIC_RELAXED);
  __atomic_fetch_add(&destroyed_count, 1, __ATOMIC_RELAXED);
}

// Sets itself again twice: pthread runs another destructor round each time.
static void destroy_again(void* v) {
  long n = (long)v;
  __atomic_fetch_add(&again_rounds, 1, __ATOMIC_RELAXED);
  if (n < 3) pthread_setspecific(again_key, (void*)(n + 1));
}

// The value is the thread's own pthread_t, which the destructor must still be running as.
static void destroy_self(void* v) {
  pthread_t* self = v;
  if (!pthread_equal(*self, pthread_self())) __atomic_fetch_add(&not_self, 1, __ATOMIC_RELAXED);
  __atomic_fetch_add(&self_checked, 1, __ATOMIC_RELAXED);
  free(self);
}

static void* worker(void* arg) {
  long id = (long)arg;
  CHECK(pthread_getspecific(key) == NULL);
  CHECK(pthread_setspecific(key, (void*)id) == 0);
  pthread_t* self = malloc(sizeof *self);
  CHECK(self != NULL);
  *self = pthread_self();
  CHECK(pthread_setspecific(self_key, self) == 0);
  for (int i = 0; i < 10; ++i) {
    usleep(100);  // the other threads set theirs meanwhile
    if (pthread_getspecific(key) != (void*)id) __atomic_fetch_add(&mismatches, 1, __ATOMIC_RELAXED);
  }
  if (id == 7) {
    CHECK(pthread_setspecific(again_key, (void*)1) == 0);
    pthread_exit(NULL);
  }
  return NULL;
}

int main(void) {
  CHECK(pthread_key_create(&key, destroy) == 0);
  CHECK(pthread_key_create(&again_key, destroy_again) == 0);
  CHECK(pthread_key_create(&self_key, destroy_self) == 0);
  CHECK(pthread_setspecific(key, (void*)1000) == 0);
  pthread_t t[20];
  for (long i = 1; i <= 20; ++i) CHECK(pthread_create(&t[i - 1], NULL, worker, (void*)i) == 0);
  for (int i = 0; i < 20; ++i) CHECK(pthread_join(t[i], NULL) == 0);
  printf("values mixed up between threads: %ld\n", mismatches);
  printf("destructors: %ld calls, sum %ld\n", destroyed_count, destroyed_sum);
  printf("re-setting destructor ran %ld rounds\n", again_rounds);
  printf("destructors that ran as their thread: %ld of %ld\n", self_checked - not_self,
         self_checked);
  printf("main's own value: %ld\n", (long)pthread_getspecific(key));
  CHECK(pthread_key_delete(key) == 0);
  printf("after delete: setspecific -> %s\n", strerror(pthread_setspecific(key, (void*)1)));
  printf("delete twice -> %s\n", strerror(pthread_key_delete(key)));
  pthread_key_t k2;
  CHECK(pthread_key_create(&k2, NULL) == 0);
  printf("a new key starts empty: %p\n", pthread_getspecific(k2));
  return 0;
}
