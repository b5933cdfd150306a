// hostile: peers that misbehave towards an echo server, one mode per behaviour. Plain C, no
// weft header; it runs natively against the server under test. Each mode prints one line and
// exits 0 only if the server behaved.
//
//   hostile garbage PORT            1 MiB of random bytes (zeros, newlines, anything), sent in
//                                   random-sized pieces and then half-closed, comes back exactly
//   hostile reset PORT N            N connections each send half a message and reset (RST);
//                                   then a fresh connection is still echoed
//   hostile idle PORT IDLE ACTIVE ROUNDS
//                                   IDLE connections stay open and silent while ACTIVE threads
//                                   each make ROUNDS 64-byte round trips; prints messages/s
//   hostile noread PORT MB          one connection sends without ever reading; the server must
//                                   stop taking data (backpressure) well before MB MiB, while a
//                                   second connection is still echoed
//   hostile fds PORT N              opens N connections (more than the server has fds for) and
//                                   sends a byte on each; once no more echoes come, some must
//                                   be missing; it closes the answered ones, and the rest must
//                                   then be answered
//   hostile signals PID COUNT       sends COUNT SIGUSR1 to PID as fast as it can
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int port;

static void die(const char* what) {
  printf("hostile: FAIL: %s (%s)\n", what, strerror(errno));
  exit(1);
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int dial(void) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr*)&a, sizeof a) != 0) die("connect");
  return fd;
}

static void send_all(int fd, const void* p, size_t n) {
  const char* c = p;
  while (n > 0) {
    ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) die("send");
    c += w;
    n -= (size_t)w;
  }
}

// recv_all() reads exactly n bytes, failing after `timeout_s` seconds without progress.
static void recv_all(int fd, void* p, size_t n, int timeout_s) {
  char* c = p;
  while (n > 0) {
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    int r = poll(&pf, 1, timeout_s * 1000);
    if (r == 0) {
      errno = ETIMEDOUT;
      die("no echo");
    }
    ssize_t got = recv(fd, c, n, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) die("recv");
    c += got;
    n -= (size_t)got;
  }
}

// echo_once() checks that a fresh connection gets a message back.
static void echo_once(void) {
  int fd = dial();
  char out[64] = "still serving", in[64];
  send_all(fd, out, sizeof out);
  recv_all(fd, in, sizeof in, 30);
  if (memcmp(out, in, sizeof out) != 0) die("wrong echo");
  close(fd);
}

struct garbage_out {
  int fd;
  const unsigned char* data;
  size_t size;
};

static void* send_garbage(void* arg) {
  struct garbage_out* g = arg;
  unsigned seed = 777;
  for (size_t sent = 0; sent < g->size;) {
    size_t n = 1 + (size_t)rand_r(&seed) % 8192;
    if (n > g->size - sent) n = g->size - sent;
    send_all(g->fd, g->data + sent, n);
    sent += n;
  }
  shutdown(g->fd, SHUT_WR);
  return NULL;
}

static int garbage(void) {
  enum { kSize = 1 << 20 };
  unsigned char* out = malloc(kSize);
  unsigned char* in = malloc(kSize);
  unsigned seed = 12345;
  for (int i = 0; i < kSize; ++i) out[i] = (unsigned char)rand_r(&seed);
  struct garbage_out g = {dial(), out, kSize};
  pthread_t t;
  if (pthread_create(&t, NULL, send_garbage, &g) != 0) die("pthread_create");
  recv_all(g.fd, in, kSize, 30);
  pthread_join(t, NULL);
  char extra;
  if (recv(g.fd, &extra, 1, 0) != 0) die("no end of stream after the echo");
  close(g.fd);
  int ok = memcmp(out, in, kSize) == 0;
  printf("hostile garbage: %d bytes of random data echoed %s\n", kSize, ok ? "exactly" : "WRONG");
  free(out);
  free(in);
  return ok ? 0 : 1;
}

static int reset(int n) {
  char half[512];
  memset(half, 'r', sizeof half);
  for (int i = 0; i < n; ++i) {
    int fd = dial();
    send_all(fd, half, sizeof half);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};  // close sends RST, not FIN
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
  }
  echo_once();
  printf("hostile reset: %d connections reset mid-message; a new connection is still echoed\n", n);
  return 0;
}

struct active {
  int rounds;
  long done;
};

static void* active_client(void* arg) {
  struct active* a = arg;
  int fd = dial();
  char out[64], in[64];
  for (int i = 0; i < a->rounds; ++i) {
    memset(out, 'a' + i % 26, sizeof out);
    send_all(fd, out, sizeof out);
    recv_all(fd, in, sizeof in, 60);
    if (memcmp(out, in, sizeof out) != 0) die("wrong echo");
    a->done++;
  }
  close(fd);
  return NULL;
}

static int idle(int n_idle, int n_active, int rounds) {
  int* fds = malloc(sizeof(int) * (size_t)n_idle);
  for (int i = 0; i < n_idle; ++i) fds[i] = dial();
  pthread_t* t = malloc(sizeof(pthread_t) * (size_t)n_active);
  struct active* a = calloc((size_t)n_active, sizeof *a);
  double t0 = now_s();
  for (int i = 0; i < n_active; ++i) {
    a[i].rounds = rounds;
    if (pthread_create(&t[i], NULL, active_client, &a[i]) != 0) die("pthread_create");
  }
  long done = 0;
  for (int i = 0; i < n_active; ++i) {
    pthread_join(t[i], NULL);
    done += a[i].done;
  }
  double secs = now_s() - t0;
  // The idle ones are still connected and still served.
  if (n_idle > 0) {
    char b = 'i', e;
    send_all(fds[n_idle / 2], &b, 1);
    recv_all(fds[n_idle / 2], &e, 1, 30);
  }
  for (int i = 0; i < n_idle; ++i) close(fds[i]);
  free(fds);
  free(t);
  free(a);
  printf(
      "hostile idle: %d idle connections held; %d active made %ld round trips: RESULT "
      "msgs_per_s=%.0f\n",
      n_idle, n_active, done, (double)done / secs);
  return done == (long)n_active * rounds ? 0 : 1;
}

static int noread(int limit_mb) {
  int fd = dial();
  int flags = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  char buf[65536];
  memset(buf, 'n', sizeof buf);
  size_t accepted = 0;
  const size_t limit = (size_t)limit_mb << 20;
  double quiet_since = now_s();
  // Push until the connection has taken nothing for a second (both sides' buffers are full and
  // the server stopped reading), or the limit is passed (no backpressure: fail).
  while (accepted < limit && now_s() - quiet_since < 1.0) {
    ssize_t w = send(fd, buf, sizeof buf, MSG_NOSIGNAL);
    if (w > 0) {
      accepted += (size_t)w;
      quiet_since = now_s();
    } else if (errno == EAGAIN) {
      struct pollfd pf = {.fd = fd, .events = POLLOUT};
      poll(&pf, 1, 100);
    } else if (errno != EINTR) {
      die("send");
    }
  }
  echo_once();  // the server still serves others meanwhile
  close(fd);
  int ok = accepted < limit;
  printf(
      "hostile noread: the server took %.1f MiB from a peer that never reads, then stopped "
      "(limit %d MiB)%s\n",
      (double)accepted / (1 << 20), limit_mb, ok ? "" : ": NO BACKPRESSURE");
  return ok ? 0 : 1;
}

// answers() collects the echoes that have come back, until none came for `quiet` seconds after
// the first new one (or `limit` seconds passed); returns how many connections have their echo.
// The quiet period only starts with an answer: a server descheduled (or slowed down by a
// sanitizer) for longer than `quiet` before its first answer is slow, not "not serving".
static int answers(int n, const int* fds, char* answered, int got, double quiet, double limit) {
  const int before = got;
  double start = now_s(), last = start;
  while (got < n && (got == before || now_s() - last < quiet) && now_s() - start < limit) {
    for (int i = 0; i < n; ++i) {
      if (answered[i]) continue;
      char c;
      if (recv(fds[i], &c, 1, MSG_DONTWAIT) == 1) {
        answered[i] = 1;
        ++got;
        last = now_s();
      }
    }
    usleep(10000);
  }
  return got;
}

static int fds_mode(int n) {
  int* fds = malloc(sizeof(int) * (size_t)n);
  char* answered = calloc((size_t)n, 1);
  for (int i = 0; i < n; ++i) {
    fds[i] = dial();
    send_all(fds[i], "x", 1);
  }
  // The server answers what its fds allow; the others wait in the listen backlog. Wait until
  // no more answers come (2 s of quiet), so the server has really run out.
  int first = answers(n, fds, answered, 0, 2.0, 60.0);
  if (first == 0 || first == n) {
    printf("hostile fds: %d of %d connections answered before any closed: the server was %s\n",
           first, n, first == 0 ? "not serving" : "never out of fds");
    exit(1);
  }
  // Free the server's fds: close the answered connections; the rest must now be served.
  for (int i = 0; i < n; ++i) {
    if (answered[i]) {
      close(fds[i]);
      answered[i] = 2;  // closed
    }
  }
  int got = answers(n, fds, answered, first, 60.0, 60.0);
  for (int i = 0; i < n; ++i) {
    if (answered[i] != 2) close(fds[i]);
  }
  printf(
      "hostile fds: %d connections; %d answered while the server was out of fds, %d after "
      "some closed\n",
      n, first, got - first);
  free(fds);
  free(answered);
  return got == n ? 0 : 1;
}

static int signals(pid_t pid, int count) {
  for (int i = 0; i < count; ++i) {
    if (kill(pid, SIGUSR1) != 0) die("kill");
  }
  printf("hostile signals: sent %d SIGUSR1 to %d\n", count, (int)pid);
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: hostile MODE PORT|PID ARGS... (see the source)\n");
    return 2;
  }
  const char* mode = argv[1];
  port = atoi(argv[2]);
  if (strcmp(mode, "garbage") == 0) return garbage();
  if (strcmp(mode, "reset") == 0 && argc == 4) return reset(atoi(argv[3]));
  if (strcmp(mode, "idle") == 0 && argc == 6) {
    return idle(atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
  }
  if (strcmp(mode, "noread") == 0 && argc == 4) return noread(atoi(argv[3]));
  if (strcmp(mode, "fds") == 0 && argc == 4) return fds_mode(atoi(argv[3]));
  if (strcmp(mode, "signals") == 0 && argc == 4) return signals(atoi(argv[2]), atoi(argv[3]));
  fprintf(stderr, "hostile: bad mode or arguments\n");
  return 2;
}
