// diff_wait: waiting for children -- wait, waitpid, wait3, wait4, waitid, WNOHANG, ECHILD --
// gives the same results natively and under the shim. Each child blocks until a thread of the
// parent writes to a pipe while the parent waits for it: on one carrier, a wait that held the
// carrier would keep that thread from ever running, and the program would hang. Plain C with no
// weft header.
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static int go[2];

// child() forks a child that exits with `code` once the parent's releaser thread lets it go.
static pid_t child(int code) {
  fflush(stdout);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    char c;
    _exit(read(go[0], &c, 1) == 1 ? code : 99);
  }
  return pid;
}

// release() starts a thread that lets one child go after the parent has started waiting
// (a little later: if the parent is not yet waiting, the result is the same).
static void* let_go(void* arg) {
  (void)arg;
  usleep(20000);
  CHECK(write(go[1], "g", 1) == 1);
  return NULL;
}

static pthread_t release(void) {
  pthread_t t;
  CHECK(pthread_create(&t, NULL, let_go, NULL) == 0);
  return t;
}

static void done(pthread_t t) {
  CHECK(pthread_join(t, NULL) == 0);
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  CHECK(pipe(go) == 0);
  int status = 0;

  pid_t pid = child(3);
  pthread_t t = release();
  printf("waitpid: right pid %d, exit status %d\n", waitpid(pid, &status, 0) == pid,
         WEXITSTATUS(status));
  done(t);

  pid = child(4);
  printf("waitpid WNOHANG before it ends -> %d\n", (int)waitpid(pid, &status, WNOHANG));
  t = release();
  printf("wait: right pid %d, exit status %d\n", wait(&status) == pid, WEXITSTATUS(status));
  done(t);

  pid = child(5);
  t = release();
  struct rusage ru;
  printf("wait4: right pid %d, exit status %d\n", wait4(pid, &status, 0, &ru) == pid,
         WEXITSTATUS(status));
  done(t);

  pid = child(6);
  t = release();
  printf("wait3: right pid %d, exit status %d\n", wait3(&status, 0, &ru) == pid,
         WEXITSTATUS(status));
  done(t);

  pid = child(7);
  t = release();
  siginfo_t info;
  memset(&info, 0, sizeof info);
  CHECK(waitid(P_PID, (id_t)pid, &info, WEXITED) == 0);
  printf("waitid: right pid %d, code CLD_EXITED %d, status %d\n", info.si_pid == pid,
         info.si_code == CLD_EXITED, info.si_status);
  done(t);

  // A child killed by a signal.
  pid = child(8);
  CHECK(kill(pid, SIGKILL) == 0);
  CHECK(waitpid(pid, &status, 0) == pid);
  printf("killed child: signalled %d by SIGKILL %d\n", WIFSIGNALED(status),
         WTERMSIG(status) == SIGKILL);

  errno = 0;
  SHOW("waitpid with no children", (int)waitpid(-1, &status, 0));
  errno = 0;
  SHOW("wait with no children", (int)wait(&status));
  return 0;
}
