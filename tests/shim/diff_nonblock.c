// diff_nonblock: the program's own O_NONBLOCK gives EAGAIN exactly as natively, whichever way
// it was set (fcntl, SOCK_NONBLOCK, accept4, pipe2, FIONBIO), F_GETFL shows only the program's
// flags, and clearing the flag makes the calls block (and, under weft, yield) again.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"

static void try_read(const char* what, int fd) {
  char c;
  errno = 0;
  ssize_t r = read(fd, &c, 1);
  printf("%-28s read -> %zd %s\n", what, r, r < 0 ? strerror(errno) : "");
}

static void show_flags(const char* what, int fd) {
  int fl = fcntl(fd, F_GETFL);
  printf("%-28s F_GETFL accmode %d nonblock %d other 0%o\n", what, fl & O_ACCMODE,
         (fl & O_NONBLOCK) != 0, fl & ~(O_ACCMODE | O_NONBLOCK));
}

struct delayed {
  int fd;
  useconds_t after;
};

static void* write_later(void* arg) {
  struct delayed* d = arg;
  usleep(d->after);
  CHECK(write(d->fd, "x", 1) == 1);
  return NULL;
}

// blocks_until_written() shows fd blocks: a thread writes into peer after a while.
static void blocks_until_written(const char* what, int fd, int peer) {
  struct delayed d = {peer, 20000};
  pthread_t t;
  CHECK(pthread_create(&t, NULL, write_later, &d) == 0);
  try_read(what, fd);
  CHECK(pthread_join(t, NULL) == 0);
}

int main(void) {
  int p[2];
  CHECK(pipe(p) == 0);
  show_flags("pipe", p[0]);
  blocks_until_written("pipe, blocking", p[0], p[1]);
  CHECK(fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK) == 0);
  show_flags("pipe after F_SETFL", p[0]);
  try_read("pipe, F_SETFL O_NONBLOCK", p[0]);
  CHECK(fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) & ~O_NONBLOCK) == 0);
  show_flags("pipe after clearing", p[0]);
  blocks_until_written("pipe, cleared again", p[0], p[1]);
  close(p[0]);
  close(p[1]);

  CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
  show_flags("pipe2 O_NONBLOCK", p[0]);
  try_read("pipe2 O_NONBLOCK", p[0]);
  close(p[0]);
  close(p[1]);

  int s[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, s) == 0);
  show_flags("socketpair SOCK_NONBLOCK", s[0]);
  try_read("socketpair SOCK_NONBLOCK", s[0]);
  char c;
  errno = 0;
  SHOW("recv on it", recv(s[0], &c, 1, 0));
  int off = 0;
  CHECK(ioctl(s[0], FIONBIO, &off) == 0);
  show_flags("after FIONBIO 0", s[0]);
  blocks_until_written("socketpair, FIONBIO 0", s[0], s[1]);
  int on = 1;
  CHECK(ioctl(s[0], FIONBIO, &on) == 0);
  try_read("socketpair, FIONBIO 1", s[0]);
  close(s[0]);
  close(s[1]);

  // A blocking socket: recv with MSG_DONTWAIT still does not wait.
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
  errno = 0;
  SHOW("MSG_DONTWAIT recv", recv(s[0], &c, 1, MSG_DONTWAIT));
  // dup shares the description: O_NONBLOCK set through the copy shows on the original.
  int d = dup(s[0]);
  CHECK(d >= 0);
  CHECK(fcntl(d, F_SETFL, O_NONBLOCK) == 0);
  show_flags("original after dup's F_SETFL", s[0]);
  try_read("original after dup's F_SETFL", s[0]);
  CHECK(fcntl(d, F_SETFL, 0) == 0);
  blocks_until_written("original, cleared via dup", s[0], s[1]);
  close(d);
  close(s[0]);
  close(s[1]);

  // A non-blocking listener refuses to wait in accept; accept4 passes SOCK_NONBLOCK on.
  int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  CHECK(l >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t alen = sizeof a;
  CHECK(bind(l, (struct sockaddr*)&a, sizeof a) == 0);
  CHECK(listen(l, 8) == 0);
  CHECK(getsockname(l, (struct sockaddr*)&a, &alen) == 0);
  errno = 0;
  SHOW("accept on non-blocking listener", accept(l, NULL, NULL));
  int c1 = socket(AF_INET, SOCK_STREAM, 0);
  CHECK(connect(c1, (struct sockaddr*)&a, sizeof a) == 0);
  struct pollfd pfd = {l, POLLIN, 0};
  CHECK(poll(&pfd, 1, 10000) == 1);
  int acc = accept4(l, NULL, NULL, SOCK_NONBLOCK);
  CHECK(acc >= 0);
  show_flags("accept4 SOCK_NONBLOCK", acc);
  try_read("accept4 SOCK_NONBLOCK", acc);
  // A non-blocking connect reports EINPROGRESS and completes later.
  int c2 = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  errno = 0;
  int r = connect(c2, (struct sockaddr*)&a, sizeof a);
  // Loopback may finish the handshake at once; either way the call did not wait.
  printf("non-blocking connect: %s\n",
         r == 0 || errno == EINPROGRESS ? "did not wait" : strerror(errno));
  close(c2);
  close(c1);
  close(acc);
  close(l);
  return 0;
}
