// diff_tls_stdio: lines several threads write to one stdio stream stay whole while the threads
// block in between (issue 13). A FILE's lock is recursive and glibc names its owner by the
// thread's control block: threads that share one see each other as the owner and walk into
// each other's lines. 8 writers put 100 lines each into a pipe through one FILE, with blocking
// calls between and (MODE locked) inside their lines; a reader thread reads the pipe with read()
// and checks every line. Everything written fits in the pipe, so no write waits for the reader.
// No weft header.
//
// MODE calls: each line is one fprintf or fputs; the writer sleeps or yields between lines and
// sometimes flushes. MODE locked: each line is three calls under flockfile, with a sleep and a
// yield between them, as a program does to keep a line together. MODE mixed: the even writers
// write as in locked, the odd ones as in calls: their fprintf and fputs wait for the stream's
// lock inside glibc while an even writer holds it and sleeps.
#include <pthread.h>
#include <stdint.h>

#include "check.h"

enum { kWriters = 8, kLines = 100 };

static FILE* out;
static const char* mode;
static int pipe_fds[2];

static void block(int n) {
  if (n % 2 == 0) {
    struct timespec ts = {0, 20000};
    CHECK(nanosleep(&ts, NULL) == 0);
  } else {
    CHECK(sched_yield() == 0);
  }
}

// payload() is line l of writer w's middle part: one letter, a length of its own.
static void payload(int w, int l, char* buf, size_t size) {
  size_t n = (size_t)((w * 3 + l) % 40 + 1);
  if (n >= size) n = size - 1;
  memset(buf, 'a' + (w + l) % 26, n);
  buf[n] = 0;
}

static void* writer(void* arg) {
  int w = (int)(intptr_t)arg;
  int locked = strcmp(mode, "locked") == 0 || (strcmp(mode, "mixed") == 0 && w % 2 == 0);
  char mid[64], line[128];
  for (int l = 0; l < kLines; l++) {
    payload(w, l, mid, sizeof mid);
    if (locked) {
      flockfile(out);
      CHECK(fprintf(out, "w%d l%03d ", w, l) > 0);
      block(0);
      CHECK(fputs(mid, out) >= 0);
      block(1);
      CHECK(fputs(" end\n", out) >= 0);
      funlockfile(out);
    } else if (l % 2 == 0) {
      CHECK(fprintf(out, "w%d l%03d %s end\n", w, l, mid) > 0);
    } else {
      snprintf(line, sizeof line, "w%d l%03d %s end\n", w, l, mid);
      CHECK(fputs(line, out) >= 0);
    }
    if (l % 10 == 9) CHECK(fflush(out) == 0);
    block(l + w);
  }
  return NULL;
}

static int lines, whole, in_order = 1;

// check_line() checks one line (without its newline) and that it follows the writer's last.
static void check_line(const char* s, int* next) {
  ++lines;
  int w, l, n = 0;
  char mid[64], want[64];
  if (sscanf(s, "w%d l%d %63[a-z] end%n", &w, &l, mid, &n) != 3 || s[n] != 0) return;
  if (w < 0 || w >= kWriters || l < 0 || l >= kLines) return;
  payload(w, l, want, sizeof want);
  if (strcmp(mid, want) != 0) return;
  ++whole;
  if (next[w] != l) in_order = 0;
  next[w] = l + 1;
}

static void* reader(void* arg) {
  (void)arg;
  static char buf[kWriters * kLines * 80];
  size_t have = 0;
  ssize_t n;
  while ((n = read(pipe_fds[0], buf + have, sizeof buf - have - 1)) > 0) have += (size_t)n;
  CHECK(n == 0);
  buf[have] = 0;
  int next[kWriters] = {0};
  for (char *s = buf, *e; *s != 0; s = e + 1) {
    e = strchr(s, '\n');
    if (e == NULL) {
      check_line(s, next);  // a last line without its newline is counted, not whole
      break;
    }
    *e = 0;
    check_line(s, next);
  }
  return NULL;
}

int main(int argc, char** argv) {
  CHECK(argc == 2 && (strcmp(argv[1], "calls") == 0 || strcmp(argv[1], "locked") == 0 ||
                      strcmp(argv[1], "mixed") == 0));
  mode = argv[1];
  alarm(30);  // a hung run fails (SIGALRM) before meson's timeout
  CHECK(pipe(pipe_fds) == 0);
  out = fdopen(pipe_fds[1], "w");
  CHECK(out != NULL);
  pthread_t r, w[kWriters];
  CHECK(pthread_create(&r, NULL, reader, NULL) == 0);
  for (int i = 0; i < kWriters; i++)
    CHECK(pthread_create(&w[i], NULL, writer, (void*)(intptr_t)i) == 0);
  for (int i = 0; i < kWriters; i++) CHECK(pthread_join(w[i], NULL) == 0);
  CHECK(fclose(out) == 0);
  CHECK(pthread_join(r, NULL) == 0);
  printf("mode %s: %d writers, %d lines each\n", argv[1], kWriters, kLines);
  printf("lines read %d, whole %d, each writer's in order: %s\n", lines, whole,
         in_order ? "yes" : "no");
  return !(lines == kWriters * kLines && whole == lines && in_order);
}
