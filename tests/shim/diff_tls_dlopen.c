// diff_tls_dlopen: the TLS of libraries loaded with dlopen() is per thread (issue 13). Main loads
// tls_module_early before it starts any thread, and tls_module_late (general-dynamic TLS: a
// __thread counter and a thread_local object with a destructor) and tls_module_ie (an
// initial-exec __thread variable, placed in the static TLS surplus) while 100 threads exist and
// wait. Each thread checks that it starts from each module's TLS image (also in the modules
// loaded after it started), steps its counters across blocking calls and finds exactly its own
// steps; the modules' thread_local objects are constructed once per thread and destroyed when
// the threads end. Main's own counter is untouched by the threads. No weft header.
//
// Usage: diff_tls_dlopen EARLY.so LATE.so IE.so
#include <dlfcn.h>
#include <pthread.h>

#include "check.h"

enum { kThreads = 100, kRounds = 10 };

// Module is what the program uses of one loaded tls_module.
struct Module {
  void* handle;
  long (*step)(int);
  void* (*counter_addr)(void);
  int (*object_owner)(int);
  int (*constructions)(void);
  int (*destructions)(void);
};

static struct Module early, late;
static void* ie_handle;
static long (*ie_step)(int);
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int waiting, loaded;
static int bad_image, bad_steps, bad_object;
static void* counter_addrs[kThreads];

// bind() sets the function pointer at fn to the function name of handle (through memcpy: ISO C
// has no conversion from dlsym's object pointer).
static void bind(void* fn, void* handle, const char* name) {
  void* p = dlsym(handle, name);
  CHECK(p != NULL);
  memcpy(fn, &p, sizeof p);
}

static struct Module load(const char* path) {
  struct Module m;
  m.handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (m.handle == NULL) {
    printf("FAILED: dlopen: %s\n", dlerror());
    exit(1);
  }
  bind(&m.step, m.handle, "tlsmod_step");
  bind(&m.counter_addr, m.handle, "tlsmod_counter_addr");
  bind(&m.object_owner, m.handle, "tlsmod_object_owner");
  bind(&m.constructions, m.handle, "tlsmod_constructions");
  bind(&m.destructions, m.handle, "tlsmod_destructions");
  return m;
}

static void nap(int r) {
  if (r % 2 == 0) {
    struct timespec ts = {0, 50000};
    CHECK(nanosleep(&ts, NULL) == 0);
  } else {
    CHECK(sched_yield() == 0);
  }
}

static void count(int* counter) {
  __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

// steps() steps a counter whose image is base kRounds times across blocking calls, checking that
// the first step starts from the image and that each finds exactly the thread's own steps.
static void steps(long (*step)(int), int id, long base) {
  long want = base;
  for (int r = 0; r < kRounds; r++) {
    want += id + 1;
    long got = step(id);
    if (r == 0 && got != want) count(&bad_image);
    if (r != 0 && got != want) count(&bad_steps);
    want = got;  // count a wrong step once
    nap(r);
  }
}

static void* worker(void* arg) {
  int id = (int)(long)arg;
  counter_addrs[id] = early.counter_addr();
  if (early.object_owner(id) != id) count(&bad_object);
  steps(early.step, id, 100);
  CHECK(pthread_mutex_lock(&lock) == 0);
  ++waiting;
  CHECK(pthread_cond_broadcast(&cond) == 0);
  while (!loaded) CHECK(pthread_cond_wait(&cond, &lock) == 0);
  CHECK(pthread_mutex_unlock(&lock) == 0);
  // The late modules were loaded after this thread started.
  if (late.object_owner(id) != id) count(&bad_object);
  steps(late.step, id, 100);
  if (ie_step != NULL) steps(ie_step, id, 4242);
  steps(early.step, id, 100 + (long)kRounds * (id + 1));
  if (early.object_owner(-1) != id || late.object_owner(-1) != id) count(&bad_object);
  return NULL;
}

int main(int argc, char** argv) {
  CHECK(argc == 4);
  alarm(50);  // a hung run fails (SIGALRM) before meson's timeout
  early = load(argv[1]);
  pthread_t threads[kThreads];
  for (long i = 0; i < kThreads; i++)
    CHECK(pthread_create(&threads[i], NULL, worker, (void*)i) == 0);

  CHECK(pthread_mutex_lock(&lock) == 0);
  while (waiting < kThreads) CHECK(pthread_cond_wait(&cond, &lock) == 0);
  late = load(argv[2]);
  ie_handle = dlopen(argv[3], RTLD_NOW | RTLD_LOCAL);
  if (ie_handle != NULL) {
    bind(&ie_step, ie_handle, "tlsie_step");
    printf("initial-exec module loaded while %d threads exist\n", kThreads);
  } else {
    // glibc refuses when the static TLS surplus is used up; natively it fits.
    printf("initial-exec module not loaded: %s\n", dlerror());
  }
  loaded = 1;
  CHECK(pthread_cond_broadcast(&cond) == 0);
  CHECK(pthread_mutex_unlock(&lock) == 0);
  for (int i = 0; i < kThreads; i++) CHECK(pthread_join(threads[i], NULL) == 0);

  int distinct = 1;
  for (int i = 0; i < kThreads; i++)
    for (int j = i + 1; j < kThreads; j++) distinct &= counter_addrs[i] != counter_addrs[j];
  long main_step = early.step(kThreads);
  printf("%d threads, %d steps per counter, each across a blocking call\n", kThreads, kRounds);
  printf("counters that did not start from their module's TLS image: %d\n", bad_image);
  printf("steps that found another thread's steps: %d\n", bad_steps);
  printf("thread_local objects that were not their thread's: %d\n", bad_object);
  printf("module counters of the threads at distinct addresses: %s\n", distinct ? "yes" : "no");
  printf("main's counter untouched by the threads: %s\n",
         main_step == 100 + kThreads + 1 ? "yes" : "no");
  printf("early module: objects constructed %d, destroyed %d\n", early.constructions(),
         early.destructions());
  printf("late module: objects constructed %d, destroyed %d\n", late.constructions(),
         late.destructions());
  int good = bad_image == 0 && bad_steps == 0 && bad_object == 0 && distinct &&
             main_step == 100 + kThreads + 1 && early.destructions() == kThreads &&
             late.destructions() == kThreads;
  CHECK(dlclose(late.handle) == 0 && dlclose(early.handle) == 0);
  if (ie_handle != NULL) CHECK(dlclose(ie_handle) == 0);
  return good ? 0 : 1;
}
