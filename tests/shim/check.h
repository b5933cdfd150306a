// check.h: what the differential programs share. Plain C with no weft header, like them.
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

// CHECK ends the program with status 1, saying which line failed and errno, when cond is false;
// a differential test's output then differs from the native run's (or the native run fails).
#define CHECK(cond)                                                                \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      printf("FAILED line %d: %s (errno %s)\n", __LINE__, #cond, strerror(errno)); \
      exit(1);                                                                     \
    }                                                                              \
  } while (0)

// in_ms() is the time ms milliseconds from now on clock, as an absolute timespec.
static inline struct timespec in_ms(clockid_t clock, long ms) {
  struct timespec t;
  clock_gettime(clock, &t);
  t.tv_nsec += (ms % 1000) * 1000000;
  t.tv_sec += ms / 1000 + t.tv_nsec / 1000000000;
  t.tv_nsec %= 1000000000;
  return t;
}

// os_tid() is the calling OS thread's id (under weftrun, its carrier's).
static inline pid_t os_tid(void) {
  return (pid_t)syscall(SYS_gettid);
}

// wait_blocked() returns once thread t is (very probably) blocked in system call nr: natively,
// /proc/self/task/T/syscall names the call it sleeps in. Under weftrun on one carrier, a caller
// that finds itself on t's OS thread knows t has yielded, and yields a little more so that t
// reaches its call (a call that held the carrier instead would hang the program here); on
// several, t's carrier sleeps in its reactor once all its fibers wait. It gives up after about
// 20 s (the caller goes on: what it then prints shows whether the order mattered).
static inline void wait_blocked(pid_t t, long nr) {
  for (int i = 0; i < 20000; i++) {
    if (os_tid() == t) {
      for (int k = 0; k < 20; k++) sched_yield();
      return;
    }
    char path[64], buf[64] = "";
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)t);
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
      ssize_t n = read(fd, buf, sizeof buf - 1);
      close(fd);
      // Under weftrun on several carriers, the target's carrier sleeps in its reactor once all
      // of its fibers wait: io_uring_enter, or epoll_pwait2 / epoll_wait on the epoll backend.
      long now = strtol(buf, NULL, 10);
      int reactor = now == SYS_io_uring_enter || now == SYS_epoll_pwait2 || now == SYS_epoll_wait ||
                    now == SYS_epoll_pwait;
      if (n > 0 && buf[0] >= '0' && buf[0] <= '9' && (now == nr || reactor)) return;
    }
    usleep(1000);
  }
}

// SHOW prints "what -> R" for expr's result R, followed by the error it left in errno when R is
// negative. The call is made before errno is read (as printf's own arguments, their order would
// be unspecified).
#define SHOW(what, expr)                                             \
  do {                                                               \
    errno = 0;                                                       \
    long show_r_ = (long)(expr);                                     \
    int show_e_ = errno;                                             \
    printf("%s -> %ld%s%s\n", what, show_r_, show_r_ < 0 ? " " : "", \
           show_r_ < 0 ? strerror(show_e_) : "");                    \
  } while (0)
