// diff_rwlock: pthread rwlocks -- readers share, writers exclude (held across blocking calls),
// try/timed/clock variants, EDEADLK, recursive read locks, a waiting writer keeping new readers
// out under the writer-preferring kind. Plain C with no weft header.
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static long a, b;  // writers keep a == b, with a blocking call between the two stores
static int broken;

static void* writer(void* arg) {
  (void)arg;
  for (int i = 0; i < 20; ++i) {
    CHECK(pthread_rwlock_wrlock(&lock) == 0);
    ++a;
    usleep(100);
    ++b;
    CHECK(pthread_rwlock_unlock(&lock) == 0);
  }
  return NULL;
}

static void* reader(void* arg) {
  (void)arg;
  for (int i = 0; i < 20; ++i) {
    CHECK(pthread_rwlock_rdlock(&lock) == 0);
    if (a != b) __atomic_fetch_add(&broken, 1, __ATOMIC_RELAXED);
    usleep(200);
    if (a != b) __atomic_fetch_add(&broken, 1, __ATOMIC_RELAXED);
    CHECK(pthread_rwlock_unlock(&lock) == 0);
  }
  return NULL;
}

// Two readers that both hold the lock while they meet at a barrier: if readers excluded each
// other, the second would never get in and the first would wait at the barrier for ever.
static pthread_barrier_t both_in;
static void* reader_meets(void* arg) {
  (void)arg;
  CHECK(pthread_rwlock_rdlock(&lock) == 0);
  pthread_barrier_wait(&both_in);
  CHECK(pthread_rwlock_unlock(&lock) == 0);
  return NULL;
}

// Every helper below that gets the lock releases it before its thread ends.
static void* try_read(void* arg) {
  int r = pthread_rwlock_tryrdlock(arg);
  if (r == 0) pthread_rwlock_unlock(arg);
  return (void*)(long)r;
}
static void* try_write(void* arg) {
  int r = pthread_rwlock_trywrlock(arg);
  if (r == 0) pthread_rwlock_unlock(arg);
  return (void*)(long)r;
}
static void* timed_write(void* arg) {
  struct timespec t = in_ms(CLOCK_REALTIME, 20);
  int r = pthread_rwlock_timedwrlock(arg, &t);
  if (r == 0) pthread_rwlock_unlock(arg);
  return (void*)(long)r;
}
static void* timed_read(void* arg) {
  struct timespec t = in_ms(CLOCK_MONOTONIC, 20);
  int r = pthread_rwlock_clockrdlock(arg, CLOCK_MONOTONIC, &t);
  if (r == 0) pthread_rwlock_unlock(arg);
  return (void*)(long)r;
}
static void* read_then_unlock(void* arg) {
  int r = pthread_rwlock_rdlock(arg);
  if (r == 0) pthread_rwlock_unlock(arg);
  return (void*)(long)r;
}

static void* write_then_unlock(void* arg) {
  int r = pthread_rwlock_wrlock(arg);
  if (r == 0) pthread_rwlock_unlock(arg);
  return (void*)(long)r;
}

static long other(void* (*fn)(void*), void* arg) {
  pthread_t t;
  void* r;
  CHECK(pthread_create(&t, NULL, fn, arg) == 0 && pthread_join(t, &r) == 0);
  return (long)r;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  pthread_t t[30];
  for (int i = 0; i < 10; ++i) CHECK(pthread_create(&t[i], NULL, writer, NULL) == 0);
  for (int i = 10; i < 30; ++i) CHECK(pthread_create(&t[i], NULL, reader, NULL) == 0);
  for (int i = 0; i < 30; ++i) CHECK(pthread_join(t[i], NULL) == 0);
  printf("a %ld b %ld, readers saw a torn write %d times\n", a, b, broken);
  CHECK(pthread_barrier_init(&both_in, NULL, 2) == 0);
  CHECK(pthread_create(&t[0], NULL, reader_meets, NULL) == 0);
  CHECK(pthread_create(&t[1], NULL, reader_meets, NULL) == 0);
  CHECK(pthread_join(t[0], NULL) == 0 && pthread_join(t[1], NULL) == 0);
  printf("two readers held the lock at once\n");

  pthread_rwlock_t l;
  CHECK(pthread_rwlock_init(&l, NULL) == 0);
  CHECK(pthread_rwlock_wrlock(&l) == 0);
  printf("write-locked: tryrdlock %s, trywrlock %s\n", strerror((int)other(try_read, &l)),
         strerror((int)other(try_write, &l)));
  printf("write-locked: timedwrlock %s, clockrdlock %s\n", strerror((int)other(timed_write, &l)),
         strerror((int)other(timed_read, &l)));
  printf("wrlock again -> %s, rdlock -> %s\n", strerror(pthread_rwlock_wrlock(&l)),
         strerror(pthread_rwlock_rdlock(&l)));
  CHECK(pthread_rwlock_unlock(&l) == 0);
  CHECK(pthread_rwlock_rdlock(&l) == 0);
  CHECK(pthread_rwlock_rdlock(&l) == 0);  // a second read lock by the same thread
  printf("read-locked twice: tryrdlock %s, trywrlock %s, timedwrlock %s\n",
         strerror((int)other(try_read, &l)), strerror((int)other(try_write, &l)),
         strerror((int)other(timed_write, &l)));
  CHECK(pthread_rwlock_unlock(&l) == 0 && pthread_rwlock_unlock(&l) == 0);
  printf("unlocked: a reader gets in -> %s, trywrlock -> %s\n",
         strerror((int)other(read_then_unlock, &l)), strerror((int)other(try_write, &l)));
  CHECK(pthread_rwlock_destroy(&l) == 0);

  pthread_rwlockattr_t attr;
  pthread_rwlockattr_init(&attr);
  pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  CHECK(pthread_rwlock_init(&l, &attr) == 0);
  CHECK(pthread_rwlock_rdlock(&l) == 0);
  printf("writer-preferring, read-locked: tryrdlock %s, trywrlock %s\n",
         strerror((int)other(try_read, &l)), strerror((int)other(try_write, &l)));
  // Once a writer waits, new readers queue behind it: tryrdlock says EBUSY. Nothing shows when
  // the writer starts waiting, so ask until then (10 s at most, then the line differs).
  pthread_t waiting_writer;
  CHECK(pthread_create(&waiting_writer, NULL, write_then_unlock, &l) == 0);
  int kept_out = 0;
  for (int i = 0; i < 10000 && !kept_out; ++i) {
    kept_out = other(try_read, &l) == EBUSY;
    if (!kept_out) usleep(1000);
  }
  printf("writer-preferring, a writer waits: new readers %s\n",
         kept_out ? "are kept out" : "still get in");
  CHECK(pthread_rwlock_unlock(&l) == 0);
  void* wrote;
  CHECK(pthread_join(waiting_writer, &wrote) == 0);
  printf("then the writer gets the lock -> %s\n", strerror((int)(long)wrote));
  pthread_rwlockattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_rwlock_t ps;
  CHECK(pthread_rwlock_init(&ps, &attr) == 0);
  CHECK(pthread_rwlock_wrlock(&ps) == 0);
  printf("process-shared, write-locked: tryrdlock %s\n", strerror((int)other(try_read, &ps)));
  CHECK(pthread_rwlock_unlock(&ps) == 0 && pthread_rwlock_destroy(&ps) == 0);
  return 0;
}
