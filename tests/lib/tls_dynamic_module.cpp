// tls_dynamic_module: a library test_tls_block dlopens, whose TLS is reached through the DTV
// (__tls_get_addr, the general-dynamic model of -fPIC code): a __thread counter and a C++
// thread_local whose destructor runs at thread (or block) exit.
#include <atomic>

namespace {

std::atomic<int> g_dtors{0};

// Counted is a thread_local whose destructor counts itself.
struct Counted {
  int value = 7;
  ~Counted() { g_dtors.fetch_add(1); }
};

__thread int t_counter = 100;
thread_local Counted t_counted;

}  // namespace

// weft_test_dynamic_counter() is the calling thread's counter (100 in a new thread).
extern "C" int* weft_test_dynamic_counter() {
  return &t_counter;
}
// weft_test_dynamic_touch() constructs the calling thread's thread_local and reads it.
extern "C" int weft_test_dynamic_touch() {
  return t_counted.value;
}
// weft_test_dynamic_dtors() is how many of the thread_locals were destroyed.
extern "C" int weft_test_dynamic_dtors() {
  return g_dtors.load();
}
