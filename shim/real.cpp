#include "real.hpp"

#include <dlfcn.h>

namespace weft::shim {
namespace {

std::atomic<void*> g_real[kSymCount];
// initial-exec: a lookup may happen while the program's malloc initialises, and a dynamic TLS
// access (__tls_get_addr) may itself allocate. The preloaded library is part of the initial
// set, so its TLS is in the static block.
constinit thread_local bool tls_resolving __attribute__((tls_model("initial-exec"))) = false;

}  // namespace

void* real_ptr(Sym s) noexcept {
  void* p = g_real[index(s)].load(std::memory_order_acquire);
  if (p != nullptr || tls_resolving) return p;
  tls_resolving = true;
  p = ::dlsym(RTLD_NEXT, kSymNames[index(s)]);
  tls_resolving = false;
  // Two threads may both look the symbol up; they find the same address.
  g_real[index(s)].store(p, std::memory_order_release);
  return p;
}

void resolve_all() noexcept {
  for (std::size_t i = 0; i < kSymCount; ++i) real_ptr(static_cast<Sym>(i));
}

}  // namespace weft::shim
