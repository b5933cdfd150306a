// diff_threads: pthread create/join/detach/exit/self/equal, names, stack sizes, timed joins.
// Plain C with no weft header; run natively and under weftrun, the outputs must match.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static void* twice(void* arg) {
  return (void*)((long)arg * 2);
}

// A ring of threads passing a token through pipes: each blocks in read until its left
// neighbour writes, so on one carrier a read that did not yield would hang the ring.
enum { kRing = 50, kLaps = 20 };
static int ring[kRing][2];

static void* ring_member(void* arg) {
  long i = (long)arg;
  for (int lap = 0; lap < kLaps; ++lap) {
    long token;
    CHECK(read(ring[i][0], &token, sizeof token) == sizeof token);
    ++token;
    CHECK(write(ring[(i + 1) % kRing][1], &token, sizeof token) == sizeof token);
  }
  return NULL;
}

static void* exits_early(void* arg) {
  if (arg != NULL) pthread_exit((void*)42);
  return (void*)1;
}

static void* deep(void* arg) {
  // Touches most of the stack it asked for: a fiber given less would overflow.
  size_t n = (size_t)arg;
  volatile char* buf = __builtin_alloca(n);
  for (size_t i = 0; i < n; i += 4096) buf[i] = (char)i;
  return (void*)(long)buf[0];
}

static pthread_t seen_self;
static void* reports_self(void* arg) {
  (void)arg;
  seen_self = pthread_self();
  return NULL;
}

static void* sleeper(void* arg) {
  usleep((useconds_t)(long)arg);
  return (void*)7;
}

// gated() ends only once main writes to its pipe: tryjoin and timedjoin see it running for sure.
static int gate[2];
static void* gated(void* arg) {
  (void)arg;
  char c;
  CHECK(read(gate[0], &c, 1) == 1);
  return (void*)7;
}

static volatile int detached_ran;
static void* detached(void* arg) {
  (void)arg;
  usleep(1000);
  detached_ran = 1;
  return NULL;
}

static void* named(void* arg) {
  (void)arg;
  char name[16];
  CHECK(pthread_setname_np(pthread_self(), "worker-7") == 0);
  CHECK(pthread_getname_np(pthread_self(), name, sizeof name) == 0);
  printf("own name: %s\n", name);
  CHECK(pthread_setname_np(pthread_self(), "a-name-too-long-for-it") == ERANGE);
  return NULL;
}

int main(void) {
  // Results come back through join, in order.
  pthread_t t[8];
  for (long i = 0; i < 8; ++i) CHECK(pthread_create(&t[i], NULL, twice, (void*)i) == 0);
  for (int i = 0; i < 8; ++i) {
    void* r;
    CHECK(pthread_join(t[i], &r) == 0);
    printf("join %d -> %ld\n", i, (long)r);
  }

  // The token ring.
  pthread_t members[kRing];
  for (int i = 0; i < kRing; ++i) CHECK(pipe(ring[i]) == 0);
  for (long i = 0; i < kRing; ++i)
    CHECK(pthread_create(&members[i], NULL, ring_member, (void*)i) == 0);
  long token = 0;
  CHECK(write(ring[0][1], &token, sizeof token) == sizeof token);
  for (int i = 0; i < kRing; ++i) CHECK(pthread_join(members[i], NULL) == 0);
  CHECK(read(ring[0][0], &token, sizeof token) == sizeof token);
  printf("ring token %ld\n", token);
  for (int i = 0; i < kRing; ++i) {
    close(ring[i][0]);
    close(ring[i][1]);
  }

  // pthread_exit hands its value to join.
  void* r;
  CHECK(pthread_create(&t[0], NULL, exits_early, (void*)1) == 0);
  CHECK(pthread_join(t[0], &r) == 0);
  printf("pthread_exit value %ld\n", (long)r);

  // Stack sizes from attributes are honoured.
  pthread_attr_t attr;
  CHECK(pthread_attr_init(&attr) == 0);
  CHECK(pthread_attr_setstacksize(&attr, 4 << 20) == 0);
  CHECK(pthread_create(&t[0], &attr, deep, (void*)(3 << 20)) == 0);
  CHECK(pthread_join(t[0], NULL) == 0);
  printf("3 MiB of a 4 MiB stack used\n");

  // A detached thread cannot be joined; it runs anyway.
  CHECK(pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0);
  CHECK(pthread_create(&t[0], &attr, detached, NULL) == 0);
  pthread_attr_destroy(&attr);
  for (int i = 0; i < 10000 && !detached_ran; ++i) usleep(1000);
  printf("detached ran %d\n", detached_ran);
  CHECK(pthread_create(&t[0], NULL, sleeper, (void*)1000L) == 0);
  CHECK(pthread_detach(t[0]) == 0);

  // pthread_self and pthread_equal.
  CHECK(pthread_create(&t[0], NULL, reports_self, NULL) == 0);
  CHECK(pthread_join(t[0], NULL) == 0);
  printf("self matches handle %d, differs from main %d, main equals itself %d\n",
         pthread_equal(seen_self, t[0]) != 0, pthread_equal(seen_self, pthread_self()) != 0,
         pthread_equal(pthread_self(), pthread_self()) != 0);
  printf("join self: %s\n", strerror(pthread_join(pthread_self(), NULL)));

  // tryjoin, timedjoin.
  CHECK(pipe(gate) == 0);
  CHECK(pthread_create(&t[0], NULL, gated, NULL) == 0);
  printf("tryjoin running: %s\n", strerror(pthread_tryjoin_np(t[0], NULL)));
  struct timespec soon;
  clock_gettime(CLOCK_REALTIME, &soon);
  soon.tv_nsec += 10 * 1000 * 1000;
  if (soon.tv_nsec >= 1000000000) {
    soon.tv_sec += 1;
    soon.tv_nsec -= 1000000000;
  }
  printf("timedjoin 10 ms: %s\n", strerror(pthread_timedjoin_np(t[0], NULL, &soon)));
  CHECK(write(gate[1], "g", 1) == 1);
  CHECK(pthread_join(t[0], &r) == 0);
  printf("then join: %ld\n", (long)r);

  // Names.
  CHECK(pthread_create(&t[0], NULL, named, NULL) == 0);
  CHECK(pthread_join(t[0], NULL) == 0);

  // errno is per thread, also across calls that block.
  errno = 0;
  printf("errno after all that: %d\n", errno);
  return 5;
}
