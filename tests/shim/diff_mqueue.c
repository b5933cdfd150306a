// diff_mqueue: POSIX message queues -- mq_send, mq_receive, mq_timedsend, mq_timedreceive --
// wait and answer the same natively and under the shim: a thread blocks on an empty (or full)
// queue, main waits until it is blocked and only then sends (or receives): on one carrier, a
// call that held the carrier would keep main from ever doing so, and the program would hang.
// Also the time limits (already passed, short, long, invalid), a queue made non-blocking with
// mq_setattr, and a handled signal: EINTR without SA_RESTART, a restart with it. The queue has
// a name made from the pid, unlinked at once. Exits 77 (skipped) where mq_open is refused.
// Plain C with no weft header.
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "blocker.h"
#include "check.h"

static mqd_t q;


static char got[64];
static unsigned got_prio;

static long receive(void) {
  memset(got, 0, sizeof got);
  return mq_receive(q, got, sizeof got, &got_prio);
}

static long receive_30s(void) {
  memset(got, 0, sizeof got);
  struct timespec limit = in_ms(CLOCK_REALTIME, 30000);
  return mq_timedreceive(q, got, sizeof got, &got_prio, &limit);
}

static long send_x(void) {
  return mq_send(q, "x", 1, 1);
}

static long send_y_30s(void) {
  struct timespec limit = in_ms(CLOCK_REALTIME, 30000);
  return mq_timedsend(q, "y", 1, 2, &limit);
}

static void test_waits(void) {
  struct Blocker t;
  block(&t, receive, SYS_mq_timedreceive);
  atomic_store(&released, 1);
  CHECK(mq_send(q, "hello", 5, 3) == 0);
  finish(&t, "mq_receive waiting for a message");
  printf("  got '%s' priority %u\n", got, got_prio);

  block(&t, receive_30s, SYS_mq_timedreceive);
  atomic_store(&released, 1);
  CHECK(mq_send(q, "later", 5, 4) == 0);
  finish(&t, "mq_timedreceive (30 s) waiting for a message");
  printf("  got '%s' priority %u\n", got, got_prio);

  // The queue holds two messages: a third send waits for room.
  CHECK(mq_send(q, "a", 1, 0) == 0 && mq_send(q, "b", 1, 0) == 0);
  char buf[64];
  block(&t, send_x, SYS_mq_timedsend);
  atomic_store(&released, 1);
  CHECK(mq_receive(q, buf, sizeof buf, NULL) == 1);
  finish(&t, "mq_send waiting for room");
  block(&t, send_y_30s, SYS_mq_timedsend);
  atomic_store(&released, 1);
  CHECK(mq_receive(q, buf, sizeof buf, NULL) == 1);
  finish(&t, "mq_timedsend (30 s) waiting for room");
  // Highest priority first.
  for (int i = 0; i < 2; i++) {
    unsigned prio;
    memset(buf, 0, sizeof buf);
    SHOW("mq_receive", mq_receive(q, buf, sizeof buf, &prio));
    printf("  got '%s' priority %u\n", buf, prio);
  }
}

static void test_limits(void) {
  char buf[64];
  struct timespec past = in_ms(CLOCK_REALTIME, -1000);
  SHOW("mq_timedreceive, empty, time already passed",
       mq_timedreceive(q, buf, sizeof buf, NULL, &past));
  struct timespec soon = in_ms(CLOCK_REALTIME, 20);
  SHOW("mq_timedreceive, empty, 20 ms", mq_timedreceive(q, buf, sizeof buf, NULL, &soon));
  struct timespec bad = {0, 1000000000};
  SHOW("mq_timedreceive with a bad time", mq_timedreceive(q, buf, sizeof buf, NULL, &bad));
  struct timespec negative = {-1, 0};
  SHOW("mq_timedreceive with a negative time",
       mq_timedreceive(q, buf, sizeof buf, NULL, &negative));
  SHOW("mq_receive into too small a buffer", mq_receive(q, buf, 8, NULL));
  SHOW("mq_receive on a bad queue", mq_receive((mqd_t)-1, buf, sizeof buf, NULL));
  SHOW("mq_send with a bad priority", mq_send(q, "z", 1, 1u << 31));

  CHECK(mq_send(q, "a", 1, 0) == 0 && mq_send(q, "b", 1, 0) == 0);
  soon = in_ms(CLOCK_REALTIME, 20);
  SHOW("mq_timedsend, full, 20 ms", mq_timedsend(q, "c", 1, 0, &soon));
  past = in_ms(CLOCK_REALTIME, -1000);
  SHOW("mq_timedreceive, a message, time already passed",
       mq_timedreceive(q, buf, sizeof buf, NULL, &past));
  CHECK(mq_send(q, "c", 1, 0) == 0);

  // Non-blocking: EAGAIN instead of waiting, until the flag is cleared again.
  struct mq_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.mq_flags = O_NONBLOCK;
  CHECK(mq_setattr(q, &attr, NULL) == 0);
  SHOW("O_NONBLOCK: mq_send, full", mq_send(q, "d", 1, 0));
  SHOW("O_NONBLOCK: mq_receive", mq_receive(q, buf, sizeof buf, NULL));
  SHOW("O_NONBLOCK: mq_receive", mq_receive(q, buf, sizeof buf, NULL));
  SHOW("O_NONBLOCK: mq_receive, empty", mq_receive(q, buf, sizeof buf, NULL));
  attr.mq_flags = 0;
  CHECK(mq_setattr(q, &attr, NULL) == 0);
}

// Signals: main blocks in mq_receive while a thread signals the process.
static volatile sig_atomic_t hits;
static atomic_int main_returned;
static pid_t main_tid;

static void on_signal(int sig) {
  (void)sig;
  hits++;
}

static void install(int flags) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = flags;
  CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
}

// interrupt() signals the process until main's call has returned (a signal that came just
// before the call would not interrupt it).
static void* interrupt(void* arg) {
  (void)arg;
  wait_blocked(main_tid, SYS_mq_timedreceive);
  for (int i = 0; i < 20000 && !atomic_load(&main_returned); i++) {
    int before = hits;
    CHECK(kill(getpid(), SIGUSR1) == 0);
    while (hits == before) sched_yield();
    usleep(1000);
  }
  return NULL;
}

// restart() signals the process once, then sends a message once the handler has run.
static void* restart(void* arg) {
  (void)arg;
  wait_blocked(main_tid, SYS_mq_timedreceive);
  CHECK(kill(getpid(), SIGUSR1) == 0);
  while (hits == 0) sched_yield();
  CHECK(mq_send(q, "after", 5, 0) == 0);
  return NULL;
}

static void test_signals(void) {
  char buf[64];
  main_tid = os_tid();
  pthread_t t;
  install(0);
  CHECK(pthread_create(&t, NULL, interrupt, NULL) == 0);
  SHOW("mq_receive, signal without SA_RESTART", mq_receive(q, buf, sizeof buf, NULL));
  atomic_store(&main_returned, 1);
  CHECK(pthread_join(t, NULL) == 0);

  hits = 0;
  install(SA_RESTART);
  CHECK(pthread_create(&t, NULL, restart, NULL) == 0);
  memset(buf, 0, sizeof buf);
  SHOW("mq_receive, signal with SA_RESTART", mq_receive(q, buf, sizeof buf, NULL));
  printf("  got '%s', the handler ran %d time(s)\n", buf, (int)hits);
  CHECK(pthread_join(t, NULL) == 0);
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  char name[64];
  snprintf(name, sizeof name, "/weft_diff_mqueue_%d", (int)getpid());
  struct mq_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.mq_maxmsg = 2;
  attr.mq_msgsize = 64;
  q = mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0600, &attr);
  if (q == (mqd_t)-1) {
    printf("SKIP: mq_open refused (%s)\n", strerror(errno));
    return 77;
  }
  CHECK(mq_unlink(name) == 0);
  test_waits();
  test_limits();
  test_signals();
  CHECK(mq_close(q) == 0);
  return 0;
}
