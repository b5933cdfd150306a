// diff_tls_cxx: C++ thread_local objects are per thread (issue 13): each of 100 threads
// constructs its own (one at namespace scope, one inside a function that only half the threads
// call), finds its values after blocking calls, and has them destroyed when it ends -- in reverse
// order of construction, before its pthread key destructors (glibc runs __call_tls_dtors first
// at thread exit), and before pthread_join returns, also when it ends with pthread_exit and when
// a destructor itself blocks. Main's own thread_local is destroyed by exit(), before its atexit
// handler and the static destructors. Each thread logs these events in its own slot; main
// prints the distinct orders with their counts, which hold natively whatever the scheduling.
// No weft header.
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

namespace {

constexpr int kThreads = 100;
constexpr int kRounds = 10;

std::string events[kThreads + 1];  // events[kThreads] is main's
thread_local int tls_index = -1;   // trivial: no constructor, set first thing by each thread
int constructed_a, constructed_f, destroyed_a, destroyed_f, key_destroyed;
pthread_key_t key;

void check(bool ok, const char* what) {
  if (!ok) {
    std::printf("FAILED: %s\n", what);
    std::exit(1);
  }
}

void nap() {
  timespec ts = {0, 50000};
  nanosleep(&ts, nullptr);
}

struct Tracked {
  char tag;
  int owner;
  long value = 0;
  explicit Tracked(char t) : tag(t), owner(tls_index) {
    __atomic_fetch_add(tag == 'A' ? &constructed_a : &constructed_f, 1, __ATOMIC_RELAXED);
    events[owner] += std::string("+") + tag + " ";
  }
  ~Tracked() {
    if (tag == 'F') nap();  // a destructor that blocks
    __atomic_fetch_add(tag == 'A' ? &destroyed_a : &destroyed_f, 1, __ATOMIC_RELAXED);
    events[owner] += std::string("-") + tag + " ";
    if (owner == kThreads)
      std::printf("main's thread_local destroyed by exit(): %s\n", events[kThreads].c_str());
  }
};

struct Static {
  ~Static() { std::printf("static object destroyed\n"); }
} static_object;

thread_local Tracked tl_a('A');

Tracked& in_function() {
  thread_local Tracked f('F');
  return f;
}

void key_destructor(void* v) {
  int owner = static_cast<int>(reinterpret_cast<long>(v)) - 1;
  events[owner] += "key";
  __atomic_fetch_add(&key_destroyed, 1, __ATOMIC_RELAXED);
}

int kept;  // threads that found their values after the blocking calls

void* body(void* arg) {
  int id = static_cast<int>(reinterpret_cast<long>(arg));
  tls_index = id;
  tl_a.value = id;
  Tracked* a = &tl_a;
  if (id % 2 == 0) in_function().value = 10L * id;
  check(pthread_setspecific(key, reinterpret_cast<void*>(id + 1L)) == 0, "setspecific");
  bool ok = true;
  for (int r = 0; r < kRounds; r++) {
    if (r % 2 == 0) {
      nap();
    } else {
      sched_yield();
    }
    ok = ok && &tl_a == a && tl_a.value == id && tl_a.owner == id;
    if (id % 2 == 0) ok = ok && in_function().value == 10L * id;
  }
  if (ok) __atomic_fetch_add(&kept, 1, __ATOMIC_RELAXED);
  if (id % 4 == 1) pthread_exit(nullptr);
  return nullptr;
}

void at_exit() {
  std::printf("atexit handler\n");
}

}  // namespace

int main() {
  alarm(50);  // a hung run fails (SIGALRM) before meson's timeout
  check(atexit(at_exit) == 0, "atexit");
  check(pthread_key_create(&key, key_destructor) == 0, "key");
  tls_index = kThreads;
  tl_a.value = -1;

  pthread_t threads[kThreads];
  for (long i = 0; i < kThreads; i++)
    check(pthread_create(&threads[i], nullptr, body, reinterpret_cast<void*>(i)) == 0, "create");
  int done_at_join = 0;
  std::map<std::string, int> orders;
  for (int i = 0; i < kThreads; i++) {
    check(pthread_join(threads[i], nullptr) == 0, "join");
    // Nothing of thread i may happen after its join returned: its log is complete now.
    const std::string& e = events[i];
    if (e.find("-A") != std::string::npos && e.find("key") != std::string::npos) ++done_at_join;
    ++orders[e];
  }
  std::printf("%d threads (a quarter end with pthread_exit), %d rounds of blocking calls\n",
              kThreads, kRounds);
  std::printf("threads that found their thread_local values after blocking: %d\n", kept);
  std::printf("thread_local at namespace scope: constructed %d, destroyed %d (main's not yet)\n",
              constructed_a, destroyed_a);
  std::printf("thread_local in a function: constructed %d, destroyed %d\n", constructed_f,
              destroyed_f);
  std::printf("key destructors: %d\n", key_destroyed);
  std::printf("threads whose destructors had all run when pthread_join returned: %d\n",
              done_at_join);
  for (const auto& [order, count] : orders)
    std::printf("order '%s': %d threads\n", order.c_str(), count);
  std::fflush(stdout);
  bool good = kept == kThreads && constructed_a == kThreads + 1 && destroyed_a == kThreads &&
              constructed_f == kThreads / 2 && destroyed_f == kThreads / 2 &&
              key_destroyed == kThreads && done_at_join == kThreads;
  return good ? 0 : 1;
}
