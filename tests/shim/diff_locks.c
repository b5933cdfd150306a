// diff_locks: file locks -- flock, fcntl's F_OFD_SETLKW and F_SETLKW, lockf's F_LOCK -- wait for
// their holder the same way natively and under the shim, and their non-waiting forms (LOCK_NB,
// F_SETLK, F_OFD_SETLK, F_TLOCK, F_TEST) answer the same. In each case a thread blocks on a lock
// that main (or a child main controls) holds, main waits until it is blocked and only then lets
// go: on one carrier, a lock call that held the carrier would keep main from ever letting go,
// and the program would hang. flock and OFD locks belong to an open file description, so two
// opens of one file conflict inside the process; classic POSIX locks (F_SETLKW, lockf) belong
// to the process, so their holder is a forked child. Plain C with no weft header.
//
// Built with -U_FILE_OFFSET_BITS, so fcntl and lockf are the plain symbols; fcntl64 and lockf64
// are called by name.
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "blocker.h"
#include "check.h"

static char path[] = "/tmp/weft_diff_locks_XXXXXX";

static void let_go(void) {
  atomic_store(&released, 1);
}

static struct flock whole(short type) {
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  return fl;
}

static int flock_ex(int fd) {
  return flock(fd, LOCK_EX);
}

static int flock_sh(int fd) {
  return flock(fd, LOCK_SH);
}

static int ofd_wrlock(int fd) {
  struct flock fl = whole(F_WRLCK);
  return fcntl(fd, F_OFD_SETLKW, &fl);
}

static int ofd_wrlock64(int fd) {
  struct flock fl = whole(F_WRLCK);
  return fcntl64(fd, F_OFD_SETLKW, &fl);
}

static int posix_wrlock(int fd) {
  struct flock fl = whole(F_WRLCK);
  return fcntl(fd, F_SETLKW, &fl);
}

static int lockf_lock(int fd) {
  return lockf(fd, F_LOCK, 0);
}

static int lockf64_lock(int fd) {
  return lockf64(fd, F_LOCK, 0);
}

static void test_flock(void) {
  int a = open(path, O_RDWR), b = open(path, O_RDWR);
  CHECK(a >= 0 && b >= 0);
  CHECK(flock(a, LOCK_EX) == 0);
  SHOW("flock LOCK_EX|LOCK_NB on a held lock", flock(b, LOCK_EX | LOCK_NB));
  struct Blocker t;
  block_fd(&t, b, flock_ex, SYS_flock);
  let_go();
  CHECK(flock(a, LOCK_UN) == 0);
  finish(&t, "flock LOCK_EX waiting for LOCK_EX");
  SHOW("flock LOCK_SH|LOCK_NB against it", flock(a, LOCK_SH | LOCK_NB));

  // A shared lock waits for an exclusive one, and two shared ones coexist.
  block_fd(&t, a, flock_sh, SYS_flock);
  let_go();
  CHECK(flock(b, LOCK_SH) == 0);  // converts b's exclusive lock: the waiter gets in
  finish(&t, "flock LOCK_SH waiting for LOCK_EX converted to LOCK_SH");
  SHOW("flock LOCK_UN", flock(a, LOCK_UN));
  SHOW("flock LOCK_UN", flock(b, LOCK_UN));
  SHOW("flock on a bad fd", flock(-1, LOCK_EX));
  SHOW("flock with a bad operation", flock(a, 0));
  close(a);
  close(b);
}

static void test_ofd(void) {
  int a = open(path, O_RDWR), b = open(path, O_RDWR);
  CHECK(a >= 0 && b >= 0);
  struct flock fl = whole(F_WRLCK);
  CHECK(fcntl(a, F_OFD_SETLK, &fl) == 0);
  fl = whole(F_RDLCK);
  SHOW("F_OFD_SETLK on a held lock", fcntl(b, F_OFD_SETLK, &fl));
  fl = whole(F_RDLCK);
  CHECK(fcntl(b, F_OFD_GETLK, &fl) == 0);
  printf("F_OFD_GETLK: write lock %d, pid %d\n", fl.l_type == F_WRLCK, (int)fl.l_pid);

  struct Blocker t;
  block_fd(&t, b, ofd_wrlock, SYS_fcntl);
  let_go();
  fl = whole(F_UNLCK);
  CHECK(fcntl(a, F_OFD_SETLK, &fl) == 0);
  finish(&t, "F_OFD_SETLKW waiting for a write lock");

  block_fd(&t, a, ofd_wrlock64, SYS_fcntl);
  let_go();
  fl = whole(F_UNLCK);
  CHECK(fcntl(b, F_OFD_SETLKW, &fl) == 0);  // an unlock never waits
  finish(&t, "fcntl64 F_OFD_SETLKW waiting for a write lock");
  close(a);
  close(b);
}

// with_child_holding() forks a child that takes a write lock on the whole file with take, says
// so, and keeps it until main writes to it; runs test(fd, child) meanwhile.
static void with_child_holding(int (*take)(int), void (*test)(int fd, pid_t child, int go)) {
  int held[2], go[2];
  CHECK(pipe(held) == 0 && pipe(go) == 0);
  fflush(stdout);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    int fd = open(path, O_RDWR);
    char c = take(fd) == 0 ? 'L' : 'E';
    if (write(held[1], &c, 1) != 1 || read(go[0], &c, 1) != 1) _exit(2);
    _exit(0);  // exiting drops the lock
  }
  char c = 0;
  CHECK(read(held[0], &c, 1) == 1 && c == 'L');
  int fd = open(path, O_RDWR);
  CHECK(fd >= 0);
  test(fd, pid, go[1]);
  int status;
  CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  close(fd);
  close(held[0]);
  close(held[1]);
  close(go[0]);
  close(go[1]);
}

static void release_child(int go) {
  let_go();
  CHECK(write(go, "g", 1) == 1);
}

static void posix_case(int fd, pid_t child, int go) {
  struct flock fl = whole(F_RDLCK);
  errno = 0;
  int r = fcntl(fd, F_SETLK, &fl);
  printf("F_SETLK against the child's lock -> %d %s\n", r,
         r < 0 && (errno == EAGAIN || errno == EACCES) ? "taken" : strerror(errno));
  fl = whole(F_WRLCK);
  CHECK(fcntl(fd, F_GETLK, &fl) == 0);
  printf("F_GETLK: write lock %d, held by the child %d\n", fl.l_type == F_WRLCK, fl.l_pid == child);
  struct Blocker t;
  block_fd(&t, fd, posix_wrlock, SYS_fcntl);
  release_child(go);
  finish(&t, "F_SETLKW waiting for another process's write lock");
}

static void lockf_case(int fd, pid_t child, int go) {
  (void)child;
  SHOW("lockf F_TEST", lockf(fd, F_TEST, 0));
  errno = 0;
  int r = lockf(fd, F_TLOCK, 0);
  printf("lockf F_TLOCK -> %d %s\n", r,
         r < 0 && (errno == EAGAIN || errno == EACCES) ? "taken" : strerror(errno));
  struct Blocker t;
  block_fd(&t, fd, lockf_lock, SYS_fcntl);
  release_child(go);
  finish(&t, "lockf F_LOCK waiting for another process's lock");
  SHOW("lockf F_TEST by the holder", lockf(fd, F_TEST, 0));
  SHOW("lockf F_ULOCK", lockf(fd, F_ULOCK, 0));
}

static void lockf64_case(int fd, pid_t child, int go) {
  (void)child;
  struct Blocker t;
  block_fd(&t, fd, lockf64_lock, SYS_fcntl);
  release_child(go);
  finish(&t, "lockf64 F_LOCK waiting for another process's lock");
}

static int child_posix(int fd) {
  struct flock fl = whole(F_WRLCK);
  return fcntl(fd, F_SETLK, &fl);
}

static int child_lockf(int fd) {
  return lockf(fd, F_TLOCK, 0);
}

static void remove_file(void) {
  unlink(path);
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  atexit(remove_file);
  CHECK(write(fd, "0123456789", 10) == 10);
  close(fd);

  test_flock();
  test_ofd();
  with_child_holding(child_posix, posix_case);
  with_child_holding(child_lockf, lockf_case);
  with_child_holding(child_lockf, lockf64_case);
  return 0;
}
