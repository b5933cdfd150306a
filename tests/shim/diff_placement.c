// diff_placement: a thread that never yields does not land on its creator's carrier when another
// carrier could take it (run on two carriers).
//
// main creates a thread that blocks (in read on a pipe nobody writes yet), then a thread that
// spins on an atomic flag without a call that could yield, then sleeps a little and sets the
// flag. Natively this ends at once. Under weftrun --carriers 2 each carrier then holds one
// fiber; were the spinner put on main's carrier (as a tie once was), main's sleep would never
// return there. The spinner gives up after 30 s and says so, so the test fails instead of hanging.
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "check.h"

static int g_pipe[2];
static atomic_int g_flag;

static void* blocker(void* arg) {
  (void)arg;
  char c;
  CHECK(read(g_pipe[0], &c, 1) == 1);
  printf("blocker read '%c'\n", c);
  return NULL;
}

static void* spinner(void* arg) {
  (void)arg;
  struct timespec give_up = in_ms(CLOCK_MONOTONIC, 30000);
  for (;;) {
    if (atomic_load(&g_flag) != 0) break;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);  // the vDSO: never a hook, never a yield
    if (now.tv_sec > give_up.tv_sec ||
        (now.tv_sec == give_up.tv_sec && now.tv_nsec > give_up.tv_nsec)) {
      printf("spinner gave up: main never set the flag\n");
      return NULL;
    }
  }
  printf("spinner saw the flag\n");
  return NULL;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  for (int round = 0; round < 3; ++round) {
    CHECK(pipe(g_pipe) == 0);
    atomic_store(&g_flag, 0);
    pthread_t b, s;
    CHECK(pthread_create(&b, NULL, blocker, NULL) == 0);
    CHECK(pthread_create(&s, NULL, spinner, NULL) == 0);
    usleep(20000);
    atomic_store(&g_flag, 1);
    CHECK(pthread_join(s, NULL) == 0);
    CHECK(write(g_pipe[1], "x", 1) == 1);
    CHECK(pthread_join(b, NULL) == 0);
    close(g_pipe[0]);
    close(g_pipe[1]);
  }
  printf("done\n");
  return 0;
}
