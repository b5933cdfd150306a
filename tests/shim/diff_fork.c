// diff_fork: a thread of a multi-threaded process forks, and the child goes on with that thread
// only. Under the shim the child has a fresh runtime: its blocking calls yield again (on one
// carrier, the child's pipe ping-pong between two threads and its 50 threads meeting on a
// condition variable could not finish otherwise), while the parent's threads keep their own
// ping-pong going, untouched by the child's I/O.
//
// The child reports over a pipe and the parent prints the report after it, so the output does
// not depend on how the two processes interleave. No outcome depends on timing: every hand-over
// between the processes is a pipe.
//
// Plain C with no weft header.
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

// In the child, a failed check goes into the report and ends the child with status 1.
#define CCHECK(cond)                                                             \
  do {                                                                           \
    if (!(cond)) {                                                               \
      report("child FAILED line %d: %s (%s)", __LINE__, #cond, strerror(errno)); \
      exit(1);                                                                   \
    }                                                                            \
  } while (0)

static pid_t parent_pid;
static int report_pipe[2];  // child -> parent: the child's findings, one line each
static int go_child[2];     // parent -> child: the parent's ping-pong is done

static void report(const char* fmt, ...) {
  char line[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  line[n] = '\n';
  if (write(report_pipe[1], line, (size_t)n + 1) != n + 1) _exit(70);
}

static void child_atexit(void) {
  // Runs in every process that calls exit(); only the children have something to say.
  if (getpid() != parent_pid) report("atexit handler ran in pid-of-child");
}

// Pipe ping-pong between two threads: on one carrier each read must yield for the other to run.
struct pingpong {
  int ab[2], ba[2];
  int rounds;
  int bad;
};

static void* pong(void* arg) {
  struct pingpong* p = arg;
  for (int i = 0; i < p->rounds; ++i) {
    int v;
    if (read(p->ab[0], &v, sizeof v) != sizeof v || v != i) p->bad++;
    v = i * 2;
    if (write(p->ba[1], &v, sizeof v) != sizeof v) p->bad++;
  }
  return NULL;
}

// ping_pong() runs rounds exchanges with a second thread; returns the number of bad ones.
static int ping_pong(int rounds) {
  struct pingpong p = {.rounds = rounds};
  if (pipe(p.ab) != 0 || pipe(p.ba) != 0) return -1;
  pthread_t t;
  if (pthread_create(&t, NULL, pong, &p) != 0) return -1;
  for (int i = 0; i < rounds; ++i) {
    int v = i;
    if (write(p.ab[1], &v, sizeof v) != sizeof v) p.bad++;
    if (read(p.ba[0], &v, sizeof v) != sizeof v || v != i * 2) p.bad++;
  }
  pthread_join(t, NULL);
  close(p.ab[0]);
  close(p.ab[1]);
  close(p.ba[0]);
  close(p.ba[1]);
  return p.bad;
}

// The parent's own threads: a ping-pong that goes on while the child works.
static void* parent_pingpong(void* arg) {
  (void)arg;
  int bad = ping_pong(2000);
  char done = bad == 0 ? 'y' : 'n';
  if (write(go_child[1], &done, 1) != 1) return (void*)1;
  return (void*)(long)bad;
}

// Another thread of the parent holds a mutex across the fork: in the child it stays locked.
static pthread_mutex_t held_by_other = PTHREAD_MUTEX_INITIALIZER;
static int holder_ready[2], holder_release[2];

static void* holder(void* arg) {
  (void)arg;
  CHECK(pthread_mutex_lock(&held_by_other) == 0);
  CHECK(write(holder_ready[1], "h", 1) == 1);
  char c;
  CHECK(read(holder_release[0], &c, 1) == 1);
  CHECK(pthread_mutex_unlock(&held_by_other) == 0);
  return NULL;
}

// 50 threads of the child meet on a mutex and condition variable, then pass a token around a
// ring of pipes.
enum { kRing = 50 };
static pthread_mutex_t meet_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t meet_cond = PTHREAD_COND_INITIALIZER;
static int arrived;
static int ring[kRing][2];

static void* ring_member(void* arg) {
  long i = (long)arg;
  pthread_mutex_lock(&meet_lock);
  if (++arrived == kRing) pthread_cond_broadcast(&meet_cond);
  while (arrived < kRing) pthread_cond_wait(&meet_cond, &meet_lock);
  pthread_mutex_unlock(&meet_lock);
  long token = 0;
  if (i == 0) {
    CCHECK(write(ring[1][1], &token, sizeof token) == sizeof token);
    CCHECK(read(ring[0][0], &token, sizeof token) == sizeof token);
  } else {
    CCHECK(read(ring[i][0], &token, sizeof token) == sizeof token);
    token += i;
    CCHECK(write(ring[(i + 1) % kRing][1], &token, sizeof token) == sizeof token);
  }
  return (void*)token;
}

// Socket I/O in the child: 256 KiB through a socketpair, more than its buffers hold, so the
// writer waits for the reader.
static void* sock_writer(void* arg) {
  int fd = *(int*)arg;
  static char buf[256 * 1024];
  for (size_t i = 0; i < sizeof buf; ++i) buf[i] = (char)(i * 7);
  CCHECK(send(fd, buf, sizeof buf, 0) == (ssize_t)sizeof buf);
  CCHECK(shutdown(fd, SHUT_WR) == 0);
  return NULL;
}

static void socket_io(void) {
  int sv[2];
  CCHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  pthread_t w;
  CCHECK(pthread_create(&w, NULL, sock_writer, &sv[0]) == 0);
  char buf[7000];
  size_t total = 0;
  int wrong = 0;
  for (ssize_t n; (n = recv(sv[1], buf, sizeof buf, 0)) > 0;) {
    for (ssize_t k = 0; k < n; ++k) wrong += buf[k] != (char)((total + (size_t)k) * 7);
    total += (size_t)n;
  }
  CCHECK(pthread_join(w, NULL) == 0);
  report("child socketpair: %zu bytes, %d wrong", total, wrong);
  close(sv[0]);
  close(sv[1]);
}

static void* grandchild_sleeper(void* arg) {
  (void)arg;
  usleep(2000);
  return NULL;
}

static void run_child(pthread_t forking_self) {
  report("child: same pthread_t %d", pthread_equal(pthread_self(), forking_self) != 0);
  report("child: trylock of a mutex another thread held -> %s",
         pthread_mutex_trylock(&held_by_other) == EBUSY ? "EBUSY" : "something else");
  // That thread is blocked reading this fd in the parent; the child's close does not wait for it.
  report("child: close of the fd the other thread reads -> %d", close(holder_release[0]));
  CCHECK(usleep(1000) == 0);
  report("child: slept");
  report("child: pipe ping-pong of 1000 rounds, %d bad", ping_pong(1000));

  for (int i = 0; i < kRing; ++i) CCHECK(pipe(ring[i]) == 0);
  pthread_t t[kRing];
  for (long i = 0; i < kRing; ++i) CCHECK(pthread_create(&t[i], NULL, ring_member, (void*)i) == 0);
  long token = -1;
  for (int i = 0; i < kRing; ++i) {
    void* r;
    CCHECK(pthread_join(t[i], &r) == 0);
    if (i == 0) token = (long)r;
  }
  report("child: %d threads met, token came back as %ld", arrived, token);
  socket_io();

  // The parent's threads finished their ping-pong while this child worked.
  char c = 0;
  CCHECK(read(go_child[0], &c, 1) == 1);
  report("child: the parent's ping-pong finished: %c", c);

  // A grandchild: a fresh runtime again, whose own ping-pong needs yielding reads too.
  pid_t g = fork();
  CCHECK(g >= 0);
  if (g == 0) {
    report("grandchild: pipe ping-pong of 300 rounds, %d bad", ping_pong(300));
    exit(7);
  }
  int status;
  CCHECK(waitpid(g, &status, 0) == g);
  report("child: grandchild exited %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);

  // The last fork: this thread returns from its function while a thread it made still sleeps;
  // the process ends with status 0 when that one is done, as natively.
  g = fork();
  CCHECK(g >= 0);
  if (g == 0) {
    pthread_t s;
    CCHECK(pthread_create(&s, NULL, grandchild_sleeper, NULL) == 0);
    CCHECK(pthread_detach(s) == 0);
    report("grandchild 2: its forking thread returns");
    return;
  }
  CCHECK(waitpid(g, &status, 0) == g);
  report("child: grandchild 2 exited %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  exit(42);
}

static pthread_mutex_t held_by_forker = PTHREAD_MUTEX_INITIALIZER;
static int queued_ready[2];

// A thread of the parent waits for the mutex the forking thread holds across the fork. In the
// child it does not exist: unlocking there must leave the mutex free, not hand it to the
// vanished waiter.
static void* queued_waiter(void* arg) {
  (void)arg;
  CHECK(write(queued_ready[1], "q", 1) == 1);
  CHECK(pthread_mutex_lock(&held_by_forker) == 0);
  CHECK(pthread_mutex_unlock(&held_by_forker) == 0);
  return NULL;
}

static void* forker(void* arg) {
  (void)arg;
  pthread_t self = pthread_self();
  pthread_t pp;
  CHECK(pthread_create(&pp, NULL, parent_pingpong, NULL) == 0);
  CHECK(pthread_mutex_lock(&held_by_forker) == 0);
  pthread_t qw;
  CHECK(pthread_create(&qw, NULL, queued_waiter, NULL) == 0);
  char q;
  CHECK(read(queued_ready[0], &q, 1) == 1);
  usleep(1000);  // most likely queued on the mutex by now; the output is the same either way
  fflush(stdout);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    // The lock the forking thread held is still its own here.
    int r = pthread_mutex_unlock(&held_by_forker);
    report("child: unlock of its own mutex -> %d, then trylock -> %d", r,
           pthread_mutex_trylock(&held_by_forker));
    close(report_pipe[0]);
    run_child(self);
    return NULL;  // only grandchild 2 gets here
  }
  CHECK(pthread_mutex_unlock(&held_by_forker) == 0);
  CHECK(pthread_join(qw, NULL) == 0);
  close(report_pipe[1]);
  // Read the whole report (EOF once every process of the child's tree is gone), then reap.
  char buf[4096];
  size_t len = 0;
  for (ssize_t n; (n = read(report_pipe[0], buf + len, sizeof buf - 1 - len)) > 0;) len += n;
  buf[len] = '\0';
  int status;
  CHECK(waitpid(pid, &status, 0) == pid);
  fputs(buf, stdout);
  printf("child exited %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  void* bad;
  CHECK(pthread_join(pp, &bad) == 0);
  printf("parent ping-pong: %ld bad\n", (long)bad);
  CHECK(write(holder_release[1], "r", 1) == 1);
  return NULL;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  parent_pid = getpid();
  CHECK(atexit(child_atexit) == 0);
  CHECK(pipe(report_pipe) == 0 && pipe(go_child) == 0);
  CHECK(pipe(holder_ready) == 0 && pipe(holder_release) == 0 && pipe(queued_ready) == 0);
  pthread_t h, f;
  CHECK(pthread_create(&h, NULL, holder, NULL) == 0);
  char c;
  CHECK(read(holder_ready[0], &c, 1) == 1);
  CHECK(pthread_create(&f, NULL, forker, NULL) == 0);
  CHECK(pthread_join(f, NULL) == 0);
  CHECK(pthread_join(h, NULL) == 0);
  printf("parent done\n");
  return 0;
}
