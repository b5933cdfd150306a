// diff_signals: signal handlers interrupt blocking calls as natively. A process-directed signal
// (kill) whose handler lacks SA_RESTART ends the main thread's read, accept, poll, nanosleep,
// sleep, sem_wait and futex wait with EINTR; with SA_RESTART, read, accept, sem_wait and an
// untimed futex wait go on waiting while poll, nanosleep and a timed futex wait still fail
// (signal(7); the kernel restarts a timed futex wait through its restart block, which a handler
// turns into EINTR); condition waits and mutex locks never fail. pthread_kill and
// pthread_sigqueue run the handler in the target thread and interrupt its read or futex wait.
// No weft header.
//
// Ordering: a sender first waits until the target blocks (wait_blocked(), check.h). A sender that
// expects EINTR repeats the signal until the target acknowledges, so a signal that came just before
// the call cannot hang the test; what is printed (one handler run per signal sent, the call's
// result) does not depend on how often. It repeats only once the last signal's handler has run
// and the call has not returned: a second signal sent while the first is still pending (its
// target descheduled for longer than the sender's wait) would merge with it, one handler run for
// two signals sent.
//
// Argument: "calls" (the default), "server" (an accept loop stopped by SIGTERM), "default"
// (pthread_kill of SIGTERM with the default action kills the process).
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static volatile sig_atomic_t hits;
static volatile sig_atomic_t in_target;
static volatile sig_atomic_t returned;  // the target's call has returned: no more signals
static volatile sig_atomic_t queued_value;
static volatile sig_atomic_t queued_code;
static pthread_t target;

static void on_signal(int sig) {
  (void)sig;
  hits++;
  if (pthread_equal(pthread_self(), target)) in_target++;
}

static void on_info(int sig, siginfo_t* info, void* uc) {
  (void)uc;
  on_signal(sig);
  queued_code = info->si_code;
  queued_value = info->si_value.sival_int;
}

static void install(int sig, int flags) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = flags;
  CHECK(sigaction(sig, &sa, NULL) == 0);
}

// Job is what a sender does: signal the process (or one thread), then either repeat until the
// target acknowledges (expect EINTR) or release the target once the handler has run.
struct Job {
  pid_t tid;      // the target's OS thread
  long nr;        // the system call it blocks in
  int sig;        // what to send
  int to_thread;  // pthread_kill (1), pthread_sigqueue (2) the target, or kill the process (0)
  int ack;        // read end: the target writes a byte once its call returned, or -1
  void (*release)(void);  // called once the handler ran, when ack is -1
  int sent;
};

static void send_one(struct Job* j) {
  j->sent++;
  if (j->to_thread == 1) {
    CHECK(pthread_kill(target, j->sig) == 0);
  } else if (j->to_thread == 2) {
    union sigval v;
    v.sival_int = 42;
    CHECK(pthread_sigqueue(target, j->sig, v) == 0);
  } else {
    CHECK(kill(getpid(), j->sig) == 0);
  }
}

static void* sender(void* arg) {
  struct Job* j = arg;
  wait_blocked(j->tid, j->nr);
  if (j->ack >= 0) {
    send_one(j);
    for (;;) {
      struct pollfd p = {j->ack, POLLIN, 0};
      if (poll(&p, 1, 500) == 1) break;
      if (!returned && hits >= j->sent) send_one(j);
    }
    char c;
    CHECK(read(j->ack, &c, 1) == 1);
    return NULL;
  }
  send_one(j);
  while (hits < j->sent) usleep(1000);
  j->release();
  return NULL;
}

static pthread_t start(struct Job* j) {
  pthread_t t;
  j->sent = 0;
  returned = 0;
  CHECK(pthread_create(&t, NULL, sender, j) == 0);
  return t;
}

static int pipe_r, pipe_w;
static void write_byte(void) {
  CHECK(write(pipe_w, "d", 1) == 1);
}

static void report(const char* what, long r, int err, struct Job* j) {
  printf("%-44s -> %ld %s; one handler run per signal: %d\n", what, r, r < 0 ? strerror(err) : "",
         hits == j->sent);
  hits = 0;
}

static void main_read(int flags, const char* what) {
  int p[2], ack[2];
  CHECK(pipe(p) == 0 && pipe(ack) == 0);
  install(SIGUSR1, flags);
  pipe_r = p[0];
  pipe_w = p[1];
  struct Job j = {os_tid(), SYS_read, SIGUSR1, 0, flags == SA_RESTART ? -1 : ack[0], write_byte, 0};
  pthread_t s = start(&j);
  char c = 0;
  long r = read(p[0], &c, 1);
  int err = errno;
  returned = 1;
  if (j.ack >= 0) CHECK(write(ack[1], "a", 1) == 1);
  CHECK(pthread_join(s, NULL) == 0);
  report(what, r, err, &j);
  if (r == 1) printf("  and read '%c'\n", c);
  close(p[0]), close(p[1]), close(ack[0]), close(ack[1]);
}

static int listener(int* port) {
  int l = socket(AF_INET, SOCK_STREAM, 0);
  CHECK(l >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  CHECK(bind(l, (struct sockaddr*)&a, sizeof a) == 0 && listen(l, 8) == 0);
  socklen_t len = sizeof a;
  CHECK(getsockname(l, (struct sockaddr*)&a, &len) == 0);
  *port = ntohs(a.sin_port);
  return l;
}

static int g_port;
static void connect_once(void) {
  int c = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {
      .sin_family = AF_INET, .sin_port = htons(g_port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  CHECK(connect(c, (struct sockaddr*)&a, sizeof a) == 0);
  close(c);
}

static void main_accept(int flags, const char* what) {
  int ack[2];
  CHECK(pipe(ack) == 0);
  install(SIGUSR1, flags);
  int l = listener(&g_port);
  struct Job j = {os_tid(),     SYS_accept, SIGUSR1, 0, flags == SA_RESTART ? -1 : ack[0],
                  connect_once, 0};
  pthread_t s = start(&j);
  long r = accept(l, NULL, NULL);
  int err = errno;
  returned = 1;
  if (j.ack >= 0) CHECK(write(ack[1], "a", 1) == 1);
  CHECK(pthread_join(s, NULL) == 0);
  report(what, r < 0 ? r : 1, err, &j);
  if (r >= 0) close((int)r);
  close(l), close(ack[0]), close(ack[1]);
}

static void main_poll(int flags, const char* what) {
  int p[2], ack[2];
  CHECK(pipe(p) == 0 && pipe(ack) == 0);
  install(SIGUSR1, flags);
  struct Job j = {os_tid(), SYS_poll, SIGUSR1, 0, ack[0], NULL, 0};
  pthread_t s = start(&j);
  struct pollfd pf = {p[0], POLLIN, 0};
  long r = poll(&pf, 1, -1);
  int err = errno;
  returned = 1;
  CHECK(write(ack[1], "a", 1) == 1);
  CHECK(pthread_join(s, NULL) == 0);
  report(what, r, err, &j);
  close(p[0]), close(p[1]), close(ack[0]), close(ack[1]);
}

static void main_nanosleep(int flags, const char* what) {
  int ack[2];
  CHECK(pipe(ack) == 0);
  install(SIGUSR1, flags);
  struct Job j = {os_tid(), SYS_clock_nanosleep, SIGUSR1, 0, ack[0], NULL, 0};
  pthread_t s = start(&j);
  struct timespec req = {30, 0}, rem = {-1, -1};
  long r = nanosleep(&req, &rem);
  int err = errno;
  returned = 1;
  CHECK(write(ack[1], "a", 1) == 1);
  CHECK(pthread_join(s, NULL) == 0);
  report(what, r, err, &j);
  // The kernel's remainder may exceed the request by its timer slack: only coarse facts.
  printf("  time left is between 20 s and 30 s: %d\n",
         rem.tv_sec >= 20 && rem.tv_sec <= 30 && rem.tv_nsec >= 0 && rem.tv_nsec < 1000000000);
  close(ack[0]), close(ack[1]);
}

static void main_sleep(void) {
  int ack[2];
  CHECK(pipe(ack) == 0);
  install(SIGUSR1, SA_RESTART);
  struct Job j = {os_tid(), SYS_clock_nanosleep, SIGUSR1, 0, ack[0], NULL, 0};
  pthread_t s = start(&j);
  errno = 0;
  unsigned left = sleep(30);
  int err = errno;
  returned = 1;
  CHECK(write(ack[1], "a", 1) == 1);
  CHECK(pthread_join(s, NULL) == 0);
  printf("%-44s -> seconds left between 20 and 30: %d, errno %s; one run per signal: %d\n",
         "sleep(30), SA_RESTART", left >= 20 && left <= 30, strerror(err), hits == j.sent);
  hits = 0;
  close(ack[0]), close(ack[1]);
}

static sem_t sem;
static void post_sem(void) {
  CHECK(sem_post(&sem) == 0);
}

static void main_sem(int flags, const char* what) {
  int ack[2];
  CHECK(pipe(ack) == 0);
  CHECK(sem_init(&sem, 0, 0) == 0);
  install(SIGUSR1, flags);
  struct Job j = {os_tid(), SYS_futex, SIGUSR1, 0, flags == SA_RESTART ? -1 : ack[0], post_sem, 0};
  pthread_t s = start(&j);
  long r = sem_wait(&sem);
  int err = errno;
  returned = 1;
  if (j.ack >= 0) CHECK(write(ack[1], "a", 1) == 1);
  CHECK(pthread_join(s, NULL) == 0);
  report(what, r, err, &j);
  sem_destroy(&sem);
  close(ack[0]), close(ack[1]);
}

static atomic_uint fword;
static void set_fword(void) {
  atomic_store(&fword, 1);
  CHECK(syscall(SYS_futex, &fword, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0) >= 0);
}

// futex_wait_once() waits on fword as Rust's std and libstdc++ do, 30 s at most if timed; a
// release that came before a restarted wait (EAGAIN) counts as the wake it is.
static long futex_wait_once(int timed, int* err) {
  struct timespec t30 = {30, 0};
  long r = syscall(SYS_futex, &fword, FUTEX_WAIT_PRIVATE, 0, timed ? &t30 : NULL, NULL, 0);
  *err = errno;
  return r == -1 && *err == EAGAIN ? 0 : r;
}

static void main_futex(int flags, int timed, const char* what) {
  int ack[2];
  CHECK(pipe(ack) == 0);
  atomic_store(&fword, 0);
  install(SIGUSR1, flags);
  int restarts = flags == SA_RESTART && !timed;
  struct Job j = {os_tid(), SYS_futex, SIGUSR1, 0, restarts ? -1 : ack[0], set_fword, 0};
  pthread_t s = start(&j);
  int err;
  long r = futex_wait_once(timed, &err);
  returned = 1;
  if (j.ack >= 0) CHECK(write(ack[1], "a", 1) == 1);
  CHECK(pthread_join(s, NULL) == 0);
  report(what, r, err, &j);
  close(ack[0]), close(ack[1]);
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int ready;
static void set_ready(void) {
  CHECK(pthread_mutex_lock(&mu) == 0);
  ready = 1;
  CHECK(pthread_cond_signal(&cv) == 0);
  CHECK(pthread_mutex_unlock(&mu) == 0);
}

static void main_cond(void) {
  install(SIGUSR1, 0);
  ready = 0;
  struct Job j = {os_tid(), SYS_futex, SIGUSR1, 0, -1, set_ready, 0};
  CHECK(pthread_mutex_lock(&mu) == 0);
  pthread_t s = start(&j);
  int r = 0;
  // A spurious wake-up (allowed) just waits again: only the end result is printed.
  while (!ready && r == 0) r = pthread_cond_wait(&cv, &mu);
  CHECK(pthread_mutex_unlock(&mu) == 0);
  CHECK(pthread_join(s, NULL) == 0);
  report("pthread_cond_wait, no SA_RESTART", r, r, &j);
}

static void unlock_mu(void) {
  CHECK(pthread_mutex_unlock(&mu) == 0);
}
static pthread_t locker_ready_thread;
static atomic_int mu_held;
static void* hold_lock(void* arg) {
  struct Job* j = arg;
  CHECK(pthread_mutex_lock(&mu) == 0);
  atomic_store(&mu_held, 1);
  return sender(j);
}

static void main_mutex(void) {
  install(SIGUSR1, 0);
  atomic_store(&mu_held, 0);
  struct Job j = {os_tid(), SYS_futex, SIGUSR1, 0, -1, unlock_mu, 0};
  CHECK(pthread_create(&locker_ready_thread, NULL, hold_lock, &j) == 0);
  // Not read(2): the sender may signal (believing main already waits for the mutex) while main
  // still waits for this byte, and without SA_RESTART that read would fail with EINTR. A yield is
  // never interrupted.
  while (!atomic_load(&mu_held)) sched_yield();
  int r = pthread_mutex_lock(&mu);
  CHECK(pthread_mutex_unlock(&mu) == 0);
  CHECK(pthread_join(locker_ready_thread, NULL) == 0);
  report("pthread_mutex_lock, no SA_RESTART", r, r, &j);
}

// A thread blocked in read, signalled with pthread_kill or pthread_sigqueue.
struct Reader {
  int rfd, ack, tid_w;
  long r;
  int err;
  char c;
};

static void* reader(void* arg) {
  struct Reader* rd = arg;
  pid_t me = os_tid();
  CHECK(write(rd->tid_w, &me, sizeof me) == sizeof me);
  rd->r = read(rd->rfd, &rd->c, 1);
  rd->err = errno;
  returned = 1;
  if (rd->ack >= 0) CHECK(write(rd->ack, "a", 1) == 1);
  return NULL;
}

static void thread_read(int flags, int how, const char* what) {
  int p[2], ack[2], t[2];
  CHECK(pipe(p) == 0 && pipe(ack) == 0 && pipe(t) == 0);
  if (how == 2) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_info;
    sa.sa_flags = SA_SIGINFO | flags;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGUSR2, &sa, NULL) == 0);
  } else {
    install(SIGUSR2, flags);
  }
  in_target = 0;
  returned = 0;
  pipe_r = p[0];
  pipe_w = p[1];
  struct Reader rd = {p[0], flags == SA_RESTART ? -1 : ack[1], t[1], 0, 0, 0};
  CHECK(pthread_create(&target, NULL, reader, &rd) == 0);
  pid_t target_tid;
  CHECK(read(t[0], &target_tid, sizeof target_tid) == sizeof target_tid);
  struct Job j = {target_tid, SYS_read, SIGUSR2, how, flags == SA_RESTART ? -1 : ack[0],
                  write_byte, 0};
  sender(&j);
  CHECK(pthread_join(target, NULL) == 0);
  report(what, rd.r, rd.err, &j);
  printf("  every handler ran in the target thread: %d\n", in_target == j.sent);
  if (rd.r == 1) printf("  and read '%c'\n", rd.c);
  if (how == 2) printf("  si_code SI_QUEUE: %d, value %d\n", queued_code == SI_QUEUE, queued_value);
  target = 0;
  close(p[0]), close(p[1]), close(ack[0]), close(ack[1]), close(t[0]), close(t[1]);
}

// A thread blocked in a futex wait, signalled with pthread_kill.
struct FutexWaiter {
  int ack, tid_w;
  long r;
  int err;
};

static void* futex_waiter(void* arg) {
  struct FutexWaiter* fw = arg;
  pid_t me = os_tid();
  CHECK(write(fw->tid_w, &me, sizeof me) == sizeof me);
  fw->r = futex_wait_once(0, &fw->err);
  returned = 1;
  if (fw->ack >= 0) CHECK(write(fw->ack, "a", 1) == 1);
  return NULL;
}

static void thread_futex(int flags, const char* what) {
  int ack[2], t[2];
  CHECK(pipe(ack) == 0 && pipe(t) == 0);
  install(SIGUSR2, flags);
  in_target = 0;
  returned = 0;
  atomic_store(&fword, 0);
  struct FutexWaiter fw = {flags == SA_RESTART ? -1 : ack[1], t[1], 0, 0};
  CHECK(pthread_create(&target, NULL, futex_waiter, &fw) == 0);
  pid_t target_tid;
  CHECK(read(t[0], &target_tid, sizeof target_tid) == sizeof target_tid);
  struct Job j = {target_tid, SYS_futex, SIGUSR2, 1, flags == SA_RESTART ? -1 : ack[0],
                  set_fword,  0};
  sender(&j);
  CHECK(pthread_join(target, NULL) == 0);
  report(what, fw.r, fw.err, &j);
  printf("  every handler ran in the target thread: %d\n", in_target == j.sent);
  target = 0;
  close(ack[0]), close(ack[1]), close(t[0]), close(t[1]);
}

// parked() waits on pipe_r: natively, glibc's pthread_kill on a thread that has already ended
// returns 0 without checking the signal number, so the thread must still be alive below.
static void* parked(void* arg) {
  char c;
  CHECK(read(pipe_r, &c, 1) == 1);
  return arg;
}

static void handles(void) {
  pthread_t t;
  int p[2];
  CHECK(pipe(p) == 0);
  pipe_r = p[0];
  CHECK(pthread_create(&t, NULL, parked, NULL) == 0);
  printf("pthread_kill(t, 0) on a live thread: %s\n", strerror(pthread_kill(t, 0)));
  printf("pthread_kill(t, 65): %s\n", strerror(pthread_kill(t, 65)));
  printf("pthread_kill(t, 32) (glibc's own): %s\n", strerror(pthread_kill(t, 32)));
  CHECK(write(p[1], "g", 1) == 1);
  CHECK(pthread_join(t, NULL) == 0);
  // To itself: the handler has run when pthread_kill returns.
  install(SIGUSR1, 0);
  target = pthread_self();
  in_target = 0;
  CHECK(pthread_kill(pthread_self(), SIGUSR1) == 0);
  printf("pthread_kill(self): handler ran in this thread before it returned: %d\n", in_target == 1);
  CHECK(raise(SIGUSR1) == 0);
  printf("raise: handler ran in this thread before it returned: %d\n", in_target == 2);
  target = 0;
  hits = 0;
  // Ignored: nothing happens.
  signal(SIGUSR1, SIG_IGN);
  CHECK(pthread_kill(pthread_self(), SIGUSR1) == 0);
  printf("pthread_kill of an ignored signal: still here\n");
  // What sigaction and signal report is the program's own handler.
  install(SIGUSR1, SA_RESTART);
  struct sigaction old;
  CHECK(sigaction(SIGUSR1, NULL, &old) == 0);
  printf("sigaction reports the handler: %d, SA_RESTART: %d, SA_SIGINFO: %d\n",
         old.sa_handler == on_signal, (old.sa_flags & SA_RESTART) != 0,
         (old.sa_flags & SA_SIGINFO) != 0);
  printf("signal returns it: %d\n", signal(SIGUSR1, SIG_DFL) == on_signal);
  printf("then SIG_DFL: %d\n", signal(SIGUSR1, SIG_IGN) == SIG_DFL);
  close(p[0]), close(p[1]);
}

static volatile sig_atomic_t stop;
static void on_term(int sig) {
  (void)sig;
  stop = 1;
  hits++;  // the sender repeats SIGTERM only once this handler has run (see sender())
}

// server(): the common shape -- an accept loop a SIGTERM handler stops through a flag.
static int server(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_term;
  sigemptyset(&sa.sa_mask);
  CHECK(sigaction(SIGTERM, &sa, NULL) == 0);
  int l = listener(&g_port);
  int ack[2];
  CHECK(pipe(ack) == 0);
  struct Job j = {os_tid(), SYS_accept, SIGTERM, 0, ack[0], NULL, 0};
  int served = 0;
  pthread_t s = 0;
  while (!stop) {
    if (served == 2 && s == 0) s = start(&j);
    if (served < 2) {
      pthread_t c;
      CHECK(pthread_create(&c, NULL, (void* (*)(void*))connect_once, NULL) == 0);
      CHECK(pthread_detach(c) == 0);
    }
    int fd = accept(l, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR) continue;
      CHECK(0);
    }
    served++;
    close(fd);
  }
  returned = 1;
  CHECK(write(ack[1], "a", 1) == 1);
  CHECK(pthread_join(s, NULL) == 0);
  printf("server: served %d connections, then SIGTERM stopped the accept loop\n", served);
  close(l);
  return 0;
}

// dies(): pthread_kill of SIGTERM, not handled, to a thread blocked in read ends the process.
static int dies(void) {
  int p[2], t[2];
  CHECK(pipe(p) == 0 && pipe(t) == 0);
  struct Reader rd = {p[0], -1, t[1], 0, 0, 0};
  CHECK(pthread_create(&target, NULL, reader, &rd) == 0);
  pid_t target_tid;
  CHECK(read(t[0], &target_tid, sizeof target_tid) == sizeof target_tid);
  wait_blocked(target_tid, SYS_read);
  printf("sending SIGTERM with its default action\n");
  fflush(stdout);
  CHECK(pthread_kill(target, SIGTERM) == 0);
  pthread_join(target, NULL);
  printf("still alive\n");
  return 0;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char* what = argc > 1 ? argv[1] : "calls";
  if (strcmp(what, "server") == 0) return server();
  if (strcmp(what, "default") == 0) return dies();
  main_read(0, "read, no SA_RESTART");
  main_read(SA_RESTART, "read, SA_RESTART");
  main_accept(0, "accept, no SA_RESTART");
  main_accept(SA_RESTART, "accept, SA_RESTART");
  main_poll(0, "poll, no SA_RESTART");
  main_poll(SA_RESTART, "poll, SA_RESTART (never restarted)");
  main_nanosleep(0, "nanosleep, no SA_RESTART");
  main_nanosleep(SA_RESTART, "nanosleep, SA_RESTART (never restarted)");
  main_sleep();
  main_sem(0, "sem_wait, no SA_RESTART");
  main_sem(SA_RESTART, "sem_wait, SA_RESTART");
  main_futex(0, 0, "futex wait, no SA_RESTART");
  main_futex(SA_RESTART, 0, "futex wait, SA_RESTART");
  main_futex(0, 1, "timed futex wait, no SA_RESTART");
  main_futex(SA_RESTART, 1, "timed futex wait, SA_RESTART (never restarted)");
  main_cond();
  main_mutex();
  thread_read(0, 1, "pthread_kill, thread in read, no SA_RESTART");
  thread_read(SA_RESTART, 1, "pthread_kill, thread in read, SA_RESTART");
  thread_read(0, 2, "pthread_sigqueue, thread in read");
  thread_futex(0, "pthread_kill, thread in futex wait, no SA_RESTART");
  thread_futex(SA_RESTART, "pthread_kill, thread in futex wait, SA_RESTART");
  handles();
  return 0;
}
