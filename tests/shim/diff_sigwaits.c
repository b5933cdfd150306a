// diff_sigwaits: the waits that end on a signal, and the timers that send one, as natively. A
// wait ends with EINTR only after a handler ran, never earlier and never for a signal of
// weft's own; a wait with a signal mask lets in exactly the signals its mask unblocks; timers
// interrupt the thread the kernel would pick. Registered with WEFT_STALL_MS=10, so that under
// weftrun every idle wait below outlasts the stall threshold many times.
//
// Modes (argv[1]):
//   pause         alarm(1); pause() returns -1/EINTR once the SIGALRM handler ran, not before
//                 (at least ~0.9 s later); a helper thread blocks SIGALRM meanwhile
//   sigsuspend    main blocks SIGUSR1, another thread sends it: sigsuspend (SIGUSR1 unblocked)
//                 returns EINTR after the handler ran, with the old mask back; a signal already
//                 pending ends it at once; one its mask still blocks stays pending
//   ppoll         an idle ppoll with a mask times out after 300 ms (0, not EINTR); a signal the
//                 mask unblocks ends it with EINTR after its handler ran; the old mask is back
//   pselect       the same with pselect
//   epoll_pwait   the same with epoll_pwait
//   setitimer     ITIMER_REAL every 50 ms: the handler counts to 5 while main sleeps in 1 s
//                 nanosleeps, each of which ends with EINTR after a handler run
//   timer_create  a CLOCK_MONOTONIC timer with SIGEV_SIGNAL SIGRTMIN: sigwaitinfo gets SI_TIMER
//                 and the sigev_value, three times
// No weft header.
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/time.h>

#include "sigtest.h"

// A helper thread that blocks the given signal and waits on a pipe until released, so that the
// process-directed signals below can only go to main.
struct Helper {
  pthread_t t;
  int p[2];
  int sig;
  atomic_int ready;
};

static void* helper_main(void* arg) {
  struct Helper* h = arg;
  mask_signals(SIG_BLOCK, h->sig, 0);
  atomic_store(&h->ready, 1);
  char c;
  ssize_t r;
  do r = read(h->p[0], &c, 1);
  while (r < 0 && errno == EINTR);
  CHECK(r == 1);
  return NULL;
}

static void helper_start(struct Helper* h, int sig) {
  memset(h, 0, sizeof *h);
  h->sig = sig;
  CHECK(pipe2(h->p, O_CLOEXEC) == 0);
  CHECK(pthread_create(&h->t, NULL, helper_main, h) == 0);
  CHECK(wait_until(&h->ready, 1));
}

static void helper_stop(struct Helper* h) {
  CHECK(write(h->p[1], "x", 1) == 1);
  CHECK(pthread_join(h->t, NULL) == 0);
  close(h->p[0]);
  close(h->p[1]);
}

static int do_pause(void) {
  handle(SIGALRM, 0);
  reset_runs(pthread_self());
  struct Helper h;
  helper_start(&h, SIGALRM);
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  alarm(1);
  errno = 0;
  int r = pause();
  int err = errno;
  long el = elapsed_ms(&t0);
  // Read the count at once: a handler that ran later than pause's return would not count.
  int ran = atomic_load(&runs);
  printf("pause -> %d %s; handler ran %d time(s), on main %d\n", r, strerror(err), ran,
         atomic_load(&on_expected));
  printf("elapsed>=0.9: %d\n", el >= 900);
  helper_stop(&h);
  return 0;
}

static pid_t main_tid;
static void* usr_sender(void* arg) {
  int sig = (int)(long)arg;
  wait_blocked(main_tid, SYS_rt_sigsuspend);
  CHECK(kill(getpid(), sig) == 0);
  return NULL;
}

static int do_sigsuspend(void) {
  handle(SIGUSR1, 0);
  handle(SIGUSR2, 0);
  reset_runs(pthread_self());
  main_tid = os_tid();
  mask_signals(SIG_BLOCK, SIGUSR1, SIGUSR2, 0);
  // The sender is created with SIGUSR1 blocked: only main's sigsuspend can take it.
  pthread_t t;
  CHECK(pthread_create(&t, NULL, usr_sender, (void*)(long)SIGUSR1) == 0);
  sigset_t during;
  sigemptyset(&during);
  errno = 0;
  int r = sigsuspend(&during);
  int err = errno;
  int ran = atomic_load(&runs);
  printf("sigsuspend, another thread sends SIGUSR1 -> %d %s; handler ran %d, on main %d\n", r,
         strerror(err), ran, atomic_load(&on_expected));
  CHECK(pthread_join(t, NULL) == 0);
  print_mask("after sigsuspend, main");
  // Pending before: it ends at once.
  reset_runs(pthread_self());
  CHECK(kill(getpid(), SIGUSR1) == 0);
  r = sigsuspend(&during);
  err = errno;
  printf("sigsuspend, SIGUSR1 already pending -> %d %s; handler ran %d\n", r, strerror(err),
         atomic_load(&runs));
  // Its mask still blocks SIGUSR1: that one stays pending, SIGUSR2 ends the wait.
  reset_runs(pthread_self());
  CHECK(kill(getpid(), SIGUSR1) == 0);
  sigset_t only1;
  sigemptyset(&only1);
  sigaddset(&only1, SIGUSR1);
  CHECK(pthread_create(&t, NULL, usr_sender, (void*)(long)SIGUSR2) == 0);
  r = sigsuspend(&only1);
  err = errno;
  printf("sigsuspend blocking SIGUSR1, SIGUSR2 sent -> %d %s; handler ran %d, for SIGUSR2 %d\n", r,
         strerror(err), atomic_load(&runs), last_signo == SIGUSR2);
  CHECK(pthread_join(t, NULL) == 0);
  print_pending("afterwards, main");
  print_mask("afterwards, main");
  mask_signals(SIG_UNBLOCK, SIGUSR1, 0);
  printf("unblocking SIGUSR1: handler ran %d, for SIGUSR1 %d\n", atomic_load(&runs),
         last_signo == SIGUSR1);
  return 0;
}

// The three waits with a mask, on one idle fd: kind 0 ppoll, 1 pselect, 2 epoll_pwait.
static int masked_wait(int kind, int fd, int ep, int ms, const sigset_t* mask) {
  if (kind == 0) {
    struct pollfd pf = {fd, POLLIN, 0};
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    return ppoll(&pf, 1, &t, mask);
  }
  if (kind == 1) {
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(fd, &rs);
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    return pselect(fd + 1, &rs, NULL, NULL, &t, mask);
  }
  struct epoll_event ev;
  return epoll_pwait(ep, &ev, 1, ms, mask);
}

static long masked_nr(int kind) {
  return kind == 0 ? SYS_ppoll : kind == 1 ? SYS_pselect6 : SYS_epoll_pwait;
}

static void* masked_sender(void* arg) {
  int kind = (int)(long)arg;
  wait_blocked(main_tid, masked_nr(kind));
  CHECK(kill(getpid(), SIGUSR1) == 0);
  return NULL;
}

static int masked_waits(int kind) {
  static const char* names[] = {"ppoll", "pselect", "epoll_pwait"};
  const char* name = names[kind];
  handle(SIGUSR1, 0);
  handle(SIGUSR2, 0);
  reset_runs(pthread_self());
  main_tid = os_tid();
  int p[2];
  CHECK(pipe(p) == 0);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  CHECK(ep >= 0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = p[0]};
  CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) == 0);
  mask_signals(SIG_BLOCK, SIGUSR1, 0);
  sigset_t all_but_usr1, usr1_only;
  sigfillset(&all_but_usr1);
  sigdelset(&all_but_usr1, SIGUSR1);
  sigemptyset(&usr1_only);
  sigaddset(&usr1_only, SIGUSR1);
  // Idle with a mask that blocks everything else, then with one that blocks only SIGUSR1.
  for (int i = 0; i < 2; i++) {
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    errno = 0;
    int r = masked_wait(kind, p[0], ep, 300, i == 0 ? &all_but_usr1 : &usr1_only);
    int err = errno;
    printf("%s, idle 300 ms, mask %s -> %d%s%s; elapsed>=0.25: %d; handler ran %d\n", name,
           i == 0 ? "all but SIGUSR1" : "SIGUSR1 only", r, r < 0 ? " " : "",
           r < 0 ? strerror(err) : "", elapsed_ms(&t0) >= 250, atomic_load(&runs));
  }
  // A sender created with SIGUSR1 blocked: only main's wait, whose mask lets it in, takes it.
  pthread_t t;
  CHECK(pthread_create(&t, NULL, masked_sender, (void*)(long)kind) == 0);
  sigset_t none;
  sigemptyset(&none);
  errno = 0;
  int r = masked_wait(kind, p[0], ep, 20000, &none);
  int err = errno;
  printf("%s, SIGUSR1 let in by the mask -> %d%s%s; handler ran %d, on main %d\n", name, r,
         r < 0 ? " " : "", r < 0 ? strerror(err) : "", atomic_load(&runs),
         atomic_load(&on_expected));
  CHECK(pthread_join(t, NULL) == 0);
  print_mask("afterwards, main");
  // A signal the wait's mask blocks stays pending and does not end it.
  reset_runs(pthread_self());
  CHECK(kill(getpid(), SIGUSR1) == 0);
  r = masked_wait(kind, p[0], ep, 100, &usr1_only);
  printf("%s, SIGUSR1 pending but blocked by the mask -> %d; handler ran %d\n", name, r,
         atomic_load(&runs));
  print_pending("afterwards, main");
  mask_signals(SIG_UNBLOCK, SIGUSR1, 0);
  printf("unblocking: handler ran %d\n", atomic_load(&runs));
  close(ep);
  close(p[0]);
  close(p[1]);
  return 0;
}

static atomic_int ticks;
static void on_tick(int sig) {
  (void)sig;
  if (atomic_fetch_add(&ticks, 1) + 1 == 5) {
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
  }
}

static int do_setitimer(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_tick;
  sigemptyset(&sa.sa_mask);
  CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
  struct Helper h;
  helper_start(&h, SIGALRM);
  struct itimerval every = {{0, 50000}, {0, 50000}};
  CHECK(setitimer(ITIMER_REAL, &every, NULL) == 0);
  int eintrs = 0, completed = 0, unexplained = 0, loops = 0;
  while (atomic_load(&ticks) < 5 && loops++ < 100) {
    int before = atomic_load(&ticks);
    struct timespec one = {1, 0};
    int r = nanosleep(&one, NULL);
    if (r == 0) {
      completed++;
    } else if (errno == EINTR) {
      eintrs++;
      if (atomic_load(&ticks) == before) unexplained++;
    }
  }
  printf("handler ran %d times\n", atomic_load(&ticks));
  printf("nanosleeps that slept their whole second: %d\n", completed);
  printf("EINTRs between 1 and 5: %d, every EINTR after a handler run: %d\n",
         eintrs >= 1 && eintrs <= 5, unexplained == 0);
  struct itimerval now;
  CHECK(getitimer(ITIMER_REAL, &now) == 0);
  printf("timer disarmed: %d\n", now.it_value.tv_sec == 0 && now.it_value.tv_usec == 0);
  helper_stop(&h);
  return 0;
}

static int do_timer_create(void) {
  mask_signals(SIG_BLOCK, SIGRTMIN, 0);
  struct sigevent sev;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_SIGNAL;
  sev.sigev_signo = SIGRTMIN;
  sev.sigev_value.sival_int = 1234;
  timer_t tm;
  CHECK(timer_create(CLOCK_MONOTONIC, &sev, &tm) == 0);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGRTMIN);
  for (int i = 0; i < 3; i++) {
    struct itimerspec once = {{0, 0}, {0, 50000000}};
    CHECK(timer_settime(tm, 0, &once, NULL) == 0);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int r = sigwaitinfo(&set, &si);
    int err = errno;
    if (r < 0) {
      printf("sigwaitinfo -> -1 %s\n", strerror(err));
      continue;
    }
    printf("sigwaitinfo -> SIGRTMIN %d, si_code SI_TIMER %d, sival %d\n", r == SIGRTMIN,
           si.si_code == SI_TIMER, si.si_value.sival_int);
  }
  CHECK(timer_delete(tm) == 0);
  print_pending("afterwards, main");
  return 0;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  start_watchdog(25);
  const char* mode = argc > 1 ? argv[1] : "";
  if (strcmp(mode, "pause") == 0) return do_pause();
  if (strcmp(mode, "sigsuspend") == 0) return do_sigsuspend();
  if (strcmp(mode, "ppoll") == 0) return masked_waits(0);
  if (strcmp(mode, "pselect") == 0) return masked_waits(1);
  if (strcmp(mode, "epoll_pwait") == 0) return masked_waits(2);
  if (strcmp(mode, "setitimer") == 0) return do_setitimer();
  if (strcmp(mode, "timer_create") == 0) return do_timer_create();
  printf("unknown mode '%s'\n", mode);
  return 2;
}
