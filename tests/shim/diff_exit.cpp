// diff_exit: pthread_exit unwinds the thread's stack, running C++ destructors and catch(...)
// blocks that rethrow, as glibc's does; then join sees the value. No weft header.
#include <pthread.h>
#include <cstdio>
#include <string>

namespace {

struct Noisy {
  std::string name;
  ~Noisy() { std::printf("destroyed %s\n", name.c_str()); }
};

void inner() {
  Noisy n{"inner frame"};
  pthread_exit(reinterpret_cast<void*>(17));
}

void* body(void*) {
  Noisy outer{"outer frame"};
  try {
    inner();
  } catch (...) {
    std::printf("catch(...) saw the unwinding and rethrows\n");
    throw;
  }
  std::printf("not reached\n");
  return nullptr;
}

}  // namespace

int main() {
  pthread_t t;
  if (pthread_create(&t, nullptr, body, nullptr) != 0) return 1;
  void* r = nullptr;
  if (pthread_join(t, &r) != 0) return 2;
  std::printf("joined with %ld\n", reinterpret_cast<long>(r));
  return 0;
}
