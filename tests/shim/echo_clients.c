// echo_clients: CONNS client threads each connect to an echo server, wait until every one of
// them is connected (so the server holds them all at once), then send MSGS 64-byte messages
// each and check every echo. Prints a summary; exits 0 only if every echo was right.
// Usage: echo_clients PORT CONNS MSGS
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int port, conns, msgs;
static pthread_barrier_t all_connected;
static long good_messages, failures;

static int read_exact(int fd, char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r <= 0) return -1;
    got += (size_t)r;
  }
  return 0;
}

static void* client(void* arg) {
  long id = (long)arg;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int ok = fd >= 0 && connect(fd, (struct sockaddr*)&a, sizeof a) == 0;
  pthread_barrier_wait(&all_connected);
  long good = 0;
  for (int m = 0; ok && m < msgs; ++m) {
    char out[64], in[64];
    snprintf(out, sizeof out, "client %ld message %d", id, m);
    memset(out + strlen(out), '.', sizeof out - strlen(out));
    if (write(fd, out, sizeof out) != (ssize_t)sizeof out || read_exact(fd, in, sizeof in) != 0 ||
        memcmp(in, out, sizeof out) != 0) {
      ok = 0;
      break;
    }
    ++good;
  }
  if (fd >= 0) close(fd);
  __atomic_fetch_add(&good_messages, good, __ATOMIC_RELAXED);
  if (!ok) __atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s PORT CONNS MSGS\n", argv[0]);
    return 2;
  }
  port = atoi(argv[1]);
  conns = atoi(argv[2]);
  msgs = atoi(argv[3]);
  pthread_barrier_init(&all_connected, NULL, (unsigned)conns);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  pthread_t* t = calloc((size_t)conns, sizeof *t);
  for (long i = 0; i < conns; ++i) {
    if (pthread_create(&t[i], &attr, client, (void*)i) != 0) {
      fprintf(stderr, "echo_clients: cannot start client thread %ld\n", i);
      return 1;
    }
  }
  for (int i = 0; i < conns; ++i) pthread_join(t[i], NULL);
  printf("echo_clients: %d connections, %ld of %ld messages echoed, %ld clients failed\n", conns,
         good_messages, (long)conns * msgs, failures);
  return failures == 0 && good_messages == (long)conns * msgs ? 0 : 1;
}
