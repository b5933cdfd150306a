// diff_alloc: threads that hammer malloc and free, with I/O, sleeps, locks and thread-specific
// data in between, so that fibers of one carrier enter the allocator one after another and
// blocks cross from thread to thread (the meson suite runs it with glibc's malloc, jemalloc,
// tcmalloc and mimalloc, and linked with -ljemalloc).
//
// 16 threads pass 4 tokens around a ring of pipes; each round a thread allocates 32 blocks of
// 16 bytes to 512 KiB (malloc, calloc, realloc, posix_memalign, strdup), fills them, checks and
// frees most of them, and hands the rest to the next thread in the ring along with its token,
// which checks and frees them: a free from another thread, and on two carriers from another
// carrier. Every few rounds a thread sleeps, takes a shared mutex, sets a key whose destructor
// frees, and starts and joins a thread that allocates too. Each thread's checksum is printed in
// order at the end, so both runs print the same thing.
//
// Built with DIFF_ALLOC_JEMALLOC and linked with -ljemalloc, the argument "jemalloc" makes it ask
// jemalloc's mallctl for its version, so the build cannot pass without jemalloc as its malloc.
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <unistd.h>

#include "check.h"

#ifdef DIFF_ALLOC_JEMALLOC
// mallctl is jemalloc's control interface (its header is not needed for this one call).
int mallctl(const char* name, void* oldp, size_t* oldlenp, void* newp, size_t newlen);
#endif

#ifdef DIFF_ALLOC_OWN_MALLOC
// The program's own malloc (built with DIFF_ALLOC_OWN_MALLOC): glibc's, behind one error-checking
// mutex that it holds across a sched_yield every fourth call. Linked into the program, the shim
// cannot tell it from the program's code (shim/allocator.hpp), so on a fiber that yield switches
// to the carrier's other fibers with the lock held. Nothing weft does for them, on their hooks'
// way or in the carrier's scheduler, may then need malloc: it would wait for a lock that only the
// yielded fiber can release, on the same carrier (the timed lock below gives up after 20 s and
// says so), and a hook that called malloc from inside this malloc would get EDEADLK.
extern void* __libc_malloc(size_t n);
extern void __libc_free(void* p);
extern void* __libc_calloc(size_t n, size_t size);
extern void* __libc_realloc(void* p, size_t n);
extern void* __libc_memalign(size_t align, size_t n);

static pthread_mutex_t g_malloc_lock = PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP;
static unsigned g_malloc_calls;

static void say(const char* msg) {
  ssize_t r = write(2, msg, strlen(msg));
  (void)r;
}

static void enter(void) {
  struct timespec limit;
  clock_gettime(CLOCK_REALTIME, &limit);
  limit.tv_sec += 20;
  int r = pthread_mutex_timedlock(&g_malloc_lock, &limit);
  if (r == EDEADLK) say("diff_alloc: malloc re-entered while it held its lock\n");
  if (r == ETIMEDOUT) say("diff_alloc: malloc's lock was held for 20 s\n");
  if (r != 0) abort();
  if (++g_malloc_calls % 4 == 0) sched_yield();
}

static void leave(void) {
  pthread_mutex_unlock(&g_malloc_lock);
}

void* malloc(size_t n) {
  enter();
  void* p = __libc_malloc(n);
  leave();
  return p;
}

void free(void* p) {
  if (p == NULL) return;
  enter();
  __libc_free(p);
  leave();
}

void* calloc(size_t n, size_t size) {
  enter();
  void* p = __libc_calloc(n, size);
  leave();
  return p;
}

void* realloc(void* p, size_t n) {
  enter();
  void* q = __libc_realloc(p, n);
  leave();
  return q;
}

void* memalign(size_t align, size_t n) {
  enter();
  void* p = __libc_memalign(align, n);
  leave();
  return p;
}

void* aligned_alloc(size_t align, size_t n) {
  return memalign(align, n);
}

int posix_memalign(void** out, size_t align, size_t n) {
  void* p = memalign(align, n);
  if (p == NULL) return ENOMEM;
  *out = p;
  return 0;
}

void* valloc(size_t n) {
  return memalign((size_t)sysconf(_SC_PAGESIZE), n);
}
#endif

enum { kThreads = 16, kTokens = 4, kRounds = 150, kBlocks = 32, kPassed = 4 };

// Handoff is what travels down the ring with the token: blocks the receiver checks and frees.
struct Handoff {
  unsigned char* block[kPassed];
  size_t size[kPassed];
  unsigned tag[kPassed];
};

static int g_ring[kThreads][2];
static pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER;
static long g_shared_counter;
static pthread_key_t g_key;
static uint64_t g_sums[kThreads];

static uint32_t next_rand(uint32_t* seed) {
  *seed = *seed * 1103515245u + 12345u;
  return *seed >> 8;
}

static size_t pick_size(uint32_t* seed) {
  uint32_t r = next_rand(seed);
  switch (r % 8) {
    case 0:
      return 16 + r % 64;
    case 1:
      return 100 + r % 1000;
    case 2:
      return 4096 + r % 4096;
    case 3:
      return 16384 + r % 50000;
    case 4:
      return 200000 + r % 320000;  // beyond every small-size class
    default:
      return 8 + r % 256;
  }
}

static void fill(unsigned char* p, size_t n, unsigned tag) {
  for (size_t i = 0; i < n - 1; i += 61) p[i] = (unsigned char)(tag + i);
  p[n - 1] = (unsigned char)tag;
}

static uint64_t check_sum(const unsigned char* p, size_t n, unsigned tag) {
  uint64_t sum = 0;
  for (size_t i = 0; i < n - 1; i += 61) {
    CHECK(p[i] == (unsigned char)(tag + i));
    sum += p[i];
  }
  CHECK(p[n - 1] == (unsigned char)tag);
  return sum + n;
}

static unsigned char* allocate(uint32_t* seed, size_t n) {
  void* p = NULL;
  switch (next_rand(seed) % 5) {
    case 0:
      p = calloc(1, n);
      break;
    case 1:
      CHECK(posix_memalign(&p, 64, n) == 0);
      CHECK(((uintptr_t)p & 63) == 0);
      break;
    case 2:
      p = malloc(n / 2 + 1);
      CHECK(p != NULL);
      p = realloc(p, n);
      break;
    default:
      p = malloc(n);
      break;
  }
  CHECK(p != NULL);
  return p;
}

static void free_value(void* v) {
  free(v);
}

static void* helper(void* arg) {
  uint32_t seed = (uint32_t)(uintptr_t)arg;
  uint64_t sum = 0;
  for (int i = 0; i < 20; ++i) {
    size_t n = pick_size(&seed);
    unsigned char* p = allocate(&seed, n);
    fill(p, n, (unsigned)i);
    sum += check_sum(p, n, (unsigned)i);
    free(p);
  }
  char* s = strdup("helper");
  CHECK(s != NULL && strcmp(s, "helper") == 0);
  free(s);
  return (void*)(uintptr_t)(sum & 0xffff);
}

static void* worker(void* arg) {
  int me = (int)(intptr_t)arg;
  int in = g_ring[me][0], out = g_ring[(me + 1) % kThreads][1];
  uint32_t seed = 7919u * (uint32_t)(me + 1);
  uint64_t sum = 0;
  unsigned char* blocks[kBlocks];
  size_t sizes[kBlocks];
  for (int round = 0; round < kRounds; ++round) {
    struct Handoff got;
    CHECK(read(in, &got, sizeof got) == (ssize_t)sizeof got);
    for (int i = 0; i < kPassed; ++i) {
      if (got.block[i] == NULL) continue;
      sum += check_sum(got.block[i], got.size[i], got.tag[i]);
      free(got.block[i]);
    }
    for (int i = 0; i < kBlocks; ++i) {
      sizes[i] = pick_size(&seed);
      blocks[i] = allocate(&seed, sizes[i]);
      fill(blocks[i], sizes[i], (unsigned)(me * 1000 + i));
    }
    struct Handoff give;
    for (int i = 0; i < kBlocks; ++i) {
      if (i < kPassed) {
        give.block[i] = blocks[i];
        give.size[i] = sizes[i];
        give.tag[i] = (unsigned)(me * 1000 + i);
        continue;
      }
      sum += check_sum(blocks[i], sizes[i], (unsigned)(me * 1000 + i));
      free(blocks[i]);
    }
    CHECK(write(out, &give, sizeof give) == (ssize_t)sizeof give);
    if (round % 10 == me % 10) usleep(200);
    if (round % 7 == 0) {
      CHECK(pthread_mutex_lock(&g_mutex) == 0);
      char* note = malloc(100);  // allocating with a mutex held, as real programs do
      CHECK(note != NULL);
      snprintf(note, 100, "%d:%d", me, round);
      g_shared_counter += (long)strlen(note) > 0;
      free(note);
      CHECK(pthread_mutex_unlock(&g_mutex) == 0);
    }
    if (round % 25 == 0) {
      void* old = pthread_getspecific(g_key);
      CHECK(pthread_setspecific(g_key, malloc(32 + (size_t)round)) == 0);
      free(old);
      pthread_t h;
      CHECK(pthread_create(&h, NULL, helper, (void*)(uintptr_t)(seed | 1)) == 0);
      void* r;
      CHECK(pthread_join(h, &r) == 0);
      sum += (uintptr_t)r;
    }
  }
  g_sums[me] = sum;
  return NULL;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc > 1 && strcmp(argv[1], "jemalloc") == 0) {
#ifdef DIFF_ALLOC_JEMALLOC
    const char* version = NULL;
    size_t size = sizeof version;
    CHECK(mallctl("version", &version, &size, NULL, 0) == 0);
    printf("jemalloc %s is the malloc\n", version);
#else
    CHECK(!"built without jemalloc");
#endif
  }
  CHECK(pthread_key_create(&g_key, free_value) == 0);
  for (int i = 0; i < kThreads; ++i) CHECK(pipe(g_ring[i]) == 0);
  pthread_t t[kThreads];
  for (int i = 0; i < kThreads; ++i) {
    CHECK(pthread_create(&t[i], NULL, worker, (void*)(intptr_t)i) == 0);
  }
  // Start the ring with kTokens empty hand-offs, so that as many threads work at once; each
  // thread reads and writes kRounds times, so the tokens end in the pipes they started in.
  struct Handoff none;
  memset(&none, 0, sizeof none);
  for (int k = 0; k < kTokens; ++k) {
    CHECK(write(g_ring[k * (kThreads / kTokens)][1], &none, sizeof none) == (ssize_t)sizeof none);
  }
  for (int i = 0; i < kThreads; ++i) CHECK(pthread_join(t[i], NULL) == 0);
  for (int k = 0; k < kTokens; ++k) {
    struct Handoff last;
    CHECK(read(g_ring[k * (kThreads / kTokens)][0], &last, sizeof last) == (ssize_t)sizeof last);
    for (int i = 0; i < kPassed; ++i) free(last.block[i]);
  }
  for (int i = 0; i < kThreads; ++i)
    printf("thread %d: checksum %llu\n", i, (unsigned long long)g_sums[i]);
  printf("mutex taken %ld times\n", g_shared_counter);
  return 0;
}
