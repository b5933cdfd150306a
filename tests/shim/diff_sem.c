// diff_sem: unnamed POSIX semaphores -- 200 threads passing units through two semaphores,
// trywait/timedwait/clockwait, getvalue, sem_init limits; a named semaphore stays glibc's.
// Plain C with no weft header.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

enum { kPairs = 100, kRounds = 50 };
static sem_t items, slots;
static long moved;

static void* producer(void* arg) {
  (void)arg;
  for (int i = 0; i < kRounds; ++i) {
    CHECK(sem_wait(&slots) == 0);
    CHECK(sem_post(&items) == 0);
  }
  return NULL;
}

static void* consumer(void* arg) {
  (void)arg;
  for (int i = 0; i < kRounds; ++i) {
    CHECK(sem_wait(&items) == 0);
    __atomic_fetch_add(&moved, 1, __ATOMIC_RELAXED);
    usleep(10);
    CHECK(sem_post(&slots) == 0);
  }
  return NULL;
}

static sem_t late;
static void* post_later(void* arg) {
  (void)arg;
  usleep(20000);
  CHECK(sem_post(&late) == 0);
  return NULL;
}

int main(void) {
  CHECK(sem_init(&items, 0, 0) == 0 && sem_init(&slots, 0, 4) == 0);
  pthread_t t[2 * kPairs];
  for (int i = 0; i < kPairs; ++i) {
    CHECK(pthread_create(&t[2 * i], NULL, producer, NULL) == 0);
    CHECK(pthread_create(&t[2 * i + 1], NULL, consumer, NULL) == 0);
  }
  for (int i = 0; i < 2 * kPairs; ++i) CHECK(pthread_join(t[i], NULL) == 0);
  int v;
  CHECK(sem_getvalue(&slots, &v) == 0);
  printf("moved %ld units, slots back to %d\n", moved, v);

  errno = 0;
  SHOW("trywait on 0", sem_trywait(&items));
  struct timespec soon = in_ms(CLOCK_REALTIME, 20);
  errno = 0;
  SHOW("timedwait 20 ms", sem_timedwait(&items, &soon));
  soon = in_ms(CLOCK_MONOTONIC, 20);
  errno = 0;
  SHOW("clockwait 20 ms", sem_clockwait(&items, CLOCK_MONOTONIC, &soon));
  struct timespec bad = {0, 2000000000};
  errno = 0;
  SHOW("timedwait with a bad time", sem_timedwait(&items, &bad));
  CHECK(sem_post(&items) == 0);
  printf("timedwait with a bad time, unit there -> %d\n", sem_timedwait(&items, &bad));

  CHECK(sem_init(&late, 0, 0) == 0);
  pthread_t p;
  CHECK(pthread_create(&p, NULL, post_later, NULL) == 0);
  soon = in_ms(CLOCK_MONOTONIC, 10000);
  printf("clockwait for a late post -> %d\n", sem_clockwait(&late, CLOCK_MONOTONIC, &soon));
  CHECK(pthread_join(p, NULL) == 0);
  errno = 0;
  SHOW("sem_init above SEM_VALUE_MAX", sem_init(&late, 0, (unsigned)SEM_VALUE_MAX + 1u));
  CHECK(sem_destroy(&late) == 0 && sem_destroy(&items) == 0 && sem_destroy(&slots) == 0);

  char name[64];
  snprintf(name, sizeof name, "/weft-diff-sem-%d", (int)getpid());
  sem_t* named = sem_open(name, O_CREAT | O_EXCL, 0600, 1);
  CHECK(named != SEM_FAILED);
  sem_unlink(name);
  CHECK(sem_wait(named) == 0);
  errno = 0;
  SHOW("named: trywait after wait", sem_trywait(named));
  CHECK(sem_post(named) == 0 && sem_getvalue(named, &v) == 0);
  printf("named: value %d\n", v);
  sem_close(named);

  // A process-shared unnamed semaphore, glibc's.
  sem_t shared;
  CHECK(sem_init(&shared, 1, 2) == 0 && sem_wait(&shared) == 0 && sem_getvalue(&shared, &v) == 0);
  printf("pshared: value %d\n", v);
  CHECK(sem_destroy(&shared) == 0);
  return 0;
}
