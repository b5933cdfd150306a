// sigtest.h: what the signal differential programs (diff_sigdaemon.c, diff_sigmask.c,
// diff_sigwaits.c) share: a watchdog that ends a hung run, a deterministic print of a thread's
// signal mask, a handler that records how often and on which thread it ran, and a forked sender
// that signals its parent on command. Plain C with no weft header.
//
// Every fact these programs print is one that holds natively whatever the scheduling: counts,
// which thread a handler ran on, an errno, a mask. Nothing waits a fixed time for something else
// to happen; a wait for an observable state is bounded (about 20 s) and prints what it found.
#pragma once

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

// start_watchdog() forks a process that kills this one with SIGKILL when it has not ended after
// seconds (a hung run then fails the comparison quickly instead of at meson's timeout). It is
// forked first, before any mask or handler changes, and waits on a pipe whose write end only
// this process holds (close-on-exec): end of file means this process is gone. It is not alarm():
// the programs use SIGALRM themselves.
static inline void start_watchdog(int seconds) {
  int p[2];
  CHECK(pipe2(p, O_CLOEXEC) == 0);
  pid_t parent = getpid();
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    close(p[1]);
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_UNBLOCK, &all, NULL);
    struct pollfd pf = {p[0], POLLIN, 0};
    int r;
    do r = poll(&pf, 1, seconds * 1000);
    while (r < 0 && errno == EINTR);
    if (r == 0) {
      static const char msg[] = "watchdog: the test did not end in time, killing it\n";
      (void)!write(2, msg, sizeof msg - 1);
      kill(parent, SIGKILL);
    }
    _exit(0);
  }
  close(p[0]);
}

// mask_string() writes the calling thread's blocked signals (1..64 but glibc's own 32 and 33,
// which no program can block) as "{10 15}" into buf.
static inline const char* mask_string(const sigset_t* set, char* buf, size_t size) {
  size_t n = 0;
  n += (size_t)snprintf(buf + n, size - n, "{");
  int first = 1;
  for (int s = 1; s <= 64 && n < size; s++) {
    if (s == 32 || s == 33) continue;
    if (sigismember(set, s) == 1) {
      n += (size_t)snprintf(buf + n, size - n, first ? "%d" : " %d", s);
      first = 0;
    }
  }
  if (n < size) snprintf(buf + n, size - n, "}");
  return buf;
}

// print_mask() prints "who: blocked {..}" for the calling thread's mask.
static inline void print_mask(const char* who) {
  sigset_t cur;
  CHECK(pthread_sigmask(SIG_BLOCK, NULL, &cur) == 0);
  char buf[256];
  printf("%s: blocked %s\n", who, mask_string(&cur, buf, sizeof buf));
}

// print_pending() prints "who: pending {..}" for what sigpending reports to the calling thread.
static inline void print_pending(const char* who) {
  sigset_t p;
  CHECK(sigpending(&p) == 0);
  char buf[256];
  printf("%s: pending %s\n", who, mask_string(&p, buf, sizeof buf));
}

// Handler bookkeeping: runs counts the handler's runs, on_expected those on `expected`, and
// last_code/last_value/last_pid what the last SA_SIGINFO run was given.
static atomic_int runs;
static atomic_int on_expected;
static pthread_t expected;
static volatile sig_atomic_t last_code, last_value, last_pid, last_signo;

static void record(int sig, siginfo_t* info, void* uc) {
  (void)uc;
  if (pthread_equal(pthread_self(), expected)) atomic_fetch_add(&on_expected, 1);
  last_signo = sig;
  if (info != NULL) {
    last_code = info->si_code;
    last_value = info->si_value.sival_int;
    last_pid = info->si_pid;
  }
  atomic_fetch_add(&runs, 1);
}

// handle() installs record() for sig with flags (SA_SIGINFO is added), sa_mask empty.
static inline void handle(int sig, int flags) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = record;
  sa.sa_flags = flags | SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  CHECK(sigaction(sig, &sa, NULL) == 0);
}

// reset_runs() zeroes the counts and sets the thread the handler is expected on.
static inline void reset_runs(pthread_t on) {
  atomic_store(&runs, 0);
  atomic_store(&on_expected, 0);
  expected = on;
}

// mask_signals() applies how (SIG_BLOCK, SIG_UNBLOCK) to the signals given, 0-terminated, in the
// calling thread.
static inline void mask_signals(int how, int sig, ...) {
  sigset_t set;
  sigemptyset(&set);
  va_list ap;
  va_start(ap, sig);
  for (int s = sig; s != 0; s = va_arg(ap, int)) sigaddset(&set, s);
  va_end(ap);
  CHECK(pthread_sigmask(how, &set, NULL) == 0);
}

// wait_until() waits (yielding, then sleeping a millisecond at a time) until *flag is at least
// value, about 20 s at most; it returns whether it got there.
static inline int wait_until(atomic_int* flag, int value) {
  for (int i = 0; i < 20000; i++) {
    if (atomic_load(flag) >= value) return 1;
    if (i < 100) {
      sched_yield();
    } else {
      usleep(1000);
    }
  }
  return atomic_load(flag) >= value;
}

// Sender: a forked child that sends its parent one signal per byte written to its pipe (the byte
// is the signal number) and answers each with a byte once sent; it ends at end of file.
struct Sender {
  pid_t pid;
  int cmd;  // write end: signal numbers
  int ack;  // read end: one byte per signal sent
};

static inline struct Sender start_sender(void) {
  int c[2], a[2];
  CHECK(pipe2(c, O_CLOEXEC) == 0 && pipe2(a, O_CLOEXEC) == 0);
  pid_t parent = getpid();
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    close(c[1]);
    close(a[0]);
    unsigned char sig;
    while (read(c[0], &sig, 1) == 1) {
      if (kill(parent, sig) != 0) _exit(3);
      if (write(a[1], "k", 1) != 1) _exit(4);
    }
    _exit(0);
  }
  close(c[0]);
  close(a[1]);
  struct Sender s = {pid, c[1], a[0]};
  return s;
}

// send_signal() has the sender send sig and returns once it has been sent.
static inline void send_signal(struct Sender* s, int sig) {
  unsigned char b = (unsigned char)sig;
  CHECK(write(s->cmd, &b, 1) == 1);
  char k;
  ssize_t r;
  do r = read(s->ack, &k, 1);
  while (r < 0 && errno == EINTR);
  CHECK(r == 1);
}

// stop_sender() ends the sender and prints how it ended.
static inline void stop_sender(struct Sender* s) {
  close(s->cmd);
  int st;
  pid_t r;
  do r = waitpid(s->pid, &st, 0);
  while (r < 0 && errno == EINTR);
  CHECK(r == s->pid);
  printf("sender exited %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
  close(s->ack);
}

// elapsed_ms() is the time since t0 on CLOCK_MONOTONIC, in milliseconds.
static inline long elapsed_ms(const struct timespec* t0) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}
