// diff_tls_counters: every thread has its own __thread variables, also while it blocks and other
// threads run (issue 13). 1,000 threads each start by checking that their __thread data is the
// TLS image (a counter initialised to a non-zero value, a zero-filled array), not what another
// thread left there; then, for 20 rounds, each adds to its counter and marks its array, makes a
// blocking call (MODE) during which the other threads do the same to theirs, and checks that it
// finds exactly what it put there. With TLS shared by the fibers of a carrier, they see each
// other's steps. No weft header.
//
// MODE is the blocking call: yield (sched_yield), sleep (nanosleep), pipe (a token main passes
// through a pipe, one thread at a time), socketpair (pairs of threads ping-pong a byte), mutex (a
// mutex of ten threads held across yields, so the other nine wait for it), cond (a barrier of
// all 1,000 threads made of a mutex and a condition variable, every round).
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "check.h"

enum { kThreads = 1000, kRounds = 20, kGroup = 10, kInitial = 12345 };

static __thread long tls_counter = kInitial;
static __thread unsigned char tls_marks[kRounds];
static __thread int tls_index = -1;

static const char* mode;
static int token_in[2], token_back[2];  // pipe mode: main -> a thread -> main
static int pairs[kThreads / 2][2];      // socketpair mode: one socketpair per two threads
static pthread_mutex_t group_locks[kThreads / kGroup];            // mutex mode
static pthread_mutex_t barrier_lock = PTHREAD_MUTEX_INITIALIZER;  // cond mode
static pthread_cond_t barrier_cond = PTHREAD_COND_INITIALIZER;
static int barrier_count;
static unsigned barrier_generation;
static int bad_start, bad_round;  // threads whose data was wrong at start / after a call

static void barrier_wait(void) {
  CHECK(pthread_mutex_lock(&barrier_lock) == 0);
  unsigned gen = barrier_generation;
  if (++barrier_count == kThreads) {
    barrier_count = 0;
    ++barrier_generation;
    CHECK(pthread_cond_broadcast(&barrier_cond) == 0);
  } else {
    while (gen == barrier_generation) CHECK(pthread_cond_wait(&barrier_cond, &barrier_lock) == 0);
  }
  CHECK(pthread_mutex_unlock(&barrier_lock) == 0);
}

// block() is one blocking call of the mode for thread id.
static void block(int id) {
  char c = 'x';
  if (strcmp(mode, "yield") == 0) {
    CHECK(sched_yield() == 0);
  } else if (strcmp(mode, "sleep") == 0) {
    struct timespec ts = {0, 100000};
    CHECK(nanosleep(&ts, NULL) == 0);
  } else if (strcmp(mode, "pipe") == 0) {
    CHECK(read(token_in[0], &c, 1) == 1);
    CHECK(write(token_back[1], &c, 1) == 1);
  } else if (strcmp(mode, "socketpair") == 0) {
    int* sv = pairs[id / 2];
    if (id % 2 == 0) {
      CHECK(write(sv[0], &c, 1) == 1);
      CHECK(read(sv[0], &c, 1) == 1);
    } else {
      CHECK(read(sv[1], &c, 1) == 1);
      CHECK(write(sv[1], &c, 1) == 1);
    }
  } else if (strcmp(mode, "mutex") == 0) {
    pthread_mutex_t* m = &group_locks[id / kGroup];
    CHECK(pthread_mutex_lock(m) == 0);
    for (int i = 0; i < 3; i++) CHECK(sched_yield() == 0);
    CHECK(pthread_mutex_unlock(m) == 0);
  } else if (strcmp(mode, "cond") == 0) {
    barrier_wait();
  }
}

static void* worker(void* arg) {
  int id = (int)(long)arg;
  int ok = tls_counter == kInitial && tls_index == -1;
  for (int r = 0; r < kRounds; r++) ok = ok && tls_marks[r] == 0;
  if (!ok) __atomic_fetch_add(&bad_start, 1, __ATOMIC_RELAXED);
  // From here on the data is the thread's own: reset it so that a wrong start is counted once.
  tls_counter = kInitial;
  memset(tls_marks, 0, sizeof tls_marks);
  tls_index = id;
  int wrong = 0;
  for (int r = 0; r < kRounds; r++) {
    tls_counter += id + 1;
    tls_marks[r] = (unsigned char)(id + r + 1);
    block(id);
    wrong |= tls_index != id || tls_counter != kInitial + (long)(r + 1) * (id + 1);
    for (int k = 0; k <= r; k++) wrong |= tls_marks[k] != (unsigned char)(id + k + 1);
  }
  if (wrong) __atomic_fetch_add(&bad_round, 1, __ATOMIC_RELAXED);
  return NULL;
}

int main(int argc, char** argv) {
  CHECK(argc == 2);
  mode = argv[1];
  alarm(50);  // a hung run fails (SIGALRM) before meson's timeout
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (strcmp(mode, "socketpair") == 0) {
    // kThreads fds and a few: raise the soft limit if it is lower (the hard one allows it).
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    if (rl.rlim_cur < kThreads + 100) {
      rl.rlim_cur = rl.rlim_max < kThreads + 100 ? rl.rlim_max : kThreads + 100;
      CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    }
    if (rl.rlim_cur < kThreads + 100) {
      printf("SKIP: needs %d fds, the hard limit is %ld\n", kThreads + 100, (long)rl.rlim_max);
      return 77;
    }
    for (int i = 0; i < kThreads / 2; i++)
      CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, pairs[i]) == 0);
  }
  CHECK(pipe(token_in) == 0 && pipe(token_back) == 0);
  for (int i = 0; i < kThreads / kGroup; i++) CHECK(pthread_mutex_init(&group_locks[i], NULL) == 0);

  pthread_attr_t attr;
  CHECK(pthread_attr_init(&attr) == 0);
  CHECK(pthread_attr_setstacksize(&attr, 256 * 1024) == 0);
  static pthread_t threads[kThreads];
  for (long i = 0; i < kThreads; i++)
    CHECK(pthread_create(&threads[i], &attr, worker, (void*)i) == 0);
  if (strcmp(mode, "pipe") == 0) {
    // One token at a time: whoever reads it steps while the others wait in read().
    for (int i = 0; i < kThreads * kRounds; i++) {
      char c = 't';
      CHECK(write(token_in[1], &c, 1) == 1);
      CHECK(read(token_back[0], &c, 1) == 1);
    }
  }
  for (int i = 0; i < kThreads; i++) CHECK(pthread_join(threads[i], NULL) == 0);

  printf("mode %s: %d threads, %d rounds each\n", mode, kThreads, kRounds);
  printf("threads that did not start with the TLS image: %d\n", bad_start);
  printf("threads whose __thread data changed across a blocking call: %d\n", bad_round);
  return bad_start != 0 || bad_round != 0;
}
