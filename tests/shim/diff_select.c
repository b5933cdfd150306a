// diff_select: select, pselect, ppoll, epoll_wait, epoll_pwait and epoll_pwait2 wait for a
// thread's write, time out, and report errors as natively. Plain C with no weft header.
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int p[2], q[2];

static void* write_soon(void* arg) {
  usleep(20000);
  CHECK(write(*(int*)arg, "!", 1) == 1);
  return NULL;
}

static pthread_t later(int* fd) {
  pthread_t t;
  CHECK(pthread_create(&t, NULL, write_soon, fd) == 0);
  return t;
}

static void drain(int fd) {
  char c;
  CHECK(read(fd, &c, 1) == 1);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  CHECK(pipe(p) == 0 && pipe(q) == 0);

  // select: a late write into the second pipe.
  pthread_t t = later(&q[1]);
  fd_set r;
  FD_ZERO(&r);
  FD_SET(p[0], &r);
  FD_SET(q[0], &r);
  int n = select(q[0] + 1, &r, NULL, NULL, NULL);
  printf("select -> %d, p %d q %d\n", n, FD_ISSET(p[0], &r) != 0, FD_ISSET(q[0], &r) != 0);
  CHECK(pthread_join(t, NULL) == 0);
  drain(q[0]);

  // select: write sets, a timeout with nothing ready.
  fd_set w;
  FD_ZERO(&w);
  FD_SET(p[1], &w);
  printf("select writable -> %d\n", select(p[1] + 1, NULL, &w, NULL, NULL));
  FD_ZERO(&r);
  FD_SET(p[0], &r);
  struct timeval tv = {0, 30000};
  double t0 = now_ms();
  n = select(p[0] + 1, &r, NULL, NULL, &tv);
  printf("select 30 ms -> %d, waited %d, set cleared %d, timeout left %ld.%06ld\n", n,
         now_ms() - t0 >= 27, !FD_ISSET(p[0], &r), (long)tv.tv_sec, (long)tv.tv_usec);
  // A closed fd inside the process's fd table (Linux ignores fds beyond the table's size).
  int closed = dup(p[0]);
  CHECK(closed >= 0);
  close(closed);
  FD_ZERO(&r);
  FD_SET(p[0], &r);
  FD_SET(closed, &r);
  errno = 0;
  SHOW("select with a closed fd", select(closed + 1, &r, NULL, NULL, NULL));
  errno = 0;
  SHOW("select nfds -1", select(-1, NULL, NULL, NULL, NULL));

  // pselect without a mask, with a timeout.
  t = later(&p[1]);
  FD_ZERO(&r);
  FD_SET(p[0], &r);
  struct timespec ts = {10, 0};
  printf("pselect -> %d\n", pselect(p[0] + 1, &r, NULL, NULL, &ts, NULL));
  CHECK(pthread_join(t, NULL) == 0);
  drain(p[0]);
  ts.tv_sec = 0;
  ts.tv_nsec = 20 * 1000 * 1000;
  FD_ZERO(&r);
  FD_SET(p[0], &r);
  printf("pselect 20 ms -> %d\n", pselect(p[0] + 1, &r, NULL, NULL, &ts, NULL));
  // pselect with a mask: passes through, same answer.
  sigset_t mask;
  sigemptyset(&mask);
  FD_ZERO(&r);
  FD_SET(p[0], &r);
  printf("pselect with a mask 20 ms -> %d\n", pselect(p[0] + 1, &r, NULL, NULL, &ts, &mask));

  // ppoll.
  t = later(&q[1]);
  struct pollfd two[2] = {{p[0], POLLIN, 0}, {q[0], POLLIN, 0}};
  ts.tv_sec = 10;
  printf("ppoll -> %d revents %d %d\n", ppoll(two, 2, &ts, NULL), two[0].revents, two[1].revents);
  CHECK(pthread_join(t, NULL) == 0);
  drain(q[0]);
  ts.tv_sec = 0;
  printf("ppoll 20 ms -> %d\n", ppoll(two, 2, &ts, NULL));
  struct timespec bad = {0, -1};
  errno = 0;
  SHOW("ppoll with a bad timeout", ppoll(two, 2, &bad, NULL));

  // epoll_wait.
  int ep = epoll_create1(EPOLL_CLOEXEC);
  CHECK(ep >= 0);
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 77};
  CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) == 0);
  t0 = now_ms();
  struct epoll_event got[4];
  n = epoll_wait(ep, got, 4, 30);
  printf("epoll_wait 30 ms -> %d, waited %d\n", n, now_ms() - t0 >= 27);
  t = later(&p[1]);
  n = epoll_wait(ep, got, 4, -1);
  printf("epoll_wait -> %d data %u events %u\n", n, got[0].data.u32, got[0].events);
  CHECK(pthread_join(t, NULL) == 0);
  printf("epoll_pwait, still readable -> %d\n", epoll_pwait(ep, got, 4, -1, NULL));
  drain(p[0]);
  // epoll_pwait2: a timespec timeout (NULL waits for ever).
  struct timespec ms30 = {0, 30 * 1000000}, bad_ts = {0, -5};
  t0 = now_ms();
  n = epoll_pwait2(ep, got, 4, &ms30, NULL);
  printf("epoll_pwait2 30 ms -> %d, waited %d\n", n, now_ms() - t0 >= 27);
  t = later(&p[1]);
  n = epoll_pwait2(ep, got, 4, NULL, NULL);
  printf("epoll_pwait2 -> %d data %u\n", n, got[0].data.u32);
  CHECK(pthread_join(t, NULL) == 0);
  drain(p[0]);
  errno = 0;
  SHOW("epoll_pwait2 with a bad timeout", epoll_pwait2(ep, got, 4, &bad_ts, NULL));
  errno = 0;
  SHOW("epoll_wait maxevents 0", epoll_wait(ep, got, 0, 10));
  errno = 0;
  SHOW("epoll_wait on a pipe", epoll_wait(p[0], got, 4, 10));
  printf("epoll_pwait with a mask 10 ms -> %d\n", epoll_pwait(ep, got, 4, 10, &mask));
  close(ep);
  return 0;
}
