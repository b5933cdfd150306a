// diff_overflow: a thread that recurses without end dies of SIGSEGV, natively and under the
// shim (where it overflows its fiber's stack into the guard page; expect_stderr.sh checks the
// shim's message naming the thread). Plain C with no weft header.
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static int depth(int n) {
  volatile char frame[1024];
  memset((char*)frame, n, sizeof frame);
  // The addition after the call keeps it from becoming a loop.
  return n < 0 ? frame[3] : depth(n + 1) + frame[5];
}

static void* dive(void* arg) {
  (void)arg;
  printf("%d\n", depth(0));
  return NULL;
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  printf("diving\n");
  pthread_t t;
  pthread_create(&t, NULL, dive, NULL);
  pthread_join(t, NULL);
  printf("not reached\n");
  return 0;
}
