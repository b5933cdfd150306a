// diff_sigmask: per-thread signal masks, as natively. Each thread has its own mask; a new thread
// starts with its creator's, a forked child with the forking thread's, an exec'd program with the
// calling thread's; a process-directed signal goes to a thread that does not block it, and one
// every thread blocks stays pending (sigpending shows it) until a thread unblocks it, whose
// handler then runs before pthread_sigmask returns.
//
// Modes (argv[1]):
//   pending            block SIGUSR1, kill(getpid()): pending, no handler run; unblocking runs it
//                      on main before sigprocmask returns. Threads created meanwhile inherit the
//                      block and take nothing. A standard signal sent twice merges; a real-time
//                      one queues.
//   pending_thread     the same with pthread_kill to self: the signal is pending for main only
//   helper_blocks_all  a helper thread blocks every signal; main's read on a pipe is still
//                      interrupted by alarm(1) (no SA_RESTART): EINTR, the handler ran on main
//   inherit_threads    a thread starts with its creator's mask (main's, or another thread's)
//   inherit_exec       fork+execve, posix_spawn and system() children show the calling thread's
//                      mask (SigBlk in /proc/self/status), not another thread's
//   inherit_fork       a forked child's mask is the forking thread's
//   fork_pthread_kill  in a forked child that runs threads: pthread_kill to itself and to another
//                      of its threads runs the handler on the right thread; a process-directed
//                      signal goes to the thread that does not block it
//   sigurg             SIG_IGN for SIGURG reads back as SIG_IGN; a handler for SIGURG runs once
//                      per kill(getpid()), never otherwise (an idle 300 ms poll runs it 0 times)
// No weft header.
#include <spawn.h>
#include <sys/types.h>

#include "sigtest.h"

extern char** environ;

// Parked threads: each blocks in read on its own pipe until released.
struct Parked {
  pthread_t t;
  int p[2];
  atomic_int ready;
  int block_all;   // block every signal first (the helper-thread idiom)
  int block_sig;   // or block this one signal first (0: none)
  char mask[256];  // the thread's mask as it started
};

static void* parked_main(void* arg) {
  struct Parked* pk = arg;
  sigset_t cur;
  CHECK(pthread_sigmask(SIG_BLOCK, NULL, &cur) == 0);
  mask_string(&cur, pk->mask, sizeof pk->mask);
  if (pk->block_all) {
    sigset_t all;
    sigfillset(&all);
    CHECK(pthread_sigmask(SIG_BLOCK, &all, NULL) == 0);
  }
  if (pk->block_sig != 0) mask_signals(SIG_BLOCK, pk->block_sig, 0);
  atomic_store(&pk->ready, 1);
  char c;
  ssize_t r;
  do r = read(pk->p[0], &c, 1);
  while (r < 0 && errno == EINTR);
  CHECK(r == 1);
  return NULL;
}

static void park(struct Parked* pk, int block_all, int block_sig) {
  memset(pk, 0, sizeof *pk);
  pk->block_all = block_all;
  pk->block_sig = block_sig;
  CHECK(pipe2(pk->p, O_CLOEXEC) == 0);
  CHECK(pthread_create(&pk->t, NULL, parked_main, pk) == 0);
  CHECK(wait_until(&pk->ready, 1));
}

static void unpark(struct Parked* pk) {
  CHECK(write(pk->p[1], "x", 1) == 1);
  CHECK(pthread_join(pk->t, NULL) == 0);
  close(pk->p[0]);
  close(pk->p[1]);
}

static void show_runs(const char* when) {
  printf("%s: handler ran %d time(s), on main %d\n", when, atomic_load(&runs),
         atomic_load(&on_expected));
}

static int pending(void) {
  handle(SIGUSR1, 0);
  handle(SIGRTMIN, 0);
  reset_runs(pthread_self());
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGRTMIN);
  CHECK(sigprocmask(SIG_BLOCK, &set, &old) == 0);
  // Two threads created now inherit the block: the signals must wait for main.
  struct Parked a, b;
  park(&a, 0, 0);
  park(&b, 0, 0);
  printf("threads started with: %s and %s\n", a.mask, b.mask);
  CHECK(kill(getpid(), SIGUSR1) == 0);
  CHECK(kill(getpid(), SIGUSR1) == 0);
  union sigval v = {.sival_int = 5};
  CHECK(sigqueue(getpid(), SIGRTMIN, v) == 0);
  CHECK(sigqueue(getpid(), SIGRTMIN, v) == 0);
  print_pending("after kill and sigqueue, main");
  show_runs("while blocked");
  CHECK(sigprocmask(SIG_SETMASK, &old, NULL) == 0);
  show_runs("when sigprocmask returned");
  print_pending("after unblocking, main");
  print_mask("main");
  unpark(&a);
  unpark(&b);
  return 0;
}

static atomic_int other_pending;  // what the other thread saw: 1 + whether SIGUSR1 was pending
static atomic_int look;

static void* look_pending(void* arg) {
  (void)arg;
  CHECK(wait_until(&look, 1));
  sigset_t p;
  CHECK(sigpending(&p) == 0);
  atomic_store(&other_pending, 1 + sigismember(&p, SIGUSR1));
  return NULL;
}

static int pending_thread(void) {
  handle(SIGUSR1, 0);
  reset_runs(pthread_self());
  mask_signals(SIG_BLOCK, SIGUSR1, 0);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, look_pending, NULL) == 0);
  CHECK(pthread_kill(pthread_self(), SIGUSR1) == 0);
  print_pending("after pthread_kill(self), main");
  show_runs("while blocked");
  atomic_store(&look, 1);
  CHECK(pthread_join(t, NULL) == 0);
  printf("another thread sees SIGUSR1 pending: %d\n", atomic_load(&other_pending) - 1);
  mask_signals(SIG_UNBLOCK, SIGUSR1, 0);
  show_runs("when pthread_sigmask returned");
  print_pending("after unblocking, main");
  // raise() is thread-directed too.
  mask_signals(SIG_BLOCK, SIGUSR1, 0);
  CHECK(raise(SIGUSR1) == 0);
  print_pending("after raise, main");
  mask_signals(SIG_UNBLOCK, SIGUSR1, 0);
  show_runs("after raise and unblocking");
  return 0;
}

static volatile sig_atomic_t main_in_read;
static void on_alarm(int sig, siginfo_t* info, void* uc) {
  record(sig, info, uc);
  // The alarm came before main reached its read (descheduled for a second): try again, so that
  // the read is interrupted in any case.
  if (!main_in_read) alarm(1);
}

static int helper_blocks_all(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_alarm;
  sa.sa_flags = SA_SIGINFO;  // no SA_RESTART
  sigemptyset(&sa.sa_mask);
  CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
  reset_runs(pthread_self());
  struct Parked helper;
  park(&helper, 1, 0);
  int p[2];
  CHECK(pipe(p) == 0);
  alarm(1);
  main_in_read = 1;
  char c;
  errno = 0;
  ssize_t r = read(p[0], &c, 1);
  int err = errno;
  alarm(0);
  printf("read -> %zd %s\n", r, r < 0 ? strerror(err) : "");
  printf("handler ran at least once: %d, every run on main: %d\n", atomic_load(&runs) >= 1,
         atomic_load(&runs) == atomic_load(&on_expected));
  print_mask("main");
  unpark(&helper);
  close(p[0]);
  close(p[1]);
  return 0;
}

// inherit_threads(): a thread reports the mask it started with.
struct Creator {
  int block;  // the signal this creator blocks before creating
  char child_mask[256];
};

static void* creator_main(void* arg) {
  struct Creator* c = arg;
  if (c->block != 0) mask_signals(SIG_BLOCK, c->block, 0);
  struct Parked pk;
  park(&pk, 0, 0);
  memcpy(c->child_mask, pk.mask, sizeof pk.mask);
  unpark(&pk);
  return NULL;
}

static int inherit_threads(void) {
  struct Parked pk;
  mask_signals(SIG_BLOCK, SIGUSR2, 0);
  park(&pk, 0, 0);
  printf("created while main blocks SIGUSR2: %s\n", pk.mask);
  unpark(&pk);
  mask_signals(SIG_UNBLOCK, SIGUSR2, 0);
  park(&pk, 0, 0);
  printf("created after main unblocked it: %s\n", pk.mask);
  unpark(&pk);
  // A thread that blocks SIGHUP creates one: SIGHUP blocked; main's next thread: nothing.
  struct Creator c = {SIGHUP, ""};
  pthread_t t;
  CHECK(pthread_create(&t, NULL, creator_main, &c) == 0);
  CHECK(pthread_join(t, NULL) == 0);
  printf("created by a thread that blocks SIGHUP: %s\n", c.child_mask);
  park(&pk, 0, 0);
  printf("created by main meanwhile: %s\n", pk.mask);
  unpark(&pk);
  // Attributes do not change it: a detached thread with its own stack size.
  mask_signals(SIG_BLOCK, SIGUSR1, SIGTERM, 0);
  pthread_attr_t attr;
  CHECK(pthread_attr_init(&attr) == 0);
  CHECK(pthread_attr_setstacksize(&attr, 1 << 20) == 0);
  memset(&pk, 0, sizeof pk);
  CHECK(pipe2(pk.p, O_CLOEXEC) == 0);
  CHECK(pthread_create(&pk.t, &attr, parked_main, &pk) == 0);
  CHECK(wait_until(&pk.ready, 1));
  printf("created with attributes while main blocks SIGUSR1, SIGTERM: %s\n", pk.mask);
  unpark(&pk);
  print_mask("main");
  return 0;
}

// exec: dash resets the mask of the children it forks, not its own, so grep must replace it. And
// grep runs without the shim (a child under weftrun inherits it): /proc/self/status shows the
// thread group leader's mask, which under the shim is carrier 0's, not the reading thread's.
static const char* kGrep = "exec env -u LD_PRELOAD grep SigBlk /proc/self/status";

static void show_status(const char* how, int st) {
  printf("%s exited %d\n", how, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

static void* exec_children(void* arg) {
  (void)arg;
  mask_signals(SIG_BLOCK, SIGUSR1, SIGTERM, 0);
  print_mask("the calling thread");
  char* argv[] = {"/bin/sh", "-c", (char*)kGrep, NULL};
  printf("fork+execve: ");
  fflush(stdout);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    execve("/bin/sh", argv, environ);
    _exit(127);
  }
  int st;
  CHECK(waitpid(pid, &st, 0) == pid);
  show_status("fork+execve", st);
  printf("posix_spawn: ");
  fflush(stdout);
  CHECK(posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) == 0);
  CHECK(waitpid(pid, &st, 0) == pid);
  show_status("posix_spawn", st);
  printf("system: ");
  fflush(stdout);
  st = system(kGrep);
  show_status("system", st);
  print_mask("the calling thread afterwards");
  return NULL;
}

static int inherit_exec(void) {
  // Another thread blocks everything, main blocks SIGINT: neither may show in the children.
  struct Parked helper;
  park(&helper, 1, 0);
  mask_signals(SIG_BLOCK, SIGINT, 0);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, exec_children, NULL) == 0);
  CHECK(pthread_join(t, NULL) == 0);
  // And from main, which blocks SIGINT only (0x2).
  printf("from main: ");
  fflush(stdout);
  int st = system(kGrep);
  show_status("system from main", st);
  unpark(&helper);
  return 0;
}

static void fork_and_show(const char* who) {
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    char what[128];
    snprintf(what, sizeof what, "child forked by %s", who);
    print_mask(what);
    fflush(stdout);
    _exit(0);
  }
  int st;
  CHECK(waitpid(pid, &st, 0) == pid);
  show_status("child", st);
}

static void* fork_from_thread(void* arg) {
  (void)arg;
  mask_signals(SIG_BLOCK, SIGUSR1, SIGTERM, 0);
  print_mask("thread");
  fork_and_show("the thread");
  return NULL;
}

static int inherit_fork(void) {
  struct Parked helper;
  park(&helper, 1, 0);
  mask_signals(SIG_BLOCK, SIGHUP, 0);
  print_mask("main");
  fork_and_show("main");
  pthread_t t;
  CHECK(pthread_create(&t, NULL, fork_from_thread, NULL) == 0);
  CHECK(pthread_join(t, NULL) == 0);
  unpark(&helper);
  return 0;
}

// fork_pthread_kill(): everything happens in the child, which prints; the parent reports its end.
static int fork_child_signals(void) {
  handle(SIGUSR1, 0);
  reset_runs(pthread_self());
  CHECK(pthread_kill(pthread_self(), SIGUSR1) == 0);
  printf("child: pthread_kill(self): handler ran %d, on the calling thread %d\n",
         atomic_load(&runs), atomic_load(&on_expected));
  struct Parked t;
  park(&t, 0, 0);
  reset_runs(t.t);
  CHECK(pthread_kill(t.t, SIGUSR1) == 0);
  CHECK(wait_until(&runs, 1));
  printf("child: pthread_kill(other): handler ran %d, on that thread %d\n", atomic_load(&runs),
         atomic_load(&on_expected));
  // Process-directed, main blocks it: the other thread takes it.
  mask_signals(SIG_BLOCK, SIGUSR1, 0);
  reset_runs(t.t);
  CHECK(kill(getpid(), SIGUSR1) == 0);
  CHECK(wait_until(&runs, 1));
  printf("child: kill(getpid()) while main blocks it: handler ran %d, on the other thread %d\n",
         atomic_load(&runs), atomic_load(&on_expected));
  unpark(&t);
  return 0;
}

static int fork_pthread_kill(void) {
  struct Parked parent_thread;
  park(&parent_thread, 0, 0);
  fflush(stdout);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    int r = fork_child_signals();
    fflush(stdout);
    _exit(r);
  }
  int st;
  CHECK(waitpid(pid, &st, 0) == pid);
  show_status("child", st);
  unpark(&parent_thread);
  return 0;
}

static int sigurg(void) {
  struct sigaction old;
  CHECK(sigaction(SIGURG, NULL, &old) == 0);
  printf("SIGURG at start: SIG_DFL %d\n", old.sa_handler == SIG_DFL);
  CHECK(signal(SIGURG, SIG_IGN) != SIG_ERR);
  CHECK(sigaction(SIGURG, NULL, &old) == 0);
  printf("after signal(SIGURG, SIG_IGN): reads back SIG_IGN %d\n", old.sa_handler == SIG_IGN);
  CHECK(kill(getpid(), SIGURG) == 0);
  printf("kill(getpid(), SIGURG) while ignored: still here\n");
  // A helper thread blocks SIGURG: the process-directed signal can only go to main.
  struct Parked helper;
  park(&helper, 0, SIGURG);
  handle(SIGURG, 0);
  reset_runs(pthread_self());
  CHECK(sigaction(SIGURG, NULL, &old) == 0);
  printf("after installing a handler: reads back SIG_IGN %d, SIG_DFL %d\n",
         old.sa_handler == SIG_IGN, old.sa_handler == SIG_DFL);
  CHECK(kill(getpid(), SIGURG) == 0);
  // Single target thread: the kernel delivers to main before kill returns.
  printf("kill(getpid(), SIGURG): handler ran %d, on main %d, si_code SI_USER %d\n",
         atomic_load(&runs), atomic_load(&on_expected), last_code == SI_USER);
  reset_runs(pthread_self());
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int p[2];
  CHECK(pipe(p) == 0);
  struct pollfd pf = {p[0], POLLIN, 0};
  int r = poll(&pf, 1, 300);
  printf("idle poll of 300 ms -> %d, handler ran %d time(s), elapsed>=0.25: %d\n", r,
         atomic_load(&runs), elapsed_ms(&t0) >= 250);
  CHECK(signal(SIGURG, SIG_IGN) != SIG_ERR);
  CHECK(sigaction(SIGURG, NULL, &old) == 0);
  printf("SIG_IGN again reads back SIG_IGN %d\n", old.sa_handler == SIG_IGN);
  unpark(&helper);
  close(p[0]);
  close(p[1]);
  return 0;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  start_watchdog(25);
  const char* mode = argc > 1 ? argv[1] : "";
  if (strcmp(mode, "pending") == 0) return pending();
  if (strcmp(mode, "pending_thread") == 0) return pending_thread();
  if (strcmp(mode, "helper_blocks_all") == 0) return helper_blocks_all();
  if (strcmp(mode, "inherit_threads") == 0) return inherit_threads();
  if (strcmp(mode, "inherit_exec") == 0) return inherit_exec();
  if (strcmp(mode, "inherit_fork") == 0) return inherit_fork();
  if (strcmp(mode, "fork_pthread_kill") == 0) return fork_pthread_kill();
  if (strcmp(mode, "sigurg") == 0) return sigurg();
  printf("unknown mode '%s'\n", mode);
  return 2;
}
