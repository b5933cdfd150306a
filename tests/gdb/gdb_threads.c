/* gdb_threads: a plain pthread program (no weft header) whose threads wait in known places, for
 * weft-gdb.py's test under weftrun (gdb_test.sh). Each thread waits inside a function of a name
 * no other code has (wait_in_gdb_test_*), kept out of line. The threads count themselves before
 * they wait; main says "ready" when all have, then joins the first, forever. Under weftrun every
 * thread is a fiber; the test looks (and looks again) until gdb shows each one blocked.
 *
 *   cond     pthread_cond_wait              wait_in_gdb_test_cond
 *   sleeper  nanosleep                      wait_in_gdb_test_sleep
 *   locker   pthread_mutex_lock (main's)    wait_in_gdb_test_mutex
 *   reader   read on a pipe                 wait_in_gdb_test_read
 *   main     pthread_join                   wait_in_gdb_test_join */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_held = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
static int g_waiting;
static int g_fds[2];

static void count_in(void) {
  pthread_mutex_lock(&g_lock);
  ++g_waiting;
  pthread_mutex_unlock(&g_lock);
}

__attribute__((noinline)) static void wait_in_gdb_test_cond(void) {
  pthread_mutex_lock(&g_lock);
  ++g_waiting;
  for (;;) pthread_cond_wait(&g_cond, &g_lock);
}

__attribute__((noinline)) static void wait_in_gdb_test_sleep(void) {
  count_in();
  struct timespec t = {3600, 0};
  for (;;) nanosleep(&t, NULL);
}

__attribute__((noinline)) static void wait_in_gdb_test_mutex(void) {
  count_in();
  pthread_mutex_lock(&g_held);
  pthread_mutex_unlock(&g_held);
  __asm__ volatile("");
}

__attribute__((noinline)) static void wait_in_gdb_test_read(void) {
  count_in();
  char c;
  (void)!read(g_fds[0], &c, 1);
  __asm__ volatile("");
}

__attribute__((noinline)) static void wait_in_gdb_test_join(pthread_t t) {
  pthread_join(t, NULL);
  __asm__ volatile("");
}

static void* cond_main(void* arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "cond");
  wait_in_gdb_test_cond();
  return NULL;
}
static void* sleep_main(void* arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "sleeper");
  wait_in_gdb_test_sleep();
  return NULL;
}
static void* mutex_main(void* arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "locker");
  wait_in_gdb_test_mutex();
  return NULL;
}
static void* read_main(void* arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "reader");
  wait_in_gdb_test_read();
  return NULL;
}

int main(void) {
  if (pipe(g_fds) != 0) return 1;
  pthread_mutex_lock(&g_held);
  void* (*mains[])(void*) = {cond_main, sleep_main, mutex_main, read_main};
  pthread_t t[4];
  for (int i = 0; i < 4; ++i) {
    if (pthread_create(&t[i], NULL, mains[i], NULL) != 0) return 1;
  }
  for (;;) {
    pthread_mutex_lock(&g_lock);
    int n = g_waiting;
    pthread_mutex_unlock(&g_lock);
    if (n == 4) break;
    usleep(1000);
  }
  printf("ready\n");
  fflush(stdout);
  wait_in_gdb_test_join(t[0]);
  return 0;
}
