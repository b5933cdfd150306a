// diff_ipc: System V message queues and semaphores -- msgsnd, msgrcv, semop, semtimedop -- wait
// and answer the same natively and under the shim. In each case a thread blocks on a queue or a
// semaphore set (private to the process, removed at exit), main waits until it is blocked and
// only then sends, receives or posts: on one carrier, a call that held the carrier would keep
// main from ever doing so, and the program would hang. The IPC_NOWAIT forms answer at once.
// Plain C with no weft header.
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "blocker.h"
#include "check.h"

struct message {
  long type;
  char text[32];
};

static int queue = -1, sems = -1;


static struct message got;

static long receive_type_1(void) {
  memset(&got, 0, sizeof got);
  return msgrcv(queue, &got, sizeof got.text, 1, 0);
}

static long send_16(void) {
  struct message m = {2, "sixteen bytes..."};
  return msgsnd(queue, &m, 16, 0);
}

static void send_text(long type, const char* text) {
  struct message m = {type, ""};
  strcpy(m.text, text);
  CHECK(msgsnd(queue, &m, strlen(text), 0) == 0);
}

static void test_messages(void) {
  struct message m;
  SHOW("msgrcv IPC_NOWAIT on an empty queue", msgrcv(queue, &m, sizeof m.text, 0, IPC_NOWAIT));

  struct Blocker t;
  block(&t, receive_type_1, SYS_msgrcv);
  atomic_store(&released, 1);
  send_text(3, "not this one");
  send_text(1, "hello");
  finish(&t, "msgrcv of type 1 waiting for a message");
  printf("  it got type %ld '%s'\n", got.type, got.text);
  memset(&m, 0, sizeof m);
  SHOW("msgrcv of the other message", msgrcv(queue, &m, sizeof m.text, 0, 0));
  printf("  '%s'\n", m.text);
  send_text(1, "long message");
  SHOW("msgrcv into too small a buffer", msgrcv(queue, &m, 4, 0, 0));
  SHOW("  MSG_NOERROR truncates", msgrcv(queue, &m, 4, 0, MSG_NOERROR));

  // A queue of 32 bytes holds two 16-byte messages; a third send waits for room.
  struct msqid_ds ds;
  CHECK(msgctl(queue, IPC_STAT, &ds) == 0);
  ds.msg_qbytes = 32;
  CHECK(msgctl(queue, IPC_SET, &ds) == 0);
  CHECK(send_16() == 0 && send_16() == 0);
  struct message full = {2, "sixteen bytes..."};
  SHOW("msgsnd IPC_NOWAIT into a full queue", msgsnd(queue, &full, 16, IPC_NOWAIT));
  block(&t, send_16, SYS_msgsnd);
  atomic_store(&released, 1);
  CHECK(msgrcv(queue, &m, sizeof m.text, 0, 0) == 16);
  finish(&t, "msgsnd waiting for room");
  CHECK(msgctl(queue, IPC_STAT, &ds) == 0);
  printf("  messages queued now: %lu\n", (unsigned long)ds.msg_qnum);
  SHOW("msgsnd to a bad queue", msgsnd(-1, &full, 16, 0));
}

static long take_0(void) {
  struct sembuf op = {0, -1, 0};
  return semop(sems, &op, 1);
}

static long take_0_give_1(void) {
  struct sembuf ops[2] = {{0, -1, 0}, {1, 1, 0}};
  return semop(sems, ops, 2);
}

static long take_0_timed(void) {
  struct sembuf op = {0, -1, 0};
  struct timespec limit = {30, 0};
  return semtimedop(sems, &op, 1, &limit);
}

static void post_0(void) {
  struct sembuf op = {0, 1, 0};
  CHECK(semop(sems, &op, 1) == 0);
}

static void test_semaphores(void) {
  struct sembuf op = {0, -1, IPC_NOWAIT};
  SHOW("semop IPC_NOWAIT on 0", semop(sems, &op, 1));

  struct Blocker t;
  block(&t, take_0, SYS_semtimedop);
  atomic_store(&released, 1);
  post_0();
  finish(&t, "semop waiting for a unit");

  block(&t, take_0_give_1, SYS_semtimedop);
  atomic_store(&released, 1);
  post_0();
  finish(&t, "semop of two operations, waiting for the first");
  printf("  values now %d %d\n", semctl(sems, 0, GETVAL), semctl(sems, 1, GETVAL));

  block(&t, take_0_timed, SYS_semtimedop);
  atomic_store(&released, 1);
  post_0();
  finish(&t, "semtimedop (30 s) waiting for a unit");

  struct sembuf wait_op = {0, -1, 0};
  struct timespec short_limit = {0, 20 * 1000 * 1000};
  SHOW("semtimedop (20 ms) nobody posts", semtimedop(sems, &wait_op, 1, &short_limit));
  struct timespec bad = {0, -1};
  SHOW("semtimedop with a bad time", semtimedop(sems, &wait_op, 1, &bad));
  // Semaphore 1 has a unit: the call does not wait, and takes it.
  struct sembuf take_1 = {1, -1, 0};
  SHOW("semop that need not wait", semop(sems, &take_1, 1));
  printf("  value now %d\n", semctl(sems, 1, GETVAL));
  SHOW("semop with no operations", semop(sems, &take_1, 0));
}

static void remove_objects(void) {
  if (queue >= 0) msgctl(queue, IPC_RMID, NULL);
  if (sems >= 0) semctl(sems, 0, IPC_RMID);
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  atexit(remove_objects);
  queue = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
  sems = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
  if (queue < 0 || sems < 0) {
    printf("SKIP: System V IPC is not available here (%s)\n", strerror(errno));
    return 77;
  }
  test_messages();
  test_semaphores();
  return 0;
}
