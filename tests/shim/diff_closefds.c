// diff_closefds: a program that closes or overwrites every fd above 2, as ssh, sudo, cron and
// daemonizers do, and then goes on with ordinary work. Under the shim the runtime's own fds
// (its rings, eventfds, epoll sets) live in the same number space; the program must neither see
// them in its numbering nor break them. The first argument picks how the fds go:
//   first        nothing closed: the first open() gives the lowest number not open at the start
//   closefrom    closefrom(3)
//   close_range  close_range(3, ~0U, 0)
//   cloexec      close_range(3, ~0U, CLOSE_RANGE_CLOEXEC): FD_CLOEXEC set on the program's fds
//   unshare      close_range(3, ~0U, CLOSE_RANGE_UNSHARE)
//   loop         close(fd) for every fd from 3 to the fd limit (8192 at most)
//   proc         close() of every fd that /proc/self/fd lists above 2
//   proc_dup2    dup2() of /dev/null onto every fd that /proc/self/fd lists above 2, then close
//   dup2_range   dup2() of /dev/null onto every number from 3 to the limit (up to 4200), but a
//                gap of 32 numbers, then closes them
//   rlimit       the soft RLIMIT_NOFILE lowered to 64 (the work runs under it, and fds are opened
//                until EMFILE), then raised back
//   rlimit_raise this program run again with a soft limit of 64 from the start, which raises it
//                to 1024 and opens 100 fds: consecutive numbers, as natively
// Then the work: blocking reads and writes across threads on a pipe, a socketpair and TCP over
// loopback, a multi-fd poll woken by another thread, sleeps, a name lookup, fork+exec of
// /bin/true and of this program (which does a little of the same work), and a fork whose child
// runs threads without exec. Plain C with no weft header.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static const char* self;

// lowest_free() is the lowest fd number that is not open.
static int lowest_free(void) {
  int fd = 0;
  while (fcntl(fd, F_GETFD) >= 0) ++fd;
  return fd;
}

static void first_open(const char* when) {
  int expect = lowest_free();
  int fd = open("/dev/null", O_RDONLY);
  CHECK(fd >= 0);
  CHECK(fd == expect);
  printf("%s: the first open is the lowest free number, %d\n", when, fd);
  close(fd);
}

// listed() fills fds with the numbers above 2 that /proc/self/fd lists (but the listing's own);
// returns how many.
static int listed(int* fds, int cap) {
  DIR* d = opendir("/proc/self/fd");
  CHECK(d != NULL);
  int n = 0;
  for (struct dirent* e; (e = readdir(d)) != NULL;) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    int fd = atoi(e->d_name);
    if (fd > 2 && fd != dirfd(d) && n < cap) fds[n++] = fd;
  }
  closedir(d);
  return n;
}

// --- the work ---------------------------------------------------------------------------------

struct pipe_job {
  int fd;
  int count;
};

static void* pipe_writer(void* arg) {
  struct pipe_job* job = arg;
  char msg[64];
  for (int i = 0; i < job->count; ++i) {
    memset(msg, 'a' + i % 26, sizeof msg);
    if (write(job->fd, msg, sizeof msg) != (ssize_t)sizeof msg) return (void*)1;
    if (i % 8 == 0) usleep(100);
  }
  return NULL;
}

static void pipe_work(void) {
  int p[2];
  CHECK(pipe(p) == 0);
  struct pipe_job job = {p[1], 200};
  pthread_t t;
  CHECK(pthread_create(&t, NULL, pipe_writer, &job) == 0);
  long sum = 0;
  char buf[64];
  for (int got = 0; got < job.count * 64;) {
    ssize_t n = read(p[0], buf, sizeof buf);
    CHECK(n > 0);
    for (ssize_t i = 0; i < n; ++i) sum += buf[i];
    got += (int)n;
  }
  void* r;
  CHECK(pthread_join(t, &r) == 0 && r == NULL);
  printf("  pipe across threads: 200 messages, sum %ld\n", sum);
  close(p[0]);
  close(p[1]);
}

static void* ponger(void* arg) {
  int fd = *(int*)arg;
  for (int i = 0; i < 300; ++i) {
    int v;
    if (read(fd, &v, sizeof v) != sizeof v) return (void*)1;
    ++v;
    if (write(fd, &v, sizeof v) != sizeof v) return (void*)1;
  }
  return NULL;
}

static void socketpair_work(void) {
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, ponger, &sv[1]) == 0);
  int v = 0;
  for (int i = 0; i < 300; ++i) {
    CHECK(write(sv[0], &v, sizeof v) == sizeof v);
    CHECK(read(sv[0], &v, sizeof v) == sizeof v);
  }
  void* r;
  CHECK(pthread_join(t, &r) == 0 && r == NULL);
  printf("  socketpair ping-pong: %d\n", v);
  close(sv[0]);
  close(sv[1]);
}

static void* echo_server(void* arg) {
  int lfd = *(int*)arg;
  int c = accept(lfd, NULL, NULL);
  if (c < 0) return (void*)1;
  char buf[128];
  for (ssize_t n; (n = recv(c, buf, sizeof buf, 0)) > 0;) {
    if (send(c, buf, (size_t)n, 0) != n) break;
  }
  close(c);
  return NULL;
}

static void tcp_work(void) {
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  CHECK(lfd >= 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof addr;
  CHECK(bind(lfd, (struct sockaddr*)&addr, sizeof addr) == 0);
  CHECK(listen(lfd, 4) == 0);
  CHECK(getsockname(lfd, (struct sockaddr*)&addr, &len) == 0);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, echo_server, &lfd) == 0);
  int c = socket(AF_INET, SOCK_STREAM, 0);
  CHECK(c >= 0);
  CHECK(connect(c, (struct sockaddr*)&addr, sizeof addr) == 0);
  int echoed = 0;
  for (int i = 0; i < 50; ++i) {
    char msg[32], back[32];
    int n = snprintf(msg, sizeof msg, "message %d", i);
    CHECK(send(c, msg, (size_t)n, 0) == n);
    for (int got = 0; got < n;) {
      ssize_t k = recv(c, back + got, (size_t)(n - got), 0);
      CHECK(k > 0);
      got += (int)k;
    }
    echoed += memcmp(msg, back, (size_t)n) == 0;
  }
  close(c);
  void* r;
  CHECK(pthread_join(t, &r) == 0 && r == NULL);
  close(lfd);
  printf("  tcp over loopback: %d messages echoed\n", echoed);
}

static void* late_writer(void* arg) {
  usleep(20000);
  return (void*)(intptr_t)(write(*(int*)arg, "x", 1) != 1);
}

static void poll_work(void) {
  int a[2], b[2];
  CHECK(pipe(a) == 0 && pipe(b) == 0);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, late_writer, &b[1]) == 0);
  struct pollfd fds[2] = {{a[0], POLLIN, 0}, {b[0], POLLIN, 0}};
  int r = poll(fds, 2, 30000);
  void* w;
  CHECK(pthread_join(t, &w) == 0 && w == NULL);
  printf("  poll on two pipes woken by a thread: %d, revents %d %d\n", r, fds[0].revents,
         fds[1].revents);
  close(a[0]);
  close(a[1]);
  close(b[0]);
  close(b[1]);
}

static void sleep_work(void) {
  CHECK(usleep(2000) == 0);
  struct timespec ts = {0, 1000000};
  CHECK(nanosleep(&ts, NULL) == 0);
  printf("  usleep and nanosleep: ok\n");
}

static void lookup_work(void) {
  struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
  struct addrinfo* res = NULL;
  int r = getaddrinfo("localhost", "80", &hints, &res);
  CHECK(r == 0 && res != NULL);
  char host[64];
  const struct sockaddr_in* sin = (const struct sockaddr_in*)res->ai_addr;
  CHECK(inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host) != NULL);
  printf("  getaddrinfo localhost: %s\n", host);
  freeaddrinfo(res);
}

static int run_and_wait(pid_t pid) {
  int status;
  CHECK(pid > 0);
  CHECK(waitpid(pid, &status, 0) == pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void process_work(const char* tag) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/true", "true", (char*)NULL);
    _exit(127);
  }
  printf("  fork+exec /bin/true: status %d\n", run_and_wait(pid));
  fflush(stdout);
  pid = fork();
  if (pid == 0) {
    execl(self, self, "child", tag, (char*)NULL);
    _exit(127);
  }
  printf("  fork+exec of this program: status %d\n", run_and_wait(pid));
  fflush(stdout);
  pid = fork();
  if (pid == 0) {
    // The child's threads block on pipes and sockets as the parent's did: it has a runtime of
    // its own under the shim (and none of the parent's fds to break).
    int p[2];
    if (pipe(p) != 0) _exit(2);
    struct pipe_job job = {p[1], 50};
    pthread_t t;
    if (pthread_create(&t, NULL, pipe_writer, &job) != 0) _exit(3);
    char buf[64];
    for (int got = 0; got < 50 * 64;) {
      ssize_t n = read(p[0], buf, sizeof buf);
      if (n <= 0) _exit(4);
      got += (int)n;
    }
    pthread_join(t, NULL);
    close(p[0]);
    close(p[1]);
    first_open("forked child");
    fflush(stdout);
    _exit(7);
  }
  printf("  fork, threads in the child: status %d\n", run_and_wait(pid));
}

static void work(const char* tag) {
  printf("after %s:\n", tag);
  pipe_work();
  socketpair_work();
  tcp_work();
  poll_work();
  sleep_work();
  lookup_work();
  process_work(tag);
  first_open(tag);
}

// --- the ways to close everything -------------------------------------------------------------

static int open_limit(void) {
  struct rlimit lim;
  CHECK(getrlimit(RLIMIT_NOFILE, &lim) == 0);
  return lim.rlim_cur > 1 << 20 ? 1 << 20 : (int)lim.rlim_cur;
}

static void close_listed(void) {
  int fds[8192];
  int n = listed(fds, 8192);
  int failed = 0;
  for (int i = 0; i < n; ++i) failed += close(fds[i]) != 0;
  printf("closed every listed fd, %d failed\n", failed);
}

static void dup2_listed(void) {
  int null = open("/dev/null", O_RDWR);
  CHECK(null >= 0);
  int fds[8192];
  int n = listed(fds, 8192);
  int wrong = 0;
  for (int i = 0; i < n; ++i) {
    if (fds[i] != null) wrong += dup2(null, fds[i]) != fds[i];
  }
  // Each copy is /dev/null now, as asked.
  for (int i = 0; i < n; ++i) {
    char c;
    if (fds[i] != null) wrong += read(fds[i], &c, 1) != 0;
  }
  printf("dup2 onto every listed fd: %d wrong\n", wrong);
  for (int i = 0; i < n; ++i) close(fds[i]);
}

static void dup2_range(void) {
  int null = open("/dev/null", O_RDWR);
  CHECK(null >= 0);
  int top = open_limit();
  if (top > 4200) top = 4200;
  int gap = top / 2;
  int done = 0, wrong = 0;
  for (int fd = 3; fd < top; ++fd) {
    if (fd == null || (fd >= gap && fd < gap + 32)) continue;
    if (dup2(null, fd) == fd) {
      ++done;
    } else {
      ++wrong;
    }
  }
  printf("dup2 onto a range: %d wrong\n", wrong);
  // Everything still works while the program holds almost every number.
  pipe_work();
  for (int fd = 3; fd < top; ++fd) {
    if (fd >= gap && fd < gap + 32) continue;
    close(fd);
  }
  (void)done;
}

static void rlimit_low(void) {
  struct rlimit lim;
  CHECK(getrlimit(RLIMIT_NOFILE, &lim) == 0);
  struct rlimit low = lim;
  if (low.rlim_cur > 64) low.rlim_cur = 64;
  CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
  work("lowering RLIMIT_NOFILE to 64");
  // Above the limit, dup2 fails before it touches the number (and the runtime's fds there stay
  // where they are: they take none of the 64).
  int null = open("/dev/null", O_RDONLY);
  CHECK(null >= 0);
  int listed_fds[256];
  int n_listed = listed(listed_fds, 256), refused = 0, above = 0;
  for (int i = 0; i < n_listed; ++i) {
    if (listed_fds[i] < 64) continue;
    ++above;
    errno = 0;
    refused += dup2(null, listed_fds[i]) < 0 && errno == EBADF;
  }
  close(null);
  printf("dup2 onto every listed fd above the limit: %s\n", refused == above ? "EBADF" : "wrong");
  int fds[64];
  int n = 0;
  for (int fd; n < 64 && (fd = open("/dev/null", O_RDONLY)) >= 0;) fds[n++] = fd;
  printf("opened %d fds until %s\n", n, strerror(errno));
  for (int i = 0; i < n; ++i) close(fds[i]);
  CHECK(setrlimit(RLIMIT_NOFILE, &lim) == 0);
}

// rlimit_raise() lowers the soft limit to 64 and runs this program again under it ("raised").
static void rlimit_raise(void) {
  struct rlimit lim;
  CHECK(getrlimit(RLIMIT_NOFILE, &lim) == 0);
  if (lim.rlim_cur > 64) lim.rlim_cur = 64;
  CHECK(setrlimit(RLIMIT_NOFILE, &lim) == 0);
  fflush(stdout);
  execl(self, self, "raised", (char*)NULL);
  CHECK(!"exec");
}

// raised() runs with a soft limit of 64 from the start, raises it, and opens 100 fds: they get
// consecutive numbers, as natively (the runtime's fds, made under the low limit, moved up).
static int raised(void) {
  struct rlimit lim;
  CHECK(getrlimit(RLIMIT_NOFILE, &lim) == 0);
  if (lim.rlim_max < 1024) {
    printf("hard limit too low to raise the soft one: nothing to check\n");
    return 0;
  }
  lim.rlim_cur = 1024;
  CHECK(setrlimit(RLIMIT_NOFILE, &lim) == 0);
  int fds[100];
  int gaps = 0;
  for (int i = 0; i < 100; ++i) {
    fds[i] = open("/dev/null", O_RDONLY);
    CHECK(fds[i] >= 0);
    if (i > 0 && fds[i] != fds[i - 1] + 1) ++gaps;
  }
  printf("after raising the limit: 100 fds from %d, %d gaps\n", fds[0], gaps);
  for (int i = 0; i < 100; ++i) close(fds[i]);
  work("raising RLIMIT_NOFILE");
  return 0;
}

// child is this program exec'd by process_work(): a little of the same work in a fresh process.
static int child(const char* tag) {
  first_open("exec'd child");
  int p[2];
  CHECK(pipe(p) == 0);
  struct pipe_job job = {p[1], 20};
  pthread_t t;
  CHECK(pthread_create(&t, NULL, pipe_writer, &job) == 0);
  char buf[64];
  for (int got = 0; got < 20 * 64;) {
    ssize_t n = read(p[0], buf, sizeof buf);
    CHECK(n > 0);
    got += (int)n;
  }
  CHECK(pthread_join(t, NULL) == 0);
  CHECK(usleep(1000) == 0);
  printf("  exec'd child after %s: ok\n", tag);
  return 0;
}

int main(int argc, char** argv) {
  self = argv[0];
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char* mode = argc > 1 ? argv[1] : "first";
  if (strcmp(mode, "child") == 0) return child(argc > 2 ? argv[2] : "?");
  if (strcmp(mode, "raised") == 0) return raised();
  first_open("start");
  // An fd of the program's own, opened before the close-all: it must go as natively.
  int mine = open("/dev/null", O_RDONLY);
  CHECK(mine >= 3);
  if (strcmp(mode, "first") == 0) {
    close(mine);
  } else if (strcmp(mode, "closefrom") == 0) {
    closefrom(3);
  } else if (strcmp(mode, "close_range") == 0) {
    CHECK(close_range(3, ~0U, 0) == 0);
  } else if (strcmp(mode, "cloexec") == 0) {
    CHECK(close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0);
    printf("own fd has FD_CLOEXEC now: %d\n", (fcntl(mine, F_GETFD) & FD_CLOEXEC) != 0);
    close(mine);
  } else if (strcmp(mode, "unshare") == 0) {
    CHECK(close_range(3, ~0U, CLOSE_RANGE_UNSHARE) == 0);
  } else if (strcmp(mode, "loop") == 0) {
    // Up to the limit, as daemonizers loop to sysconf(_SC_OPEN_MAX); 8192 at most, which is past
    // every number the runtime uses, to keep the test short where the limit is 2^20.
    int limit = open_limit();
    for (int fd = 3; fd < limit && fd < 8192; ++fd) close(fd);
  } else if (strcmp(mode, "proc") == 0) {
    close_listed();
  } else if (strcmp(mode, "proc_dup2") == 0) {
    close(mine);
    dup2_listed();
  } else if (strcmp(mode, "dup2_range") == 0) {
    close(mine);
    dup2_range();
  } else if (strcmp(mode, "rlimit") == 0) {
    close(mine);
    rlimit_low();
  } else if (strcmp(mode, "rlimit_raise") == 0) {
    close(mine);
    rlimit_raise();
  } else {
    printf("unknown mode %s\n", mode);
    return 2;
  }
  errno = 0;
  printf("own fd after %s: %s\n", mode, fcntl(mine, F_GETFD) < 0 ? strerror(errno) : "open");
  work(mode);
  return 0;
}
