// diff_process: processes and what runs outside the fibers. A thread made by a constructor
// (before main: a real thread under the shim) blocks in read until main writes, and main joins
// it; pread/pwrite on a file; from a thread: fork (with an atfork lock), fork+exec, vfork+exec,
// posix_spawn with file actions, and system(). diff_fork tests the forked child's runtime.
// Plain C with no weft header.
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static int early_pipe[2];
static pthread_t early;
static char early_got[16];

static void* early_thread(void* arg) {
  (void)arg;
  ssize_t n = read(early_pipe[0], early_got, sizeof early_got - 1);
  return (void*)n;
}

__attribute__((constructor)) static void before_main(void) {
  // Code before main: every call passes straight through to libc.
  if (pipe(early_pipe) != 0 || write(early_pipe[1], "", 0) != 0) _exit(90);
  if (pthread_create(&early, NULL, early_thread, NULL) != 0) _exit(91);
}

static void files(void) {
  char path[] = "/tmp/weft-diff-process-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  unlink(path);
  printf("pwrite -> %zd\n", pwrite(fd, "0123456789", 10, 0));
  printf("pwrite at 20 -> %zd\n", pwrite(fd, "tail", 4, 20));
  char buf[32] = {0};
  printf("pread 5 at 3 -> %zd '%.5s'\n", pread(fd, buf, 5, 3), buf);
  printf("pread past the end -> %zd\n", pread(fd, buf, 8, 100));
  printf("file position untouched: %ld\n", (long)lseek(fd, 0, SEEK_CUR));
  errno = 0;
  SHOW("pread at -1", pread(fd, buf, 1, -1));
  int p[2];
  CHECK(pipe(p) == 0);
  errno = 0;
  SHOW("pread on a pipe", pread(p[0], buf, 1, 0));
  close(p[0]);
  close(p[1]);
  close(fd);
}

// The atfork pattern: a lock held across fork, released in parent and child alike; the child's
// thread has the forking thread's pthread_t, as in glibc.
static pthread_mutex_t fork_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t forking_thread;
static int child_same_self = -1;
static void before_fork(void) {
  CHECK(pthread_mutex_lock(&fork_lock) == 0);
}
static void after_fork_parent(void) {
  CHECK(pthread_mutex_unlock(&fork_lock) == 0);
}
static void after_fork_child(void) {
  child_same_self = pthread_equal(pthread_self(), forking_thread) != 0;
  if (pthread_mutex_unlock(&fork_lock) != 0) _exit(80);
}

static void* forker(void* arg) {
  (void)arg;
  forking_thread = pthread_self();
  CHECK(pthread_atfork(before_fork, after_fork_parent, after_fork_child) == 0);
  int p[2];
  CHECK(pipe(p) == 0);
  fflush(stdout);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    // The child: one thread, the same pthread_t as its parent's.
    if (child_same_self != 1) _exit(81);
    char buf[8];
    CHECK(write(p[1], "child", 5) == 5);
    usleep(1000);
    CHECK(read(p[0], buf, 5) == 5);
    _exit(buf[0] == 'c' ? 3 : 4);
  }
  int status;
  CHECK(waitpid(pid, &status, 0) == pid);
  printf("forked child exited %d\n", WEXITSTATUS(status));
  close(p[0]);
  close(p[1]);

  fflush(stdout);
  pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", "echo from exec; exit 5", (char*)NULL);
    _exit(127);
  }
  CHECK(waitpid(pid, &status, 0) == pid);
  printf("exec'd child exited %d\n", WEXITSTATUS(status));

  fflush(stdout);
  pid = vfork();
  CHECK(pid >= 0);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", "echo from vfork; exit 6", (char*)NULL);
    _exit(127);
  }
  CHECK(waitpid(pid, &status, 0) == pid);
  printf("vfork'd child exited %d\n", WEXITSTATUS(status));

  // posix_spawn's child (clone with CLONE_VM) shares this memory and runs glibc's own code only:
  // its dup2 and close are glibc's internal ones, which no hook sees.
  int out[2];
  CHECK(pipe(out) == 0);
  posix_spawn_file_actions_t fa;
  CHECK(posix_spawn_file_actions_init(&fa) == 0);
  CHECK(posix_spawn_file_actions_adddup2(&fa, out[1], 1) == 0);
  CHECK(posix_spawn_file_actions_addclose(&fa, out[0]) == 0);
  CHECK(posix_spawn_file_actions_addclose(&fa, out[1]) == 0);
  char* spawn_argv[] = {"sh", "-c", "echo spawned; exit 9", NULL};
  extern char** environ;
  CHECK(posix_spawn(&pid, "/bin/sh", &fa, NULL, spawn_argv, environ) == 0);
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  char said[64] = {0};
  size_t len = 0;
  for (ssize_t n; (n = read(out[0], said + len, sizeof said - 1 - len)) > 0;) len += (size_t)n;
  close(out[0]);
  CHECK(waitpid(pid, &status, 0) == pid);
  printf("posix_spawn'd child said '%.*s' and exited %d\n", (int)(len > 0 ? len - 1 : 0), said,
         WEXITSTATUS(status));
  status = system("exit 3");
  printf("system() -> %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  return NULL;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  // Let the early thread block first, then wake it; it is a real thread, joined from main.
  usleep(10000);
  CHECK(write(early_pipe[1], "early", 5) == 5);
  void* r;
  CHECK(pthread_join(early, &r) == 0);
  printf("constructor's thread read %ld '%s'\n", (long)r, early_got);
  files();
  pthread_t t;
  CHECK(pthread_create(&t, NULL, forker, NULL) == 0);
  CHECK(pthread_join(t, NULL) == 0);
  return 0;
}
