// diff_stall_wait: waits the program chose, in calls that hold the carrier, are never ended by
// weft's stall watchdog. Run under WEFT_STALL_MS=10 (meson.build sets it; the native run ignores
// it), each wait below outlasts the stall threshold thirty times over.
//   - ppoll, pselect and epoll_pwait with a signal mask (which yield) on an idle pipe for 300 ms
//     each return 0 (their timeout) and leave errno as it was.
//   - fread on a pipe blocks the carrier in glibc's internal read(2), which no hook reaches: a
//     forked child writes after 300 ms, and the read gets the bytes.
// Between the waits, usleep yields, so each wait is a stall of its own.
//
// With `report FILE` (weftrun only, stall_report.sh), FILE being this run's stderr, waits that
// hold the carrier (ppoll and pselect6 made with syscall(2), which go to the kernel, and the
// fread) are each repeated until FILE names its system call in a stall report (at most 100
// times), and the number of waits made is printed: the script checks that the report named the
// call, took no backtrace and came once per stall. A signal sent to the carrier to sample it
// would end the first two with EINTR (a handler's SA_RESTART does not restart them: signal(7)).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

enum { kWaitMs = 300, kSentinel = 12345 };

static int pipe_rd, pipe_wr;

// mask() is the signal mask the waits pass: SIGUSR1 blocked, a mask like a real event loop's.
static sigset_t mask(void) {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGUSR1);
  return s;
}

// Each wait_*() waits kWaitMs on the idle pipe with a mask and prints what it returned; errno
// is set to a sentinel first and must be left alone.
static void wait_ppoll(void) {
  struct pollfd p = {pipe_rd, POLLIN, 0};
  struct timespec t = {0, kWaitMs * 1000000L};
  sigset_t s = mask();
  errno = kSentinel;
  int r = ppoll(&p, 1, &t, &s);
  printf("ppoll -> %d, errno %s\n", r, errno == kSentinel ? "untouched" : strerror(errno));
}

static void wait_pselect(void) {
  fd_set rd;
  FD_ZERO(&rd);
  FD_SET(pipe_rd, &rd);
  struct timespec t = {0, kWaitMs * 1000000L};
  sigset_t s = mask();
  errno = kSentinel;
  int r = pselect(pipe_rd + 1, &rd, NULL, NULL, &t, &s);
  printf("pselect -> %d, errno %s\n", r, errno == kSentinel ? "untouched" : strerror(errno));
}

static void wait_epoll_pwait(void) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  CHECK(ep >= 0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = pipe_rd};
  CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, pipe_rd, &ev) == 0);
  sigset_t s = mask();
  errno = kSentinel;
  int r = epoll_pwait(ep, &ev, 1, kWaitMs, &s);
  printf("epoll_pwait -> %d, errno %s\n", r, errno == kSentinel ? "untouched" : strerror(errno));
  close(ep);
}

// wait_ppoll_raw() and wait_pselect_raw() are the system calls themselves, which the shim passes
// to the kernel: they hold the carrier.
static void wait_ppoll_raw(void) {
  struct pollfd p = {pipe_rd, POLLIN, 0};
  struct timespec t = {0, kWaitMs * 1000000L};
  sigset_t s = mask();
  errno = kSentinel;
  long r = syscall(SYS_ppoll, &p, 1, &t, &s, 8);
  printf("raw ppoll -> %ld, errno %s\n", r, errno == kSentinel ? "untouched" : strerror(errno));
}

static void wait_pselect_raw(void) {
  fd_set rd;
  FD_ZERO(&rd);
  FD_SET(pipe_rd, &rd);
  struct timespec t = {0, kWaitMs * 1000000L};
  sigset_t s = mask();
  struct {
    const sigset_t* set;
    size_t size;
  } data = {&s, 8};
  errno = kSentinel;
  long r = syscall(SYS_pselect6, pipe_rd + 1, &rd, NULL, NULL, &t, &data);
  printf("raw pselect6 -> %ld, errno %s\n", r, errno == kSentinel ? "untouched" : strerror(errno));
}

// wait_read() reads with fread (glibc's internal read, passed through) what a forked child
// writes after kWaitMs.
static void wait_read(void) {
  int fds[2];
  CHECK(pipe(fds) == 0);
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    close(fds[0]);
    usleep(kWaitMs * 1000);
    CHECK(write(fds[1], "hello", 5) == 5);
    _exit(0);
  }
  close(fds[1]);
  FILE* f = fdopen(fds[0], "r");
  CHECK(f != NULL);
  char buf[8] = "";
  errno = kSentinel;
  size_t n = fread(buf, 1, 5, f);
  int e = errno;
  printf("fread -> %zu \"%s\", errno %s, error flag %d\n", n, buf,
         e == kSentinel ? "untouched" : strerror(e), ferror(f));
  fclose(f);
  int status = 0;
  CHECK(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

// file_has() tells whether the file at path contains needle.
static int file_has(const char* path, const char* needle) {
  static char buf[1 << 16];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  return strstr(buf, needle) != NULL;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  int fds[2];
  CHECK(pipe(fds) == 0);
  pipe_rd = fds[0];
  pipe_wr = fds[1];
  struct {
    const char* call;  // the system call's name in the watchdog's report
    void (*wait)(void);
  } waits[] = {{"ppoll", wait_ppoll},
               {"pselect6", wait_pselect},
               {"epoll_pwait", wait_epoll_pwait},
               {"read", wait_read}},
    held[] = {{"ppoll", wait_ppoll_raw}, {"pselect6", wait_pselect_raw}, {"read", wait_read}};
  const char* report = argc > 2 && strcmp(argv[1], "report") == 0 ? argv[2] : NULL;
  size_t count = report != NULL ? sizeof held / sizeof held[0] : sizeof waits / sizeof waits[0];
  for (size_t i = 0; i < count; i++) {
    char needle[64];
    const char* call = report != NULL ? held[i].call : waits[i].call;
    snprintf(needle, sizeof needle, "in system call %s (", call);
    int made = 0;
    do {
      (report != NULL ? held[i].wait : waits[i].wait)();
      made++;
      usleep(1000);  // yields: the stall ends
    } while (report != NULL && made < 100 && !file_has(report, needle));
    if (report != NULL) printf("waits %s %d\n", call, made);
  }
  return 0;
}
