// diff_exit_blocked: exit() from main while other threads block -- in read, accept, a mutex, a
// condition variable, a sleep and a join -- ends the process at once with the status given and
// runs the atexit handlers, natively and under the shim (no hang, no crash). Plain C with no
// weft header.
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static int p[2], lfd, ready[2];
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t cm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static pthread_t sleeper;

static void say_ready(void) {
  if (write(ready[1], "r", 1) != 1) abort();
}

static void* in_read(void* a) {
  (void)a;
  char b;
  say_ready();
  return (void*)(long)read(p[0], &b, 1);
}

static void* in_accept(void* a) {
  (void)a;
  say_ready();
  return (void*)(long)accept(lfd, NULL, NULL);
}

static void* in_lock(void* a) {
  (void)a;
  say_ready();
  pthread_mutex_lock(&m);  // main holds it
  return NULL;
}

static void* in_wait(void* a) {
  (void)a;
  pthread_mutex_lock(&cm);
  say_ready();
  pthread_cond_wait(&c, &cm);
  return NULL;
}

static void* in_sleep(void* a) {
  (void)a;
  say_ready();
  sleep(100);
  return NULL;
}

static void* in_join(void* a) {
  (void)a;
  say_ready();
  pthread_join(sleeper, NULL);
  return NULL;
}

static void bye(void) {
  printf("atexit handler ran\n");
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  if (pipe(p) != 0 || pipe(ready) != 0) return 2;
  lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (lfd < 0 || bind(lfd, (struct sockaddr*)&a, sizeof a) != 0 || listen(lfd, 1) != 0) return 2;
  atexit(bye);
  pthread_mutex_lock(&m);
  pthread_create(&sleeper, NULL, in_sleep, NULL);
  void* (*fns[])(void*) = {in_read, in_accept, in_lock, in_wait, in_join};
  pthread_t t;
  for (int i = 0; i < 5; ++i) pthread_create(&t, NULL, fns[i], NULL);
  char b;
  for (int i = 0; i < 6; ++i) {
    if (read(ready[0], &b, 1) != 1) return 2;
  }
  usleep(20000);  // into their calls (if not, exit ends them just the same)
  printf("six threads blocked; exit(7)\n");
  exit(7);
}
