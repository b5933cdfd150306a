// close_wakes: under the shim, closing an fd that other threads block on, or making it a copy of
// another fd with dup2, wakes them with EBADF (weft::close, weft::dup2), where natively they would
// go on blocking (Linux keeps the file alive under a blocked read). Runs under weftrun only; exits
// 0 if every blocked call failed with EBADF. Each thread announces it is about to block; main gives
// it a moment more before closing. If main closes first after all, the call still fails with EBADF
// (the fd is gone), so the test cannot fail by timing; it fails (hangs, and meson's timeout reports
// it) if close did not wake. dup2 is different: a read that starts after it reads the new file
// (here a socket whose peer is closed: end of file), so a thread late to its read is told from a
// dup2 that did not wake it (that one hangs) and the round is tried again, with a longer pause.
// The same holds in a forked child, whose threads are fibers of its own fresh runtime (a child
// that passed its calls through to libc would hang here).
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int announce[2];

struct blocked {
  const char* what;
  int fd;
  int err;
};

static void* block_in(void* arg) {
  struct blocked* b = arg;
  char c;
  if (write(announce[1], "r", 1) != 1) return NULL;
  ssize_t r;
  if (strcmp(b->what, "accept") == 0) {
    r = accept(b->fd, NULL, NULL);
  } else if (strcmp(b->what, "recv") == 0) {
    r = recv(b->fd, &c, 1, 0);
  } else {
    r = read(b->fd, &c, 1);
  }
  b->err = r < 0 ? errno : 0;
  return NULL;
}

int main(void) {
  if (pipe(announce) != 0) return 2;
  int p[2], s[2], q[2];
  if (pipe(p) != 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, s) != 0 || pipe(q) != 0) return 2;
  int l = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (l < 0 || bind(l, (struct sockaddr*)&a, sizeof a) != 0 || listen(l, 1) != 0) return 2;
  struct blocked b[4] = {
      {"read", p[0], -1}, {"recv", s[0], -1}, {"accept", l, -1}, {"read", q[0], -1}};
  pthread_t t[4];
  int failed = 0;
  for (int i = 0; i < 4; ++i) {
    useconds_t pause = 20000;
    for (int attempt = 0;; ++attempt) {
      if (pthread_create(&t[i], NULL, block_in, &b[i]) != 0) return 2;
      char c;
      if (read(announce[0], &c, 1) != 1) return 2;
      usleep(pause);
      if (i < 3) {
        close(b[i].fd);
      } else if (dup2(s[1], b[i].fd) != b[i].fd) {
        return 2;
      }
      pthread_join(t[i], NULL);
      // Only dup2 can leave the fd open: 0 means the read started after it (see above).
      if (i < 3 || b[i].err != 0 || attempt == 4) break;
      close(b[i].fd);  // the copy of s[1]; a fresh pipe for the next attempt
      if (pipe(q) != 0) return 2;
      b[i].fd = q[0];
      b[i].err = -1;
      pause *= 4;
    }
    printf("%s woke by %s with %s\n", b[i].what, i < 3 ? "close" : "dup2", strerror(b[i].err));
    failed |= b[i].err != EBADF;
  }
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) return 2;
  if (pid == 0) {
    struct blocked c = {"read", -1, -1};
    int cq[2];
    if (pipe(cq) != 0) _exit(2);
    c.fd = cq[0];
    pthread_t ct;
    if (pthread_create(&ct, NULL, block_in, &c) != 0) _exit(2);
    char x;
    if (read(announce[0], &x, 1) != 1) _exit(2);
    usleep(20000);
    close(c.fd);
    pthread_join(ct, NULL);
    printf("in a forked child, read woke with %s\n", strerror(c.err));
    exit(c.err != EBADF);
  }
  int status;
  if (waitpid(pid, &status, 0) != pid) return 2;
  failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
  return failed;
}
