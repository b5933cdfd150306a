// diff_syscall: system calls made by number through syscall(3) behave as natively, and those the
// shim routes to its hooks yield instead of holding their carrier. Plain C with no weft header.
//
// - Threads block in syscall(SYS_read) on a pipe, and in SYS_nanosleep, SYS_clock_nanosleep,
//   SYS_poll and SYS_select for 1,000 s, while main goes on and ends the process: on one carrier,
//   a call that held the carrier would keep main from running (the test would time out).
// - Results and errno as the kernel gives them: -1 and EINVAL, EBADF, ENOSYS, ECHILD, EAGAIN;
//   clock_nanosleep by number reports through errno, not its result; a successful call leaves
//   errno alone.
// - fd state changed by number is seen: a pipe made blocking, then made O_NONBLOCK by
//   syscall(SYS_fcntl) or syscall(SYS_ioctl, FIONBIO), fails with EAGAIN on a thread as natively.
// - Numbers that pass straight to the kernel: getpid, gettid.
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static const char* err_name(long r, int err) {
  if (r >= 0) return "ok";
  switch (err) {
    case EINVAL:
      return "EINVAL";
    case EBADF:
      return "EBADF";
    case ENOSYS:
      return "ENOSYS";
    case ECHILD:
      return "ECHILD";
    case EAGAIN:
      return "EAGAIN";
    default:
      return strerror(err);
  }
}

static int pipe_fds[2];

static void* late_writer(void* arg) {
  (void)arg;
  CHECK(syscall(SYS_write, pipe_fds[1], "hello", 5) == 5);
  return NULL;
}

static void read_write(void) {
  CHECK(pipe(pipe_fds) == 0);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, late_writer, NULL) == 0);
  char buf[8] = {0};
  long r = syscall(SYS_read, pipe_fds[0], buf, 5);  // on one carrier: parks until the write
  CHECK(pthread_join(t, NULL) == 0);
  printf("syscall(SYS_read) waited for a thread's syscall(SYS_write): %ld '%s'\n", r, buf);
  close(pipe_fds[0]);
  close(pipe_fds[1]);
}

static atomic_int asleep;

// sleeper() blocks for 1,000 s in one of the waits (arg), by number; the process ends first.
static void* sleeper(void* arg) {
  long kind = (long)arg;
  struct timespec long_time = {1000, 0};
  atomic_fetch_add(&asleep, 1);
  switch (kind) {
    case 0:
      syscall(SYS_nanosleep, &long_time, NULL);
      break;
    case 1:
      syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &long_time, NULL);
      break;
#if defined(SYS_poll) && defined(SYS_select)  // not on aarch64, whose libc calls ppoll
    case 2: {
      int p[2];
      CHECK(pipe(p) == 0);
      struct pollfd pf = {p[0], POLLIN, 0};
      syscall(SYS_poll, &pf, 1, 1000 * 1000);
      break;
    }
    case 3: {
      struct timeval tv = {1000, 0};
      syscall(SYS_select, 0, NULL, NULL, NULL, &tv);
      break;
    }
#endif
    default:
      syscall(SYS_nanosleep, &long_time, NULL);
      break;
  }
  printf("FAILED: a 1,000 s wait ended\n");
  exit(1);
}

static void long_waits(void) {
  for (long kind = 0; kind < 4; kind++) {
    pthread_t t;
    CHECK(pthread_create(&t, NULL, sleeper, (void*)kind) == 0);
    CHECK(pthread_detach(t) == 0);
  }
  while (atomic_load(&asleep) < 4) sched_yield();
  // The four are in (or about to enter) their waits; main goes on regardless.
  printf("four threads wait 1,000 s by number (nanosleep, clock_nanosleep, poll, select)\n");
}

static void results(void) {
  struct timespec bad = {0, 1000000000};
  errno = 0;
  long r = syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &bad, NULL);
  printf("SYS_clock_nanosleep, tv_nsec 1e9 -> %ld %s\n", r, err_name(r, errno));
  r = syscall(SYS_nanosleep, &bad, NULL);
  printf("SYS_nanosleep, tv_nsec 1e9 -> %ld %s\n", r, err_name(r, errno));
  struct timespec short_time = {0, 1000000};
  errno = 4321;
  r = syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &short_time, NULL);
  printf("SYS_clock_nanosleep, 1 ms -> %ld, errno kept: %d\n", r, errno == 4321);
  r = syscall(SYS_close, -1);
  printf("SYS_close(-1) -> %ld %s\n", r, err_name(r, errno));
  char c;
  r = syscall(SYS_read, -1, &c, 1);
  printf("SYS_read(-1) -> %ld %s\n", r, err_name(r, errno));
  r = syscall(1000000);
  printf("system call 1000000 -> %ld %s\n", r, err_name(r, errno));
  r = syscall(SYS_wait4, -1, NULL, 0, NULL);
  printf("SYS_wait4, no children -> %ld %s\n", r, err_name(r, errno));
  siginfo_t info;
  r = syscall(SYS_waitid, P_ALL, 0, &info, WEXITED, NULL);
  printf("SYS_waitid, no children -> %ld %s\n", r, err_name(r, errno));
  errno = 4321;
  r = syscall(SYS_sched_yield);
  printf("SYS_sched_yield -> %ld, errno kept: %d\n", r, errno == 4321);
  printf("SYS_getpid is getpid(): %d\n", syscall(SYS_getpid) == getpid());
  printf("SYS_gettid is gettid(): %d\n", syscall(SYS_gettid) == gettid());
}

// fd_state(): the shim saw the pipe made blocking; it must see it made O_NONBLOCK by number.
static void* read_nonblocking(void* arg) {
  int fd = *(int*)arg;
  char c;
  long r = syscall(SYS_read, fd, &c, 1);
  printf("  a thread's SYS_read on it -> %ld %s\n", r, err_name(r, errno));
  return NULL;
}

static void fd_state(void) {
  for (int how = 0; how < 2; how++) {
    int p[2];
    CHECK(pipe(p) == 0);
    if (how == 0) {
      CHECK(syscall(SYS_fcntl, p[0], F_SETFL, O_NONBLOCK) == 0);
      printf("a blocking pipe made O_NONBLOCK by SYS_fcntl\n");
    } else {
      int on = 1;
      CHECK(syscall(SYS_ioctl, p[0], FIONBIO, &on) == 0);
      printf("a blocking pipe made O_NONBLOCK by SYS_ioctl(FIONBIO)\n");
    }
    pthread_t t;
    CHECK(pthread_create(&t, NULL, read_nonblocking, &p[0]) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(syscall(SYS_close, p[0]) == 0 && syscall(SYS_close, p[1]) == 0);
  }
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGPIPE, SIG_IGN);
  read_write();
  results();
  fd_state();
  long_waits();
  return 0;
}
