// diff_io: read/write/readv/writev, the socket calls, poll and the sleeps, with their results,
// short counts and errno exactly as natively. Plain C with no weft header.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

// ---- a blocking reader and a slow writer: the big write completes whole.
enum { kBig = 1 << 20 };
static int big_pipe[2];

static void* slow_reader(void* arg) {
  (void)arg;
  static char buf[kBig];
  size_t got = 0;
  unsigned sum = 0;
  while (got < kBig) {
    ssize_t n = read(big_pipe[0], buf, 7000);  // short reads of a big write
    CHECK(n > 0);
    for (ssize_t i = 0; i < n; ++i) sum += (unsigned char)buf[i];
    got += (size_t)n;
  }
  return (void*)(unsigned long)sum;
}

static void big_write(void) {
  static char buf[kBig];
  unsigned sum = 0;
  for (int i = 0; i < kBig; ++i) {
    buf[i] = (char)(i * 7);
    sum += (unsigned char)buf[i];
  }
  CHECK(pipe(big_pipe) == 0);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, slow_reader, NULL) == 0);
  printf("1 MiB write into a 64 KiB pipe -> %zd\n", write(big_pipe[1], buf, kBig));
  void* r;
  CHECK(pthread_join(t, &r) == 0);
  printf("reader's checksum matches %d\n", (unsigned)(unsigned long)r == sum);
  close(big_pipe[0]);
  close(big_pipe[1]);
}

// ---- vectors, short reads, end of file, bad fds, errno after success.
static void vectors(void) {
  int p[2];
  CHECK(pipe(p) == 0);
  struct iovec out[3] = {{"hello ", 6}, {"", 0}, {"world", 5}};
  printf("writev -> %zd\n", writev(p[1], out, 3));
  char a[4], b[32];
  struct iovec in[2] = {{a, sizeof a}, {b, sizeof b}};
  ssize_t n = readv(p[0], in, 2);
  printf("readv -> %zd: '%.4s' '%.*s'\n", n, a, (int)(n > 4 ? n - 4 : 0), b);
  CHECK(write(p[1], "abc", 3) == 3);
  char buf[100];
  printf("read 100 of 3 -> %zd\n", read(p[0], buf, sizeof buf));
  errno = 12345;
  CHECK(write(p[1], "x", 1) == 1);
  CHECK(read(p[0], buf, 1) == 1);
  printf("errno untouched by successful calls: %d\n", errno);
  close(p[1]);
  printf("read at end of file -> %zd\n", read(p[0], buf, sizeof buf));
  close(p[0]);
  errno = 0;
  SHOW("read on a closed fd", read(p[0], buf, 1));
  errno = 0;
  SHOW("write on fd -1", write(-1, buf, 1));
  volatile int minus_one = -1;  // hidden from the compiler's argument checks
  errno = 0;
  SHOW("readv with -1 buffers", readv(0, in, minus_one));
  SHOW("close a fresh dup", close(dup(1)));
  SHOW("close fd 999", close(999));
}

// ---- TCP: accept in a thread, connect, send/recv, recvfrom without an address, shutdown.
static int listener;
static struct sockaddr_in listen_addr;

static void* echo_once(void* arg) {
  (void)arg;
  struct sockaddr_in peer;
  socklen_t len = sizeof peer;
  int c = accept(listener, (struct sockaddr*)&peer, &len);
  CHECK(c >= 0);
  CHECK(len == sizeof peer && peer.sin_family == AF_INET);
  char buf[256];
  ssize_t n;
  while ((n = recv(c, buf, sizeof buf, 0)) > 0) CHECK(send(c, buf, (size_t)n, 0) == n);
  close(c);
  return NULL;
}

static void tcp(void) {
  listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(listener >= 0);
  listen_addr.sin_family = AF_INET;
  listen_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof listen_addr;
  CHECK(bind(listener, (struct sockaddr*)&listen_addr, sizeof listen_addr) == 0);
  CHECK(listen(listener, 16) == 0);
  CHECK(getsockname(listener, (struct sockaddr*)&listen_addr, &len) == 0);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, echo_once, NULL) == 0);
  int c = socket(AF_INET, SOCK_STREAM, 0);
  printf("connect -> %d\n", connect(c, (struct sockaddr*)&listen_addr, sizeof listen_addr));
  printf("send -> %zd\n", send(c, "ping", 4, 0));
  char buf[16] = {0};
  struct sockaddr_in from;
  socklen_t fromlen = sizeof from;
  ssize_t n = recvfrom(c, buf, 4, MSG_WAITALL, (struct sockaddr*)&from, &fromlen);
  printf("recvfrom on TCP -> %zd '%s' addrlen %u\n", n, buf, (unsigned)fromlen);
  struct msghdr m = {0};
  struct iovec iov[2] = {{"ab", 2}, {"cd", 2}};
  m.msg_iov = iov;
  m.msg_iovlen = 2;
  printf("sendmsg -> %zd\n", sendmsg(c, &m, 0));
  char x[2], y[2];
  struct iovec rio[2] = {{x, 2}, {y, 2}};
  m.msg_iov = rio;
  printf("recvmsg WAITALL -> %zd '%.2s%.2s'\n", recvmsg(c, &m, MSG_WAITALL), x, y);
  shutdown(c, SHUT_WR);
  printf("recv after the peer closed -> %zd\n", recv(c, buf, sizeof buf, 0));
  CHECK(pthread_join(t, NULL) == 0);
  close(c);
  // Nobody listens any more: connect is refused.
  close(listener);
  c = socket(AF_INET, SOCK_STREAM, 0);
  errno = 0;
  SHOW("connect to a closed port", connect(c, (struct sockaddr*)&listen_addr, sizeof listen_addr));
  close(c);
}

// ---- UDP: sendto/recvfrom carry addresses.
static void udp(void) {
  int a = socket(AF_INET, SOCK_DGRAM, 0), b = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  struct sockaddr_in sb = sa;
  socklen_t len = sizeof sa;
  CHECK(bind(a, (struct sockaddr*)&sa, sizeof sa) == 0);
  CHECK(getsockname(a, (struct sockaddr*)&sa, &len) == 0);
  CHECK(bind(b, (struct sockaddr*)&sb, sizeof sb) == 0);
  len = sizeof sb;
  CHECK(getsockname(b, (struct sockaddr*)&sb, &len) == 0);
  printf("sendto -> %zd\n", sendto(b, "datagram", 8, 0, (struct sockaddr*)&sa, sizeof sa));
  char buf[64];
  struct sockaddr_in from;
  socklen_t fromlen = sizeof from;
  ssize_t n = recvfrom(a, buf, sizeof buf, 0, (struct sockaddr*)&from, &fromlen);
  printf("recvfrom -> %zd '%.*s' from the sender %d (addrlen %u)\n", n, (int)n, buf,
         from.sin_port == sb.sin_port, (unsigned)fromlen);
  printf("short datagram read -> %zd\n",
         (sendto(b, "0123456789", 10, 0, (struct sockaddr*)&sa, sizeof sa), recv(a, buf, 4, 0)));
  close(a);
  close(b);
}

// ---- poll: one fd, several fds, timeouts, POLLNVAL, negative fds.
static int poll_pipe[2];
static void* write_soon(void* arg) {
  (void)arg;
  usleep(20000);
  CHECK(write(poll_pipe[1], "!", 1) == 1);
  return NULL;
}

static void polls(void) {
  int p[2], q[2];
  CHECK(pipe(p) == 0 && pipe(q) == 0);
  struct pollfd one = {p[0], POLLIN, 0};
  double t0 = now_ms();
  printf("poll one idle fd 50 ms -> %d", poll(&one, 1, 50));
  printf(" after >= 45 ms: %d\n", now_ms() - t0 >= 45);
  poll_pipe[0] = q[0];
  poll_pipe[1] = q[1];
  pthread_t t;
  CHECK(pthread_create(&t, NULL, write_soon, NULL) == 0);
  struct pollfd two[3] = {{p[0], POLLIN, 0}, {-1, POLLIN, 0}, {q[0], POLLIN, 0}};
  int r = poll(two, 3, 10000);
  printf("poll two fds -> %d revents %d %d %d\n", r, two[0].revents, two[1].revents,
         two[2].revents);
  CHECK(pthread_join(t, NULL) == 0);
  struct pollfd w = {p[1], POLLOUT, 0};
  printf("poll writable -> %d revents %d\n", poll(&w, 1, -1), w.revents);
  struct pollfd bad[2] = {{p[0], POLLIN, 0}, {987, POLLIN, 0}};
  printf("poll with a closed fd -> %d revents %d %d\n", poll(bad, 2, 1000), bad[0].revents,
         bad[1].revents);
  close(p[1]);
  printf("poll after the writer closed -> %d revents %d\n", poll(&one, 1, 1000), one.revents);
  t0 = now_ms();
  printf("poll of no fds 30 ms -> %d", poll(NULL, 0, 30));
  printf(" after >= 25 ms: %d\n", now_ms() - t0 >= 25);
  close(p[0]);
  close(q[0]);
  close(q[1]);
}

// ---- sleeps.
static void sleeps(void) {
  double t0 = now_ms();
  printf("usleep -> %d", usleep(20000));
  printf(" waited: %d\n", now_ms() - t0 >= 18);
  struct timespec req = {0, 20 * 1000 * 1000};
  t0 = now_ms();
  printf("nanosleep -> %d", nanosleep(&req, NULL));
  printf(" waited: %d\n", now_ms() - t0 >= 18);
  struct timespec bad = {0, 1000000000};
  errno = 0;
  SHOW("nanosleep with tv_nsec 1e9", nanosleep(&bad, NULL));
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_nsec += 20 * 1000 * 1000;
  if (until.tv_nsec >= 1000000000) {
    until.tv_sec += 1;
    until.tv_nsec -= 1000000000;
  }
  t0 = now_ms();
  printf("clock_nanosleep TIMER_ABSTIME -> %d",
         clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL));
  printf(" waited: %d\n", now_ms() - t0 >= 18);
  printf("clock_nanosleep EINVAL -> %d\n", clock_nanosleep(CLOCK_MONOTONIC, 0, &bad, NULL));
  printf("sleep(0) -> %u, sched_yield -> %d\n", sleep(0), sched_yield());
}

// ---- EPIPE: with SIGPIPE ignored, writes and sends to a closed peer fail with EPIPE.
static void epipe(void) {
  signal(SIGPIPE, SIG_IGN);
  int p[2];
  CHECK(pipe(p) == 0);
  close(p[0]);
  errno = 0;
  SHOW("write to a pipe without reader", write(p[1], "x", 1));
  close(p[1]);
  int s[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
  close(s[1]);
  errno = 0;
  SHOW("send to a closed peer", send(s[0], "x", 1, 0));
  close(s[0]);
  signal(SIGPIPE, SIG_DFL);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  big_write();
  vectors();
  tcp();
  udp();
  polls();
  sleeps();
  epipe();
  return 0;
}
