// diff_tls_churn: threads that end under load give back everything they had (issue 13). 100,000
// threads, 100 at a time: each starts with the TLS images of a __thread buffer and a counter,
// constructs a thread_local object whose destructor runs at its end, mallocs and frees a few
// sizes (malloc's per-thread cache), gets strerror() of an unknown number (a per-thread buffer
// glibc frees at thread exit), sets a pthread key whose destructor frees its value, and yields.
// Main counts what every thread saw and checks that the resident set did not grow between the
// 10,000th and the 100,000th thread: anything kept per ended thread would show there. It prints
// "rss flat", not the sizes, which differ between runs (they go to stderr). No weft header.
//
// The bound, 2 MiB over the last 90,000 threads, is 23 bytes per thread: less than the smallest
// malloc chunk (32 bytes), so even one leaked allocation per thread exceeds it, let alone a
// thread's control block and TLS (kilobytes), its dynamic TLS or its stack. Natively the set is
// flat once glibc's stack cache and malloc arenas are warm (the first thousands of threads): it
// grows by about 130 KiB over the last 90,000 threads, a sixteenth of the bound.
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

constexpr int kBatch = 100;
constexpr int kTotal = 100000;
constexpr int kFirst = 10000;
constexpr long kBound = 2L << 20;

__thread char tls_buffer[512];
__thread long tls_counter = 77;

int constructed, destroyed, key_destroyed, bad_tls, bad_strerror, bad_object;
pthread_key_t key;

struct Object {
  long value = 5;
  char* owned = static_cast<char*>(std::malloc(200));
  Object() { __atomic_fetch_add(&constructed, 1, __ATOMIC_RELAXED); }
  ~Object() {
    std::free(owned);
    __atomic_fetch_add(&destroyed, 1, __ATOMIC_RELAXED);
  }
};
thread_local Object object;

void key_destructor(void* v) {
  std::free(v);
  __atomic_fetch_add(&key_destroyed, 1, __ATOMIC_RELAXED);
}

void* body(void* arg) {
  int id = static_cast<int>(reinterpret_cast<long>(arg));
  bool tls_ok = tls_counter == 77;
  for (char c : tls_buffer) tls_ok = tls_ok && c == 0;
  std::memset(tls_buffer, id, sizeof tls_buffer);
  tls_counter = id;
  if (object.value != 5) __atomic_fetch_add(&bad_object, 1, __ATOMIC_RELAXED);
  object.value = id;

  static const size_t sizes[] = {24, 200, 1500, 40000, 300000};
  for (size_t size : sizes) {
    char* p = static_cast<char*>(std::malloc(size));
    p[0] = p[size - 1] = 1;
    std::free(p);
  }
  int unknown = 5000 + id % 1000;
  const char* text = strerror(unknown);
  char want[64];
  std::snprintf(want, sizeof want, "Unknown error %d", unknown);
  pthread_setspecific(key, std::malloc(64));

  sched_yield();

  if (std::strcmp(text, want) != 0) __atomic_fetch_add(&bad_strerror, 1, __ATOMIC_RELAXED);
  tls_ok = tls_ok && tls_counter == id && tls_buffer[0] == static_cast<char>(id) &&
           tls_buffer[sizeof tls_buffer - 1] == static_cast<char>(id);
  if (!tls_ok) __atomic_fetch_add(&bad_tls, 1, __ATOMIC_RELAXED);
  if (object.value != id) __atomic_fetch_add(&bad_object, 1, __ATOMIC_RELAXED);
  return nullptr;
}

// resident() is the resident set size in bytes, from /proc/self/statm.
long resident() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  long size = 0, pages = 0;
  if (f == nullptr || std::fscanf(f, "%ld %ld", &size, &pages) != 2) {
    std::printf("FAILED: cannot read /proc/self/statm\n");
    std::exit(1);
  }
  std::fclose(f);
  return pages * sysconf(_SC_PAGESIZE);
}

}  // namespace

int main() {
  alarm(100);  // a hung run fails (SIGALRM) before meson's timeout
  if (pthread_key_create(&key, key_destructor) != 0) return 1;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 128 * 1024);
  long first = 0;
  for (int done = 0; done < kTotal; done += kBatch) {
    if (done == kFirst) first = resident();
    pthread_t threads[kBatch];
    for (int i = 0; i < kBatch; i++) {
      if (pthread_create(&threads[i], &attr, body, reinterpret_cast<void*>(done + i + 1L)) != 0) {
        std::printf("FAILED: pthread_create after %d threads\n", done + i);
        return 1;
      }
    }
    for (pthread_t t : threads) pthread_join(t, nullptr);
  }
  long last = resident(), growth = last - first;
  // The sizes go to stderr, which differential.sh does not compare, for whoever reads a failure.
  std::fprintf(stderr, "resident after %d threads: %ld KiB, after %d: %ld KiB\n", kFirst,
               first >> 10, kTotal, last >> 10);
  std::printf("%d threads, %d at a time\n", kTotal, kBatch);
  std::printf("thread_local objects constructed %d, destroyed %d, found changed %d\n", constructed,
              destroyed, bad_object);
  std::printf("key destructors %d; __thread data not the thread's own: %d\n", key_destroyed,
              bad_tls);
  std::printf("strerror texts changed under their thread: %d\n", bad_strerror);
  std::printf(growth < kBound ? "rss flat\n" : "rss grew by more than 2 MiB\n");
  bool good = constructed == kTotal && destroyed == kTotal && key_destroyed == kTotal &&
              bad_object == 0 && bad_tls == 0 && bad_strerror == 0 && growth < kBound;
  return good ? 0 : 1;
}
