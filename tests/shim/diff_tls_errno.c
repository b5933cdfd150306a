// diff_tls_errno: errno and the rest of the C library's per-thread state belong to each thread,
// also while it blocks and other threads change theirs (issue 13). 200 threads, 40 rounds: each
// thread sets its state to values of its own, makes a blocking call during which the others set
// theirs, and checks that it finds its values. No weft header.
//
// MODE errno: errno, set by assignment, by a failing call that weft interposes (open, read on
// an empty non-blocking pipe) and by one it does not (dup), across nanosleep, sched_yield, poll,
// a condition variable and a pipe; a successful call leaves it alone. (The shim keeps errno per
// fiber today by saving it around every hook, so this mode holds under shared TLS too; it must
// still hold once errno lives in each thread's own block.)
// MODE libc: state glibc keeps in its own TLS that no hook saves: h_errno, the buffer strerror()
// returns for an unknown error number (and strsignal()'s), the thread's locale (uselocale), the
// resolver state (_res) and dlerror()'s message. Each line counts the threads that found another
// thread's value.
#include <dlfcn.h>
#include <locale.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <resolv.h>
#include <signal.h>

#include "check.h"

enum { kThreads = 200, kRounds = 40 };

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;

// block() is one blocking call, a different one each round.
static void block(int r) {
  switch (r % 4) {
    case 0: {
      struct timespec ts = {0, 50000};
      CHECK(nanosleep(&ts, NULL) == 0);
      break;
    }
    case 1:
      CHECK(sched_yield() == 0);
      break;
    case 2:
      CHECK(poll(NULL, 0, 1) == 0);
      break;
    case 3: {
      struct timespec until = in_ms(CLOCK_REALTIME, 1);
      CHECK(pthread_mutex_lock(&lock) == 0);
      int rc = pthread_cond_timedwait(&cond, &lock, &until);
      CHECK(rc == 0 || rc == ETIMEDOUT);
      CHECK(pthread_mutex_unlock(&lock) == 0);
      break;
    }
  }
}

static int errno_changed;

// errno_rounds() sets errno in a way of the round and checks it after a blocking call, which
// must not change it even when it succeeds.
static void errno_rounds(int id) {
  int p[2];
  CHECK(pipe2(p, O_NONBLOCK) == 0);
  int wrong = 0;
  for (int r = 0; r < kRounds; r++) {
    int want;
    char c = 'x';
    switch (r % 4) {
      case 0:
        errno = want = 10000 + id * 100 + r;
        break;
      case 1:
        CHECK(open(id % 2 ? "/nonexistent/tls-test" : "/", O_WRONLY) < 0);
        want = id % 2 ? ENOENT : EISDIR;
        break;
      case 2:
        CHECK(read(p[0], &c, 1) < 0);
        want = EAGAIN;
        break;
      default:
        CHECK(dup(-1 - id) < 0);
        want = EBADF;
        break;
    }
    wrong |= errno != want;
    block(r);
    wrong |= errno != want;
    CHECK(write(p[1], &c, 1) == 1 && read(p[0], &c, 1) == 1);  // succeeds: errno stays
    wrong |= errno != want;
  }
  close(p[0]);
  close(p[1]);
  if (wrong) __atomic_fetch_add(&errno_changed, 1, __ATOMIC_RELAXED);
}

// The libc mode's facts, each counted in the threads that found another thread's value.
enum { kErrno, kHErrno, kStrerror, kStrsignal, kLocale, kResolver, kDlerror, kFacts };
static const char* const fact_names[kFacts] = {"errno",
                                               "h_errno",
                                               "strerror's buffer",
                                               "strsignal's buffer",
                                               "uselocale",
                                               "_res (resolver state)",
                                               "dlerror"};
static int changed[kFacts];

static void libc_rounds(int id) {
  int wrong[kFacts] = {0};
  locale_t mine = newlocale(LC_ALL_MASK, "C", (locale_t)0);
  CHECK(mine != (locale_t)0);
  char want_err[64], want_sig[64], want_dl[64];
  for (int r = 0; r < kRounds; r++) {
    int unknown = 100000 + id * 100 + r;
    snprintf(want_err, sizeof want_err, "Unknown error %d", unknown);
    const char* err = strerror(unknown);
    const char* sig = strsignal(1000 + id);
    snprintf(want_sig, sizeof want_sig, "%s", sig);
    snprintf(want_dl, sizeof want_dl, "/nonexistent/tls-test-%d-%d.so", id, r);
    CHECK(dlopen(want_dl, RTLD_NOW) == NULL);
    CHECK(uselocale(mine) != (locale_t)0);
    _res.retry = id + 1;
    h_errno = 1000 + id;
    errno = 2000 + id;

    block(r);

    wrong[kErrno] |= errno != 2000 + id;
    wrong[kHErrno] |= h_errno != 1000 + id;
    wrong[kResolver] |= _res.retry != id + 1;
    wrong[kLocale] |= uselocale((locale_t)0) != mine;
    wrong[kStrerror] |= strcmp(err, want_err) != 0;
    wrong[kStrsignal] |= strcmp(sig, want_sig) != 0;
    const char* dl = dlerror();
    wrong[kDlerror] |= dl == NULL || strstr(dl, want_dl) == NULL;
  }
  uselocale(LC_GLOBAL_LOCALE);
  freelocale(mine);
  for (int f = 0; f < kFacts; f++)
    if (wrong[f]) __atomic_fetch_add(&changed[f], 1, __ATOMIC_RELAXED);
}

static const char* mode;

static void* worker(void* arg) {
  int id = (int)(long)arg;
  if (strcmp(mode, "errno") == 0) {
    errno_rounds(id);
  } else {
    libc_rounds(id);
  }
  return NULL;
}

int main(int argc, char** argv) {
  CHECK(argc == 2 && (strcmp(argv[1], "errno") == 0 || strcmp(argv[1], "libc") == 0));
  mode = argv[1];
  alarm(50);  // a hung run fails (SIGALRM) before meson's timeout
  pthread_t threads[kThreads];
  for (long i = 0; i < kThreads; i++)
    CHECK(pthread_create(&threads[i], NULL, worker, (void*)i) == 0);
  for (int i = 0; i < kThreads; i++) CHECK(pthread_join(threads[i], NULL) == 0);
  printf("mode %s: %d threads, %d rounds each with a blocking call\n", mode, kThreads, kRounds);
  int bad = 0;
  if (strcmp(mode, "errno") == 0) {
    printf("threads whose errno changed: %d\n", errno_changed);
    bad = errno_changed;
  } else {
    for (int f = 0; f < kFacts; f++) {
      printf("threads whose %s changed: %d\n", fact_names[f], changed[f]);
      bad += changed[f];
    }
  }
  return bad != 0;
}
