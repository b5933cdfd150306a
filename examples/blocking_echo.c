// blocking_echo: a thread-per-connection echo server in plain C, written as if weft did not
// exist: blocking accept, read and write, one pthread per connection, no weft header.
//
// Natively every connection costs an OS thread. Under weftrun every thread is a fiber, and the
// same binary serves thousands of connections on one carrier:
//
//   blocking_echo -p 7000                      # native threads
//   weftrun --carriers 1 blocking_echo -p 7000  # the same program, threads as fibers
//
// Options (--help lists them): -p/--port PORT listens on 127.0.0.1:PORT (default 7000; 0 picks a
// free port); -n/--connections N exits with status 0 once N connections have been served. It prints
// "blocking_echo: listening on 127.0.0.1:PORT" when it is ready. SIGTERM or SIGINT stops it with
// status 0, the way such servers usually do it: the handler (installed without SA_RESTART) sets a
// flag, the blocking accept fails with EINTR, and the loop sees the flag. SIGUSR1 only counts (a
// stand-in for the usual "reopen the log" handler, installed with SA_RESTART so no call fails for
// it); the count is printed at exit. Out of fds, it says so once and retries each second until
// connections close.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static long max_connections;  // 0: serve forever
static atomic_long served;
static volatile sig_atomic_t stopping;
static atomic_long usr1_count;

static void on_usr1(int sig) {
  (void)sig;
  atomic_fetch_add(&usr1_count, 1);
}

static void on_stop(int sig) {
  (void)sig;
  stopping = 1;
}

// write_all() writes n bytes, going on after a short write or EINTR; 0 on success.
static int write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static void* serve(void* arg) {
  int fd = (int)(long)arg;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || write_all(fd, buf, (size_t)n) != 0) break;  // end, reset or error
  }
  close(fd);
  if (max_connections > 0 && atomic_fetch_add(&served, 1) + 1 == max_connections) exit(0);
  return NULL;
}

static const char kUsage[] =
    "usage: blocking_echo [-p|--port PORT] [-n|--connections N]\n"
    "\n"
    "A thread-per-connection echo server on 127.0.0.1 in plain C (run it under weftrun to\n"
    "make its threads fibers). SIGINT or SIGTERM stops it with status 0.\n"
    "\n"
    "options:\n"
    "  -p, --port PORT        port, 0..65535; 0 lets the kernel pick one (default 7000)\n"
    "  -n, --connections N    exit with status 0 after serving N connections (default: serve\n"
    "                         forever)\n"
    "  -h, --help             show this help and exit\n";

// usage_error() names what was wrong on stderr and exits 2.
static void usage_error(const char* what, const char* value, const char* expected) {
  if (value != NULL) {
    fprintf(stderr, "blocking_echo: %s \"%s\": expected %s\n", what, value, expected);
  } else {
    fprintf(stderr, "blocking_echo: %s\n", what);
  }
  fprintf(stderr, "Try 'blocking_echo --help' for more information.\n");
  exit(2);
}

// whole() parses a whole decimal number in lo..hi, or exits naming the option and the value.
static long whole(const char* option, const char* value, long lo, long hi) {
  char* end = NULL;
  errno = 0;
  long n = strtol(value, &end, 10);
  if (*value < '0' || *value > '9' || *end != '\0' || errno != 0 || n < lo || n > hi) {
    char expected[64];
    snprintf(expected, sizeof expected, "a whole number in %ld..%ld", lo, hi);
    usage_error(option, value, expected);
  }
  return n;
}

int main(int argc, char** argv) {
  static const struct option kOptions[] = {
      {"port", required_argument, NULL, 'p'},
      {"connections", required_argument, NULL, 'n'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  int port = 7000;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, ":p:n:h", kOptions, NULL)) != -1;) {
    char what[256];
    switch (c) {
      case 'p':
        port = (int)whole("-p/--port", optarg, 0, 65535);
        break;
      case 'n':
        max_connections = whole("-n/--connections", optarg, 1, LONG_MAX);
        break;
      case 'h':
        fputs(kUsage, stdout);
        return 0;
      case ':':
        snprintf(what, sizeof what, "option '%s' needs a value", argv[optind - 1]);
        usage_error(what, NULL, NULL);
        break;
      default:
        snprintf(what, sizeof what, "unknown option '%s'", argv[optind - 1]);
        usage_error(what, NULL, NULL);
    }
  }
  if (optind < argc) {
    char what[256];
    snprintf(what, sizeof what, "unexpected argument '%s'", argv[optind]);
    usage_error(what, NULL, NULL);
  }
  struct sigaction sa = {.sa_handler = on_stop};  // no SA_RESTART: accept must fail with EINTR
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  struct sigaction usr1 = {.sa_handler = on_usr1, .sa_flags = SA_RESTART};
  sigemptyset(&usr1.sa_mask);
  sigaction(SIGUSR1, &usr1, NULL);
  // A peer that goes away while we write must cost its connection, not the whole server.
  signal(SIGPIPE, SIG_IGN);
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(lfd, (struct sockaddr*)&addr, sizeof addr) != 0 || listen(lfd, 4096) != 0 ||
      getsockname(lfd, (struct sockaddr*)&addr, &len) != 0) {
    perror("blocking_echo: listen");
    return 1;
  }
  printf("blocking_echo: listening on 127.0.0.1:%d\n", ntohs(addr.sin_port));
  fflush(stdout);
  // Small stacks: a connection needs its 4 KiB buffer and little else.
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  int said_accept_error = 0;
  while (!stopping) {
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      // Out of fds or memory: say so once, give the connections in progress a moment, go on.
      if (!said_accept_error) perror("blocking_echo: accept (retrying each second)");
      said_accept_error = 1;
      sleep(1);
      continue;
    }
    pthread_t t;
    if (pthread_create(&t, &attr, serve, (void*)(long)fd) != 0) {
      fprintf(stderr, "blocking_echo: cannot start a thread for a connection\n");
      close(fd);
    }
  }
  printf("blocking_echo: stopped (%ld SIGUSR1 received)\n", atomic_load(&usr1_count));
  return 0;
}
