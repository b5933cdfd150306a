// blocker.h: one thread of a differential program that makes one blocking call, which main
// releases once the thread is surely blocked in it (wait_blocked(), check.h).
//
// block() starts the thread and returns when it sleeps in system call nr; main then does what
// releases it, storing 1 in `released` first; finish() joins the thread and prints what its call
// returned and whether it returned after the release (on one carrier under weftrun, a call that
// held the carrier instead of yielding would never let main release it: the test hangs).
#pragma once

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

// released is what main stores 1 in just before it releases the blocked call.
static atomic_int released;

// Blocker is one thread and its call: call() or, with call_fd set, call_fd(fd).
struct Blocker {
  long (*call)(void);
  int (*call_fd)(int fd);
  int fd;
  _Atomic pid_t tid;
  long result;
  int err;
  int seen;  // `released` as the thread found it when the call returned
  pthread_t thread;
};

static inline void* blocker_main(void* arg) {
  struct Blocker* b = (struct Blocker*)arg;
  atomic_store(&b->tid, os_tid());
  errno = 0;
  b->result = b->call_fd != NULL ? b->call_fd(b->fd) : b->call();
  b->err = errno;
  b->seen = atomic_load(&released);
  return NULL;
}

// start_blocker() starts b's thread and returns once it is blocked in system call nr.
static inline void start_blocker(struct Blocker* b, long nr) {
  atomic_store(&released, 0);
  CHECK(pthread_create(&b->thread, NULL, blocker_main, b) == 0);
  pid_t t;
  while ((t = atomic_load(&b->tid)) == 0) sched_yield();
  wait_blocked(t, nr);
}

// block() starts a thread that makes call(), and returns once it is blocked in system call nr.
static inline void block(struct Blocker* b, long (*call)(void), long nr) {
  memset(b, 0, sizeof *b);
  b->call = call;
  start_blocker(b, nr);
}

// block_fd() starts a thread that makes call(fd), and returns once it is blocked in nr.
static inline void block_fd(struct Blocker* b, int fd, int (*call)(int), long nr) {
  memset(b, 0, sizeof *b);
  b->call_fd = call;
  b->fd = fd;
  start_blocker(b, nr);
}

// finish() joins the thread and prints what its call returned, and whether after the release.
static inline void finish(struct Blocker* b, const char* what) {
  CHECK(pthread_join(b->thread, NULL) == 0);
  printf("%s -> %ld%s%s, after the release: %d\n", what, b->result, b->result < 0 ? " " : "",
         b->result < 0 ? strerror(b->err) : "", b->seen);
}
