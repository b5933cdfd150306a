// dump_stacks.c: under weftrun, a thread parks in park_here_for_dump_test() (a read of a pipe no
// one writes yet) and the program asks for a fiber dump with SIGUSR2 (WEFT_DUMP_SIGNAL), again
// each second, until the file its stderr goes to (argv[1]) holds a dump that names the function;
// then it releases the thread. dump_stacks.sh checks the dump. weftrun only: natively SIGUSR2
// would end the program.
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int fds[2];

// park_here_for_dump_test() blocks its thread until the pipe has a byte. Not static, not
// exported: only the symbol table names it.
__attribute__((noinline)) void park_here_for_dump_test(void) {
  char c;
  if (read(fds[0], &c, 1) != 1) abort();
  __asm__ volatile("");
}

static void* parker(void* arg) {
  (void)arg;
  park_here_for_dump_test();
  return NULL;
}

// shows() tells whether the file at path contains needle.
static int shows(const char* path, const char* needle) {
  static char buf[1 << 20];
  FILE* f = fopen(path, "r");
  if (f == NULL) return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  return strstr(buf, needle) != NULL;
}

int main(int argc, char** argv) {
  if (argc != 3 || pipe(fds) != 0) return 2;
  pthread_t t;
  if (pthread_create(&t, NULL, parker, NULL) != 0) return 2;
  // 30 s at most, a dump asked for each second: the parker may not have parked at the first.
  for (int ms = 0; ms < 30000 && !shows(argv[1], argv[2]); ms += 10) {
    if (ms % 1000 == 0) kill(getpid(), SIGUSR2);
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  if (write(fds[1], "x", 1) != 1) return 2;
  pthread_join(t, NULL);
  return 0;
}
