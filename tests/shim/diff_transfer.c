// diff_transfer: the in-kernel transfers -- sendfile, sendfile64, splice, tee, vmsplice,
// copy_file_range -- move the same bytes natively and under the shim, while the thread at the
// other end of the socket or pipe is another thread of the program. sendfile and splice move
// more than a socket or pipe holds, so the call must wait for the reader at some point: on one
// carrier, a call that held the carrier would keep the reader from ever running, and the program
// would hang (CPython's test_socket sendfile case). tee and vmsplice wait for one event: main
// waits until the thread is blocked and only then writes or reads. Also the non-waiting forms
// (SPLICE_F_NONBLOCK, a non-blocking socket) and some errors. Plain C with no weft header.
//
// Built with -U_FILE_OFFSET_BITS, so sendfile is the plain symbol; sendfile64 is called by name.
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "blocker.h"
#include "check.h"

enum { kSize = 4 << 20 };

static char path[] = "/tmp/weft_diff_transfer_XXXXXX";
static char copy_path[] = "/tmp/weft_diff_transfer_copy_XXXXXX";
static int file = -1;

// byte() is the content of the test file at offset i.
static unsigned char byte(size_t i) {
  return (unsigned char)(i * 7 + i / 4096);
}

// drain() reads fd until end of file or `want` bytes, comparing them with the file from offset
// `from`; returns how many bytes matched before the first difference (all of them if none).
static size_t drain(int fd, size_t want, size_t from) {
  static char buf[65536];
  size_t got = 0, good = 0;
  int same = 1;
  while (got < want) {
    ssize_t n = read(fd, buf, sizeof buf < want - got ? sizeof buf : want - got);
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; i++) {
      if (same && (unsigned char)buf[i] == byte(from + got + (size_t)i)) {
        good++;
      } else {
        same = 0;
      }
    }
    got += (size_t)n;
  }
  return good;
}

// Mover is a thread that moves bytes with one kind of call until `want` went or it fails.
struct Mover {
  int in, out;
  size_t want;
  size_t moved;
  int err;
  pthread_t thread;
};

static void* sendfile_main(void* arg) {
  struct Mover* m = arg;
  // The first half with sendfile and an offset, the rest with sendfile64 from the file position.
  off_t off = 0;
  while (m->moved < m->want / 2) {
    ssize_t n = sendfile(m->out, m->in, &off, m->want / 2 - m->moved);
    if (n <= 0) {
      m->err = n < 0 ? errno : 0;
      return NULL;
    }
    m->moved += (size_t)n;
  }
  CHECK(lseek(m->in, (off_t)m->moved, SEEK_SET) == (off_t)m->moved);
  while (m->moved < m->want) {
    ssize_t n = sendfile64(m->out, m->in, NULL, m->want - m->moved);
    if (n <= 0) {
      m->err = n < 0 ? errno : 0;
      return NULL;
    }
    m->moved += (size_t)n;
  }
  return NULL;
}

static void* splice_main(void* arg) {
  struct Mover* m = arg;
  while (m->moved < m->want) {
    ssize_t n = splice(m->in, NULL, m->out, NULL, m->want - m->moved, 0);
    if (n <= 0) {
      m->err = n < 0 ? errno : 0;
      return NULL;
    }
    m->moved += (size_t)n;
  }
  return NULL;
}

// write_main writes `want` bytes of the file's content into out.
static void* write_main(void* arg) {
  struct Mover* m = arg;
  static char buf[65536];
  while (m->moved < m->want) {
    size_t k = m->want - m->moved < sizeof buf ? m->want - m->moved : sizeof buf;
    for (size_t i = 0; i < k; i++) buf[i] = (char)byte(m->moved + i);
    ssize_t n = write(m->out, buf, k);
    if (n <= 0) {
      m->err = errno;
      return NULL;
    }
    m->moved += (size_t)n;
  }
  return NULL;
}

static void start(struct Mover* m, void* (*fn)(void*), int in, int out, size_t want) {
  memset(m, 0, sizeof *m);
  m->in = in;
  m->out = out;
  m->want = want;
  CHECK(pthread_create(&m->thread, NULL, fn, m) == 0);
}

static void join(struct Mover* m, const char* what) {
  CHECK(pthread_join(m->thread, NULL) == 0);
  printf("%s moved %zu bytes%s%s\n", what, m->moved, m->err ? ", then " : "",
         m->err ? strerror(m->err) : "");
}

static void test_sendfile(void) {
  int s[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
  struct Mover m;
  start(&m, sendfile_main, file, s[0], kSize);
  size_t good = drain(s[1], kSize, 0);
  join(&m, "sendfile and sendfile64 into a socket another thread reads");
  printf("  the reader got %zu right bytes\n", good);

  // A non-blocking socket fills up and says EAGAIN.
  CHECK(fcntl(s[0], F_SETFL, O_NONBLOCK) == 0);
  off_t off = 0;
  ssize_t n;
  errno = 0;
  while ((n = sendfile(s[0], file, &off, kSize)) > 0) {
  }
  printf("sendfile into a full non-blocking socket -> %zd %s\n", n, strerror(errno));
  SHOW("sendfile from a bad fd", sendfile(s[0], -1, NULL, 10));
  close(s[0]);
  close(s[1]);
}

static void test_splice(void) {
  // A file into a pipe that another thread reads.
  int p[2];
  CHECK(pipe(p) == 0);
  CHECK(lseek(file, 0, SEEK_SET) == 0);
  struct Mover m;
  start(&m, splice_main, file, p[1], 1 << 20);
  size_t good = drain(p[0], 1 << 20, 0);
  join(&m, "splice from a file into a pipe another thread reads");
  printf("  the reader got %zu right bytes\n", good);
  close(p[0]);
  close(p[1]);

  // A pipe another thread writes into a socket main reads.
  int w[2], s[2];
  CHECK(pipe(w) == 0 && socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
  struct Mover writer, mover;
  start(&writer, write_main, -1, w[1], 1 << 20);
  start(&mover, splice_main, w[0], s[0], 1 << 20);
  good = drain(s[1], 1 << 20, 0);
  join(&writer, "a thread writing into a pipe");
  join(&mover, "splice from that pipe into a socket main reads");
  printf("  main got %zu right bytes\n", good);

  // Pipe to pipe: the other policy (yield), between a writer thread and main.
  int q[2];
  CHECK(pipe(q) == 0);
  start(&writer, write_main, -1, w[1], 1 << 20);
  start(&mover, splice_main, w[0], q[1], 1 << 20);
  good = drain(q[0], 1 << 20, 0);
  join(&writer, "a thread writing into a pipe");
  join(&mover, "splice from that pipe into another pipe main reads");
  printf("  main got %zu right bytes\n", good);

  SHOW("splice SPLICE_F_NONBLOCK from an empty pipe",
       splice(w[0], NULL, q[1], NULL, 100, SPLICE_F_NONBLOCK));
  SHOW("splice between two ends of one pipe", splice(q[0], NULL, q[1], NULL, 100, 0));
  SHOW("splice with an offset on a pipe", splice(w[0], &(loff_t){0}, q[1], NULL, 100, 0));
  close(w[0]);
  close(w[1]);
  close(q[0]);
  close(q[1]);
  close(s[0]);
  close(s[1]);
}


static int a[2], b[2];
static char user_buf[16];
static char gift[] = "data";

static long tee_a_b(void) {
  return tee(a[0], b[1], 1 << 20, 0);
}

static long vmsplice_to_b(void) {
  struct iovec iov = {gift, 4};
  return vmsplice(b[1], &iov, 1, 0);
}

static long vmsplice_from_a(void) {
  struct iovec iov = {user_buf, sizeof user_buf};
  return vmsplice(a[0], &iov, 1, 0);
}

// fill() writes into pipe fd until it is full; returns how many bytes that took.
static size_t fill(int fd) {
  CHECK(fcntl(fd, F_SETFL, O_NONBLOCK) == 0);
  static char junk[4096];
  size_t n = 0;
  ssize_t k;
  while ((k = write(fd, junk, sizeof junk)) > 0) n += (size_t)k;
  CHECK(errno == EAGAIN);
  CHECK(fcntl(fd, F_SETFL, 0) == 0);
  return n;
}

static void read_exactly(int fd, size_t n) {
  static char junk[4096];
  while (n > 0) {
    ssize_t k = read(fd, junk, n < sizeof junk ? n : sizeof junk);
    CHECK(k > 0);
    n -= (size_t)k;
  }
}

static void test_tee_vmsplice(void) {
  CHECK(pipe(a) == 0 && pipe(b) == 0);
  char buf[64];

  // tee from an empty pipe waits for data; it copies without consuming.
  struct Blocker t;
  block(&t, tee_a_b, SYS_tee);
  atomic_store(&released, 1);
  CHECK(write(a[1], "hello", 5) == 5);
  finish(&t, "tee waiting for data");
  memset(buf, 0, sizeof buf);
  CHECK(read(b[0], buf, sizeof buf) == 5 && read(a[0], buf + 5, sizeof buf - 5) == 5);
  printf("  both pipes had it: '%s'\n", buf);

  // tee into a full pipe waits for room.
  size_t full = fill(b[1]);
  CHECK(write(a[1], "abc", 3) == 3);
  SHOW("tee SPLICE_F_NONBLOCK into a full pipe", tee(a[0], b[1], 100, SPLICE_F_NONBLOCK));
  block(&t, tee_a_b, SYS_tee);
  atomic_store(&released, 1);
  read_exactly(b[0], full);
  finish(&t, "tee waiting for room");
  CHECK(read(a[0], buf, sizeof buf) == 3 && read(b[0], buf, sizeof buf) == 3);

  // vmsplice into a full pipe waits for room; from an empty one, for data.
  full = fill(b[1]);
  struct iovec iov = {gift, 4};
  SHOW("vmsplice SPLICE_F_NONBLOCK into a full pipe", vmsplice(b[1], &iov, 1, SPLICE_F_NONBLOCK));
  block(&t, vmsplice_to_b, SYS_vmsplice);
  atomic_store(&released, 1);
  read_exactly(b[0], full);
  finish(&t, "vmsplice waiting for room");
  memset(buf, 0, sizeof buf);
  CHECK(read(b[0], buf, sizeof buf) == 4);
  printf("  the pipe had '%s'\n", buf);

  block(&t, vmsplice_from_a, SYS_vmsplice);
  atomic_store(&released, 1);
  CHECK(write(a[1], "hello", 5) == 5);
  finish(&t, "vmsplice from a pipe waiting for data");
  printf("  it read '%.5s'\n", user_buf);
  struct iovec out = {user_buf, sizeof user_buf};
  SHOW("vmsplice SPLICE_F_NONBLOCK from an empty pipe", vmsplice(a[0], &out, 1, SPLICE_F_NONBLOCK));
  SHOW("tee from a pipe with no writer left", (close(a[1]), tee(a[0], b[1], 100, 0)));
  SHOW("tee between a pipe and a file", tee(a[0], file, 100, 0));
  close(a[0]);
  close(b[0]);
  close(b[1]);
}

static void test_copy_file_range(void) {
  int out = mkstemp(copy_path);
  CHECK(out >= 0);
  loff_t from = 0;
  size_t copied = 0;
  while (copied < kSize) {
    ssize_t n = copy_file_range(file, &from, out, NULL, kSize - copied, 0);
    CHECK(n > 0);
    copied += (size_t)n;
  }
  CHECK(lseek(out, 0, SEEK_SET) == 0);
  printf("copy_file_range copied %zu bytes, %zu of them right\n", copied, drain(out, kSize, 0));
  SHOW("copy_file_range with flags", copy_file_range(file, NULL, out, NULL, 10, 1));
  SHOW("copy_file_range from a bad fd", copy_file_range(-1, NULL, out, NULL, 10, 0));
  close(out);
}

static void remove_files(void) {
  unlink(path);
  unlink(copy_path);
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  file = mkstemp(path);
  CHECK(file >= 0);
  atexit(remove_files);
  static char buf[65536];
  for (size_t done = 0; done < kSize; done += sizeof buf) {
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (char)byte(done + i);
    CHECK(write(file, buf, sizeof buf) == (ssize_t)sizeof buf);
  }
  test_sendfile();
  test_splice();
  test_tee_vmsplice();
  test_copy_file_range();
  return 0;
}
