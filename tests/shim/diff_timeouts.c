// diff_timeouts: SO_RCVTIMEO and SO_SNDTIMEO time out as natively (EAGAIN, or the bytes already
// sent), through a dup, and inherited by an accepted socket; a zero timeout waits. No weft
// header.
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void set_timeout(int fd, int name, long ms) {
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
  CHECK(setsockopt(fd, SOL_SOCKET, name, &tv, sizeof tv) == 0);
}

// report() runs a call that should time out after at least ms and prints how it ended.
#define REPORT(what, ms, call)                                                                 \
  do {                                                                                         \
    double t0 = now_ms();                                                                      \
    errno = 0;                                                                                 \
    long r = (long)(call);                                                                     \
    printf("%-32s -> %ld %s, waited its timeout: %d\n", what, r, r < 0 ? strerror(errno) : "", \
           now_ms() - t0 >= (ms)*0.9);                                                         \
  } while (0)

static int late_fd;
static void* write_late(void* arg) {
  (void)arg;
  usleep(30000);
  CHECK(write(late_fd, "z", 1) == 1);
  return NULL;
}

int main(void) {
  int s[2];
  char buf[64];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
  set_timeout(s[0], SO_RCVTIMEO, 50);
  REPORT("read, SO_RCVTIMEO 50 ms", 50, read(s[0], buf, 1));
  REPORT("recv", 50, recv(s[0], buf, 1, 0));
  struct sockaddr_storage from;
  socklen_t fromlen = sizeof from;
  REPORT("recvfrom", 50, recvfrom(s[0], buf, 1, 0, (struct sockaddr*)&from, &fromlen));
  struct iovec iov = {buf, 1};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
  REPORT("recvmsg", 50, recvmsg(s[0], &m, 0));

  // Through a duplicate: the timeout is the socket's.
  int d = dup(s[0]);
  CHECK(d >= 0);
  set_timeout(d, SO_RCVTIMEO, 30);
  REPORT("read on the original, 30 ms via dup", 30, read(s[0], buf, 1));
  close(d);

  // Zero: no timeout any more; a late writer is waited for.
  set_timeout(s[0], SO_RCVTIMEO, 0);
  late_fd = s[1];
  pthread_t t;
  CHECK(pthread_create(&t, NULL, write_late, NULL) == 0);
  // How long it waited depends on when the writer started: only the result is compared.
  printf("read, timeout cleared, a late writer -> %zd\n", read(s[0], buf, 1));
  CHECK(pthread_join(t, NULL) == 0);

  // SO_SNDTIMEO: a big write into a socket nobody reads returns what fit; the next one EAGAIN.
  set_timeout(s[1], SO_SNDTIMEO, 50);
  static char big[4 << 20];
  errno = 0;
  ssize_t n = write(s[1], big, sizeof big);
  printf("big write, SO_SNDTIMEO -> partial %d\n", n > 0 && n < (ssize_t)sizeof big);
  REPORT("write into the full socket", 50, write(s[1], big, 4096));
  REPORT("send into the full socket", 50, send(s[1], big, 4096, 0));
  close(s[0]);
  close(s[1]);

  // accept times out; an accepted socket inherits the listener's timeout.
  int l = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t alen = sizeof a;
  CHECK(bind(l, (struct sockaddr*)&a, sizeof a) == 0 && listen(l, 4) == 0);
  CHECK(getsockname(l, (struct sockaddr*)&a, &alen) == 0);
  set_timeout(l, SO_RCVTIMEO, 40);
  REPORT("accept, SO_RCVTIMEO 40 ms", 40, accept(l, NULL, NULL));
  int c = socket(AF_INET, SOCK_STREAM, 0);
  CHECK(connect(c, (struct sockaddr*)&a, sizeof a) == 0);
  int acc = accept(l, NULL, NULL);
  CHECK(acc >= 0);
  REPORT("read on the accepted socket", 40, read(acc, buf, 1));
  close(acc);
  close(c);
  close(l);
  return 0;
}
