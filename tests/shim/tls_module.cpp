// tls_module: a shared library that diff_tls_dlopen loads with dlopen(), built twice (as
// tls_module_early and tls_module_late). Its __thread counter is general-dynamic TLS, reached
// through __tls_get_addr and the thread's DTV; its thread_local object has a constructor and a
// destructor, registered with __cxa_thread_atexit_impl, which keeps the library loaded until
// every thread that used it has run it. Plain C++, no weft header.
#include <atomic>

namespace {

std::atomic<int> constructions, destructions;
__thread long counter = 100;  // the TLS image: every thread starts with 100

struct Object {
  int owner = -1;
  Object() { ++constructions; }
  ~Object() { ++destructions; }
};
thread_local Object object;

}  // namespace

// tlsmod_step() adds id + 1 to the calling thread's counter and returns the new value.
extern "C" long tlsmod_step(int id) {
  return counter += id + 1;
}

// tlsmod_counter_addr() is the address of the calling thread's counter.
extern "C" void* tlsmod_counter_addr() {
  return &counter;
}

// tlsmod_object_owner() is the owner the calling thread's object records, set to id the first
// time (which constructs the object).
extern "C" int tlsmod_object_owner(int id) {
  if (object.owner < 0) object.owner = id;
  return object.owner;
}

// tlsmod_constructions() is how many objects were constructed (one per thread that used it).
extern "C" int tlsmod_constructions() {
  return constructions.load();
}

// tlsmod_destructions() is how many were destroyed (at the end of their threads).
extern "C" int tlsmod_destructions() {
  return destructions.load();
}
