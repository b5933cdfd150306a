// diff_fifo: opening a FIFO waits for its other end the same way natively and under the shim,
// through each of the open functions: open, open64, openat, openat64 and, since this program is
// built with _FORTIFY_SOURCE and calls them with flags that are no constant, __open_2,
// __open64_2, __openat_2 and __openat64_2. A thread opens the FIFO for reading (or writing),
// main waits until it is blocked in the open and only then opens the other end: on one carrier,
// an open that held the carrier would keep main from ever doing so, and the program would hang.
// Also the opens that do not wait (O_NONBLOCK, O_RDWR, a regular file) and their errors. Plain
// C with no weft header.
//
// Built with -U_FILE_OFFSET_BITS (so open is not renamed open64) and -D_FORTIFY_SOURCE=2 -O2.
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "check.h"

static char dir[] = "/tmp/weft_diff_fifo_XXXXXX";
static char fifo[64];
static int dirfd_ = -1;
// Flags the compiler cannot see as constants, so fortified opens take the __open_2 forms.
static volatile int rd = O_RDONLY, wr = O_WRONLY;

typedef int (*Opener)(int flags);

static int by_open(int flags) {
  return open(fifo, flags, 0);
}
static int by_open64(int flags) {
  return open64(fifo, flags, 0);
}
static int by_openat(int flags) {
  return openat(dirfd_, "f", flags, 0);
}
static int by_openat64(int flags) {
  return openat64(dirfd_, "f", flags, 0);
}
static int by_open_2(int flags) {
  return open(fifo, flags);
}
static int by_open64_2(int flags) {
  return open64(fifo, flags);
}
static int by_openat_2(int flags) {
  return openat(dirfd_, "f", flags);
}
static int by_openat64_2(int flags) {
  return openat64(dirfd_, "f", flags);
}

static atomic_int released;

// Opening is a thread that opens the FIFO with `how` and `flags`, then reads or writes a word.
struct Opening {
  Opener how;
  int flags;
  _Atomic pid_t tid;
  int fd;
  int err;
  int seen;
  char word[16];
  pthread_t thread;
};

static void* opening_main(void* arg) {
  struct Opening* o = arg;
  atomic_store(&o->tid, os_tid());
  errno = 0;
  o->fd = o->how(o->flags);
  o->err = errno;
  o->seen = atomic_load(&released);
  if (o->fd >= 0) {
    if ((o->flags & O_ACCMODE) == O_RDONLY) {
      CHECK(read(o->fd, o->word, sizeof o->word - 1) == 5);
    } else {
      CHECK(write(o->fd, "hello", 5) == 5);
    }
    close(o->fd);
  }
  return NULL;
}

// round_trip() has a thread open the FIFO with `waiter` (for reading if `flags` is rd), waits
// until it blocks in the open, then opens the other end with `other` and passes a word.
static void round_trip(const char* what, Opener waiter, int flags, Opener other) {
  struct Opening o;
  memset(&o, 0, sizeof o);
  o.how = waiter;
  o.flags = flags;
  atomic_store(&released, 0);
  CHECK(pthread_create(&o.thread, NULL, opening_main, &o) == 0);
  pid_t t;
  while ((t = atomic_load(&o.tid)) == 0) sched_yield();
  wait_blocked(t, SYS_openat);
  atomic_store(&released, 1);
  int reading = (flags & O_ACCMODE) != O_RDONLY;
  int fd = other(reading ? rd : wr);
  CHECK(fd >= 0);
  char word[16] = "";
  if (reading) {
    CHECK(read(fd, word, sizeof word - 1) == 5);
  } else {
    CHECK(write(fd, "hello", 5) == 5);
  }
  close(fd);
  CHECK(pthread_join(o.thread, NULL) == 0);
  printf("%s: opened %d, after the other end: %d, word '%s'\n", what, o.fd >= 0, o.seen,
         reading ? word : o.word);
}

static void remove_all(void) {
  unlink(fifo);
  char file[80];
  snprintf(file, sizeof file, "%s/file", dir);
  unlink(file);
  rmdir(dir);
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  CHECK(mkdtemp(dir) != NULL);
  atexit(remove_all);
  snprintf(fifo, sizeof fifo, "%s/f", dir);
  CHECK(mkfifo(fifo, 0600) == 0);
  dirfd_ = open(dir, O_RDONLY | O_DIRECTORY);
  CHECK(dirfd_ >= 0);

  // Each open function waits once; the other end is opened by another one.
  round_trip("open for reading, open for writing", by_open, rd, by_open);
  round_trip("open64 for reading, openat for writing", by_open64, rd, by_openat);
  round_trip("openat for writing, openat64 for reading", by_openat, wr, by_openat64);
  round_trip("openat64 for reading, __open_2 for writing", by_openat64, rd, by_open_2);
  round_trip("__open_2 for reading, __open64_2 for writing", by_open_2, rd, by_open64_2);
  round_trip("__open64_2 for writing, __openat_2 for reading", by_open64_2, wr, by_openat_2);
  round_trip("__openat_2 for reading, __openat64_2 for writing", by_openat_2, rd, by_openat64_2);
  round_trip("__openat64_2 for writing, open64 for reading", by_openat64_2, wr, by_open64);

  // Opens that do not wait (fd numbers differ under the shim, which has fds of its own: only
  // success is shown).
  int fd;
  SHOW("O_RDONLY|O_NONBLOCK with no writer", ((fd = open(fifo, rd | O_NONBLOCK)) < 0 ? -1 : 0));
  close(fd);
  SHOW("O_WRONLY|O_NONBLOCK with no reader", open(fifo, wr | O_NONBLOCK));
  SHOW("O_RDWR", ((fd = open(fifo, O_RDWR)) < 0 ? -1 : 0));
  close(fd);
  char file[80];
  snprintf(file, sizeof file, "%s/file", dir);
  SHOW("O_CREAT of a regular file", ((fd = open(file, O_CREAT | O_WRONLY, 0600)) < 0 ? -1 : 0));
  close(fd);
  SHOW("O_RDONLY of that file", ((fd = open(file, rd)) < 0 ? -1 : 0));
  close(fd);
  SHOW("O_CREAT|O_EXCL of the FIFO", open(fifo, O_CREAT | O_EXCL | O_WRONLY, 0600));
  SHOW("O_DIRECTORY of the FIFO", open(fifo, O_RDONLY | O_DIRECTORY));
  SHOW("a path that does not exist", open64("/nonexistent/weft", rd));
  SHOW("openat with a bad dirfd", openat(-1, "f", rd));
  close(dirfd_);
  return 0;
}
