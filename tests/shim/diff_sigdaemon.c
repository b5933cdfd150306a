// diff_sigdaemon: the two ways servers take their signals, as natively. Every thread blocks
// SIGTERM (and SIGINT, SIGHUP) from the start -- main blocks them before it creates any thread,
// and threads inherit their creator's mask -- so a process-directed SIGTERM kills nobody and
// runs no handler: it stays pending until the daemon reads it from a signalfd or a signal thread
// takes it with sigwait. Meanwhile three worker threads sit in blocking reads on sockets and still
// answer afterwards.
//
// Modes (argv[1]):
//   signalfd_poll   main polls a signalfd and the sender's pipe; a forked child sends SIGINT then
//                   SIGTERM (ssi_pid is the child's, ssi_code SI_USER)
//   signalfd_epoll  the same with epoll
//   signalfd_read   main reads the signalfd with a blocking read; a thread sends the signals
//                   once main is blocked (ssi_pid is the process's own)
//   sigwait         a signal thread in sigwait({SIGTERM, SIGHUP}) counts two SIGHUP reloads, then
//                   SIGTERM stops the daemon
//   sigwaitinfo     the signal thread's sigwaitinfo sees sigqueue's SI_QUEUE and value, queued
//                   real-time signals in order, pthread_kill's SI_TKILL and a child's SI_USER
//   sigtimedwait    a timeout that expires (EAGAIN, zero and 100 ms), a pending signal, and a
//                   signal sent by another thread while main waits
//   server          a thread-per-connection TCP echo server with a sigwait signal thread: 50
//                   client threads do 100 round trips each, then SIGTERM; the signal thread shuts
//                   the listener down and the server ends with its totals
// No weft header.
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include "sigtest.h"

// Workers: threads blocked in read on one end of a socket pair, echoing each byte until 'q'.
enum { kWorkers = 3 };
static int worker_fd[kWorkers];
static pthread_t workers[kWorkers];

static void* worker_main(void* arg) {
  int fd = *(int*)arg;
  char c;
  for (;;) {
    ssize_t r = read(fd, &c, 1);
    if (r < 0 && errno == EINTR) {
      printf("FAILED: a worker's read failed with EINTR\n");
      exit(1);
    }
    CHECK(r == 1);
    CHECK(write(fd, &c, 1) == 1);
    if (c == 'q') return NULL;
  }
}

static int worker_peer[kWorkers];

static void start_workers(void) {
  for (int i = 0; i < kWorkers; i++) {
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    worker_fd[i] = sv[1];
    worker_peer[i] = sv[0];
    CHECK(pthread_create(&workers[i], NULL, worker_main, &worker_fd[i]) == 0);
  }
}

// ping_workers() has every worker echo c and returns how many answered it.
static int ping_workers(char c) {
  int ok = 0;
  for (int i = 0; i < kWorkers; i++) {
    char r = 0;
    CHECK(write(worker_peer[i], &c, 1) == 1);
    CHECK(read(worker_peer[i], &r, 1) == 1);
    ok += r == c;
  }
  return ok;
}

static void stop_workers(void) {
  printf("workers answered after the signal: %d\n", ping_workers('p'));
  int stopped = ping_workers('q');
  for (int i = 0; i < kWorkers; i++) {
    CHECK(pthread_join(workers[i], NULL) == 0);
    close(worker_peer[i]);
    close(worker_fd[i]);
  }
  printf("workers stopped: %d\n", stopped);
}

static const char* signame(int sig) {
  switch (sig) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    case SIGHUP:
      return "SIGHUP";
    case SIGUSR1:
      return "SIGUSR1";
    default:
      return sig == SIGRTMIN ? "SIGRTMIN" : "other";
  }
}

static const char* codename(int code) {
  switch (code) {
    case SI_USER:
      return "SI_USER";
    case SI_QUEUE:
      return "SI_QUEUE";
    case SI_TKILL:
      return "SI_TKILL";
    case SI_TIMER:
      return "SI_TIMER";
    default:
      return "other";
  }
}

// daemon_start() blocks SIGINT and SIGTERM in main, then starts the workers and makes sure they
// answer; it returns the signalfd for the two.
static int daemon_start(void) {
  mask_signals(SIG_BLOCK, SIGINT, SIGTERM, 0);
  start_workers();
  printf("workers ready: %d\n", ping_workers('r'));
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC);
  CHECK(sfd >= 0);
  return sfd;
}

// read_signal() reads one signalfd_siginfo from sfd and prints it; it returns the signal.
static int read_signal(int sfd, pid_t sender) {
  struct signalfd_siginfo si;
  ssize_t r = read(sfd, &si, sizeof si);
  if (r < 0) {
    printf("read of the signalfd -> -1 %s\n", strerror(errno));
    exit(1);
  }
  CHECK(r == sizeof si);
  printf("signalfd: %s, ssi_pid is the sender's: %d, ssi_code %s\n", signame((int)si.ssi_signo),
         (pid_t)si.ssi_pid == sender, codename(si.ssi_code));
  return (int)si.ssi_signo;
}

static void daemon_end(int sfd) {
  print_pending("after the signalfd reads, main");
  stop_workers();
  close(sfd);
}

// signalfd_poll(): poll (or epoll) on the signalfd and the forked sender's acknowledgements.
static int signalfd_wait(int use_epoll) {
  int sfd = daemon_start();
  struct Sender s = start_sender();
  unsigned char cmd[2] = {SIGINT, SIGTERM};
  CHECK(write(s.cmd, cmd, 2) == 2);  // asynchronously: main waits below
  int ep = -1;
  if (use_epoll) {
    ep = epoll_create1(EPOLL_CLOEXEC);
    CHECK(ep >= 0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = sfd};
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev) == 0);
    ev.data.fd = s.ack;
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, s.ack, &ev) == 0);
  }
  int acks = 0, term = 0, wakeups_failed = 0;
  while (acks < 2 || !term) {
    int ready_sfd = 0, ready_ack = 0;
    if (use_epoll) {
      struct epoll_event evs[2];
      int n = epoll_wait(ep, evs, 2, 20000);
      if (n < 0) {
        wakeups_failed++;
        printf("epoll_wait -> -1 %s\n", strerror(errno));
        if (wakeups_failed > 3) return 1;
        continue;
      }
      CHECK(n > 0);
      for (int i = 0; i < n; i++) {
        ready_sfd |= evs[i].data.fd == sfd;
        ready_ack |= evs[i].data.fd == s.ack;
      }
    } else {
      struct pollfd pf[2] = {{sfd, POLLIN, 0}, {s.ack, POLLIN, 0}};
      int n = poll(pf, 2, 20000);
      if (n < 0) {
        wakeups_failed++;
        printf("poll -> -1 %s\n", strerror(errno));
        if (wakeups_failed > 3) return 1;
        continue;
      }
      CHECK(n > 0);
      ready_sfd = (pf[0].revents & POLLIN) != 0;
      ready_ack = (pf[1].revents & POLLIN) != 0;
    }
    if (ready_sfd) term |= read_signal(sfd, s.pid) == SIGTERM;
    if (ready_ack) {
      char k[2];
      ssize_t r = read(s.ack, k, sizeof k);
      CHECK(r > 0);
      acks += (int)r;
    }
  }
  printf("sender acknowledged both: %d\n", acks == 2);
  if (ep >= 0) close(ep);
  daemon_end(sfd);
  stop_sender(&s);
  return 0;
}

static pid_t main_tid;
static void* thread_sender(void* arg) {
  (void)arg;
  wait_blocked(main_tid, SYS_read);
  CHECK(kill(getpid(), SIGINT) == 0);
  CHECK(kill(getpid(), SIGTERM) == 0);
  return NULL;
}

// signalfd_read(): a blocking read of the signalfd, the signals sent by a thread meanwhile.
static int signalfd_read(void) {
  int sfd = daemon_start();
  main_tid = os_tid();
  pthread_t t;
  CHECK(pthread_create(&t, NULL, thread_sender, NULL) == 0);
  while (read_signal(sfd, getpid()) != SIGTERM) {
  }
  CHECK(pthread_join(t, NULL) == 0);
  daemon_end(sfd);
  return 0;
}

// The signal thread of the sigwait daemon: reports each signal on a pipe.
static int notify[2];
static atomic_int sig_tid;
static int reloads;

static void* sigwait_thread(void* arg) {
  (void)arg;
  atomic_store(&sig_tid, os_tid());
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  for (;;) {
    int sig = 0;
    int r = sigwait(&set, &sig);
    if (r != 0) {
      printf("sigwait -> %s\n", strerror(r));
      exit(1);
    }
    if (sig == SIGHUP) {
      reloads++;
      CHECK(write(notify[1], "r", 1) == 1);
    } else {
      CHECK(sig == SIGTERM);
      CHECK(write(notify[1], "t", 1) == 1);
      return NULL;
    }
  }
}

static char next_note(void) {
  char c = 0;
  CHECK(read(notify[0], &c, 1) == 1);
  return c;
}

static int sigwait_daemon(void) {
  mask_signals(SIG_BLOCK, SIGTERM, SIGHUP, 0);
  CHECK(pipe2(notify, O_CLOEXEC) == 0);
  pthread_t st;
  CHECK(pthread_create(&st, NULL, sigwait_thread, NULL) == 0);
  while (atomic_load(&sig_tid) == 0) sched_yield();
  wait_blocked(atomic_load(&sig_tid), SYS_rt_sigtimedwait);
  // The workers start while the signal thread waits: on one carrier its wait must not hold it.
  start_workers();
  printf("workers ready: %d\n", ping_workers('r'));
  struct Sender s = start_sender();
  send_signal(&s, SIGHUP);
  printf("first SIGHUP: %c\n", next_note());
  send_signal(&s, SIGHUP);
  printf("second SIGHUP: %c\n", next_note());
  send_signal(&s, SIGTERM);
  printf("SIGTERM: %c\n", next_note());
  CHECK(pthread_join(st, NULL) == 0);
  printf("reloads: %d\n", reloads);
  print_pending("main");
  stop_workers();
  stop_sender(&s);
  return 0;
}

// sigwaitinfo(): the signal thread prints each siginfo it takes.
static pid_t info_sender;
static void* sigwaitinfo_thread(void* arg) {
  (void)arg;
  atomic_store(&sig_tid, os_tid());
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGRTMIN);
  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(&set, &si);
    if (sig < 0) {
      printf("sigwaitinfo -> -1 %s\n", strerror(errno));
      exit(1);
    }
    printf("sigwaitinfo: %s, si_signo matches: %d, si_code %s, si_pid ours: %d, sender's: %d",
           signame(sig), si.si_signo == sig, codename(si.si_code), si.si_pid == getpid(),
           info_sender != 0 && si.si_pid == info_sender);
    if (si.si_code == SI_QUEUE) printf(", si_value %d", si.si_value.sival_int);
    printf("\n");
    CHECK(write(notify[1], "n", 1) == 1);
    if (sig == SIGTERM) return NULL;
  }
}

static int sigwaitinfo_daemon(void) {
  mask_signals(SIG_BLOCK, SIGTERM, SIGUSR1, SIGRTMIN, 0);
  CHECK(pipe2(notify, O_CLOEXEC) == 0);
  start_workers();
  printf("workers ready: %d\n", ping_workers('r'));
  pthread_t st;
  CHECK(pthread_create(&st, NULL, sigwaitinfo_thread, NULL) == 0);
  while (atomic_load(&sig_tid) == 0) sched_yield();
  wait_blocked(atomic_load(&sig_tid), SYS_rt_sigtimedwait);
  union sigval v = {.sival_int = 7};
  CHECK(sigqueue(getpid(), SIGUSR1, v) == 0);
  next_note();
  // Two real-time signals queue: both arrive, in the order sent.
  v.sival_int = 1;
  CHECK(sigqueue(getpid(), SIGRTMIN, v) == 0);
  v.sival_int = 2;
  CHECK(sigqueue(getpid(), SIGRTMIN, v) == 0);
  next_note();
  next_note();
  CHECK(pthread_kill(st, SIGUSR1) == 0);
  next_note();
  struct Sender s = start_sender();
  info_sender = s.pid;
  send_signal(&s, SIGTERM);
  next_note();
  CHECK(pthread_join(st, NULL) == 0);
  print_pending("main");
  stop_workers();
  stop_sender(&s);
  return 0;
}

static void* usr1_sender(void* arg) {
  (void)arg;
  wait_blocked(main_tid, SYS_rt_sigtimedwait);
  CHECK(kill(getpid(), SIGUSR1) == 0);
  return NULL;
}

static void show_timedwait(const char* what, long ms) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  struct timespec t = {ms / 1000, (ms % 1000) * 1000000};
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  siginfo_t si;
  memset(&si, 0, sizeof si);
  errno = 0;
  int r = sigtimedwait(&set, &si, &t);
  int err = errno;
  long el = elapsed_ms(&t0);
  printf("%s -> %s%s", what, r < 0 ? "-1 " : signame(r), r < 0 ? strerror(err) : "");
  if (r > 0) printf(", si_code %s, si_pid ours: %d", codename(si.si_code), si.si_pid == getpid());
  if (r < 0 && err == EAGAIN) printf(", waited the whole timeout: %d", el >= ms * 9 / 10);
  printf("\n");
}

static int sigtimedwait_modes(void) {
  mask_signals(SIG_BLOCK, SIGUSR1, 0);
  main_tid = os_tid();
  start_workers();
  printf("workers ready: %d\n", ping_workers('r'));
  show_timedwait("sigtimedwait, zero timeout, nothing pending", 0);
  show_timedwait("sigtimedwait, 100 ms, nothing sent", 100);
  CHECK(kill(getpid(), SIGUSR1) == 0);
  print_pending("after kill");
  show_timedwait("sigtimedwait, zero timeout, SIGUSR1 pending", 0);
  print_pending("after sigtimedwait");
  pthread_t t;
  CHECK(pthread_create(&t, NULL, usr1_sender, NULL) == 0);
  show_timedwait("sigtimedwait, 20 s, another thread sends SIGUSR1", 20000);
  CHECK(pthread_join(t, NULL) == 0);
  stop_workers();
  return 0;
}

// The echo server.
enum { kClients = 50, kTrips = 100, kMsg = 32 };
static int lfd;
static int port;
static atomic_int stopping;
static atomic_long echoed_bytes;
static atomic_int conns_served;
static atomic_int trips_ok;

static void* conn_main(void* arg) {
  int fd = (int)(long)arg;
  char buf[256];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n == 0) break;
    CHECK(n > 0);
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(fd, buf + off, (size_t)(n - off));
      CHECK(w > 0);
      off += w;
    }
    atomic_fetch_add(&echoed_bytes, n);
  }
  close(fd);
  atomic_fetch_add(&conns_served, 1);
  return NULL;
}

static void* client_main(void* arg) {
  int id = (int)(long)arg;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  struct sockaddr_in a = {
      .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  CHECK(connect(fd, (struct sockaddr*)&a, sizeof a) == 0);
  for (int t = 0; t < kTrips; t++) {
    char out[kMsg], in[kMsg];
    memset(out, 'a' + (id + t) % 26, sizeof out);
    CHECK(write(fd, out, sizeof out) == sizeof out);
    size_t got = 0;
    while (got < sizeof in) {
      ssize_t n = read(fd, in + got, sizeof in - got);
      CHECK(n > 0);
      got += (size_t)n;
    }
    if (memcmp(in, out, sizeof in) == 0) atomic_fetch_add(&trips_ok, 1);
  }
  close(fd);
  return NULL;
}

static void* server_sigwait(void* arg) {
  (void)arg;
  atomic_store(&sig_tid, os_tid());
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  int r = sigwait(&set, &sig);
  CHECK(r == 0);
  printf("signal thread: %s, shutting the listener down\n", signame(sig));
  atomic_store(&stopping, 1);
  CHECK(shutdown(lfd, SHUT_RDWR) == 0);
  return NULL;
}

static void* load_main(void* arg) {
  (void)arg;
  pthread_t c[kClients];
  for (int i = 0; i < kClients; i++)
    CHECK(pthread_create(&c[i], NULL, client_main, (void*)(long)i) == 0);
  for (int i = 0; i < kClients; i++) CHECK(pthread_join(c[i], NULL) == 0);
  return NULL;
}

static int server(void) {
  mask_signals(SIG_BLOCK, SIGTERM, 0);
  lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(lfd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  CHECK(bind(lfd, (struct sockaddr*)&a, sizeof a) == 0 && listen(lfd, 128) == 0);
  socklen_t len = sizeof a;
  CHECK(getsockname(lfd, (struct sockaddr*)&a, &len) == 0);
  port = ntohs(a.sin_port);
  struct Sender s = start_sender();
  pthread_t st, load;
  CHECK(pthread_create(&st, NULL, server_sigwait, NULL) == 0);
  while (atomic_load(&sig_tid) == 0) sched_yield();
  wait_blocked(atomic_load(&sig_tid), SYS_rt_sigtimedwait);
  CHECK(pthread_create(&load, NULL, load_main, NULL) == 0);
  pthread_t conns[kClients + 8];
  int n = 0;
  int load_joined = 0;
  for (;;) {
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR) {
        printf("FAILED: accept failed with EINTR\n");
        return 1;
      }
      printf("accept ended (%s) with the stop flag set: %d\n", strerror(errno),
             atomic_load(&stopping));
      break;
    }
    CHECK(n < kClients + 8);
    CHECK(pthread_create(&conns[n++], NULL, conn_main, (void*)(long)fd) == 0);
    if (n == kClients && !load_joined) {
      // Every client connected: once they are done, the test sends SIGTERM.
      CHECK(pthread_join(load, NULL) == 0);
      load_joined = 1;
      printf("clients done: %d round trips echoed intact\n", atomic_load(&trips_ok));
      send_signal(&s, SIGTERM);
    }
  }
  CHECK(load_joined);
  for (int i = 0; i < n; i++) CHECK(pthread_join(conns[i], NULL) == 0);
  CHECK(pthread_join(st, NULL) == 0);
  printf("server: %d connections, %ld bytes echoed\n", atomic_load(&conns_served),
         atomic_load(&echoed_bytes));
  close(lfd);
  stop_sender(&s);
  return 0;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  start_watchdog(25);
  const char* mode = argc > 1 ? argv[1] : "";
  if (strcmp(mode, "signalfd_poll") == 0) return signalfd_wait(0);
  if (strcmp(mode, "signalfd_epoll") == 0) return signalfd_wait(1);
  if (strcmp(mode, "signalfd_read") == 0) return signalfd_read();
  if (strcmp(mode, "sigwait") == 0) return sigwait_daemon();
  if (strcmp(mode, "sigwaitinfo") == 0) return sigwaitinfo_daemon();
  if (strcmp(mode, "sigtimedwait") == 0) return sigtimedwait_modes();
  if (strcmp(mode, "server") == 0) return server();
  printf("unknown mode '%s'\n", mode);
  return 2;
}
