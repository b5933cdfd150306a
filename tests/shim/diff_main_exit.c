// diff_main_exit: main leaves with pthread_exit; the process lives until its last thread has
// finished and then exits with status 0, running atexit handlers. No weft header.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void at_exit(void) {
  printf("atexit handler\n");
}

static void* worker(void* arg) {
  usleep(20000 * (useconds_t)(long)arg);
  printf("worker %ld done\n", (long)arg);
  return NULL;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  atexit(at_exit);
  for (long i = 1; i <= 3; ++i) {
    pthread_t t;
    if (pthread_create(&t, NULL, worker, (void*)i) != 0) return 1;
    pthread_detach(t);
  }
  printf("main leaves\n");
  pthread_exit(NULL);
}
