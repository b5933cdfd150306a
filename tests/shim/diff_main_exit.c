// diff_main_exit: main leaves with pthread_exit; the process lives until its last thread has
// finished and then exits with status 0, running atexit handlers. No weft header.
//
// The output order must not depend on scheduling (natively, a worker descheduled for longer than
// the gap between two sleeps would otherwise print after the next one): a token passed through
// pipes orders the lines. Main hands it to worker 1 after printing, so every worker runs, blocks
// and prints after main has left; worker i passes it on to worker i + 1 once it has printed.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int token[4][2];  // token[i]: worker i waits on it (1..3)

static void at_exit(void) {
  printf("atexit handler\n");
}

static void* worker(void* arg) {
  long i = (long)arg;
  char c;
  if (read(token[i][0], &c, 1) != 1) abort();
  usleep(20000);  // main has surely gone by now; the process must still be here
  printf("worker %ld done\n", i);
  if (i < 3 && write(token[i + 1][1], "t", 1) != 1) abort();
  return NULL;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  atexit(at_exit);
  for (int i = 1; i <= 3; ++i) {
    if (pipe(token[i]) != 0) return 1;
  }
  for (long i = 1; i <= 3; ++i) {
    pthread_t t;
    if (pthread_create(&t, NULL, worker, (void*)i) != 0) return 1;
    pthread_detach(t);
  }
  printf("main leaves\n");
  if (write(token[1][1], "t", 1) != 1) return 1;
  pthread_exit(NULL);
}
