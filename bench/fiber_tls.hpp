// What the benchmarks of per-fiber TLS (issue #13) need to know about it: whether a
// Tls::kPerFiber fiber really gets TLS of its own in this process, and how the runtime installs
// its thread pointer.
//
// Where this glibc cannot be checked, the runtime warns once and gives such a fiber its
// carrier's TLS; a benchmark must then say so, not time the fallback as if it were the real
// thing. bench/ may not include the runtime's headers (runtime/LAYERS), so the switch path is
// worked out here the way runtime/tls's probe chooses it.
#pragma once

#include <sys/auxv.h>

#include <cstdlib>
#include <cstring>

#include <weft/weft.hpp>

namespace bench {

// tls_probe is a thread-local whose address tells which TLS the code reading it sees.
inline thread_local int tls_probe = 0;

// own_tls_works() tells whether a Tls::kPerFiber fiber gets TLS of its own; runs on a fiber.
inline bool own_tls_works() {
  int* mine = &tls_probe;
  weft::SpawnOptions opts;
  opts.tls = weft::Tls::kPerFiber;
  int* its = weft::spawn_with(opts, [] { return &tls_probe; }).join();
  return its != mine;
}

// tls_switch_path() is how the runtime installs a fiber's thread pointer: "wrfsbase" when the
// kernel enabled FSGSBASE (AT_HWCAP2 bit 1) and WEFT_TLS_SWITCH is not "syscall", else
// "arch_prctl" (a system call). Valgrind, which also forces arch_prctl, is not considered.
inline const char* tls_switch_path() {
  const char* env = std::getenv("WEFT_TLS_SWITCH");
  bool syscall = env != nullptr && std::strcmp(env, "syscall") == 0;
  bool fsgsbase = (getauxval(AT_HWCAP2) & 2) != 0;
  return fsgsbase && !syscall ? "wrfsbase" : "arch_prctl";
}

}  // namespace bench
