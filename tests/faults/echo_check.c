// echo_check: drives an echo server with CONNS connections that together send TOTAL_MB
// megabytes, each in random-sized pieces of a pattern the connection's number seeds, while a
// second thread per connection checks every byte that comes back. A connection ends with a
// half-close; the server must echo everything and then close. A connection the server reset (an
// injected fault) may end early, but what it did echo must still be right.
//
// Prints one summary line; exits 0 only if no byte was wrong, every connection that was not
// reset got back exactly what it sent, and at least half the connections were not reset (so a
// server that resets everything cannot pass). Plain C, no weft header: it runs natively.
//
// Usage: echo_check PORT CONNS TOTAL_MB
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int port;
static size_t per_conn;

struct conn {
  int id;
  int fd;
  size_t sent;
  size_t received;
  size_t wrong;
  int write_failed;
};

static uint8_t pattern(int id, size_t off) {
  return (uint8_t)((off * 131) ^ (off >> 9) ^ (size_t)(id * 7));
}

static void* writer(void* arg) {
  struct conn* c = arg;
  uint8_t buf[65536];
  unsigned seed = (unsigned)c->id * 2654435761u + 1;
  while (c->sent < per_conn) {
    size_t n = 1 + (size_t)rand_r(&seed) % sizeof buf;
    if (n > per_conn - c->sent) n = per_conn - c->sent;
    for (size_t i = 0; i < n; ++i) buf[i] = pattern(c->id, c->sent + i);
    size_t put = 0;
    while (put < n) {
      ssize_t w = send(c->fd, buf + put, n - put, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        c->write_failed = 1;
        return NULL;
      }
      put += (size_t)w;
    }
    c->sent += n;
  }
  shutdown(c->fd, SHUT_WR);
  return NULL;
}

static void* reader(void* arg) {
  struct conn* c = arg;
  uint8_t buf[65536];
  for (;;) {
    ssize_t r = recv(c->fd, buf, sizeof buf, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    for (ssize_t i = 0; i < r; ++i) c->wrong += buf[i] != pattern(c->id, c->received + (size_t)i);
    c->received += (size_t)r;
  }
  return NULL;
}

static void* run_conn(void* arg) {
  struct conn* c = arg;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c->fd < 0 || connect(c->fd, (struct sockaddr*)&a, sizeof a) != 0) {
    perror("echo_check: connect");
    exit(2);
  }
  pthread_t w;
  if (pthread_create(&w, NULL, writer, c) != 0) exit(2);
  reader(c);
  pthread_join(w, NULL);
  close(c->fd);
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: echo_check PORT CONNS TOTAL_MB\n");
    return 2;
  }
  port = atoi(argv[1]);
  int conns = atoi(argv[2]);
  long total_mb = atol(argv[3]);
  if (port <= 0 || conns <= 0 || total_mb <= 0) {
    fprintf(stderr, "echo_check: PORT, CONNS and TOTAL_MB must be positive\n");
    return 2;
  }
  per_conn = (size_t)total_mb * 1024 * 1024 / (size_t)conns;
  struct conn* c = calloc((size_t)conns, sizeof *c);
  pthread_t* t = calloc((size_t)conns, sizeof *t);
  if (c == NULL || t == NULL) return 2;
  for (int i = 0; i < conns; ++i) {
    c[i].id = i;
    if (pthread_create(&t[i], NULL, run_conn, &c[i]) != 0) return 2;
  }
  size_t verified = 0, wrong = 0;
  int complete = 0, reset = 0;
  for (int i = 0; i < conns; ++i) {
    pthread_join(t[i], NULL);
    wrong += c[i].wrong;
    verified += c[i].received - c[i].wrong;
    if (c[i].received == per_conn && !c[i].write_failed) {
      ++complete;
    } else {
      ++reset;
    }
  }
  printf(
      "echo_check: %d connections, %d complete, %d reset, %.1f MB echoed and checked, %zu wrong\n",
      conns, complete, reset, (double)verified / (1024 * 1024), wrong);
  free(c);
  free(t);
  return wrong == 0 && complete * 2 >= conns ? 0 : 1;
}
