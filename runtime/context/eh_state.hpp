// The C++ runtime's per-thread exception state, which a fiber switch must carry along.
//
// libstdc++ keeps, per thread, the chain of exceptions currently caught (what `throw;` rethrows
// and what leaving a catch block pops and frees) and the count std::uncaught_exceptions()
// returns. Fibers share their carrier's thread, so without a save and restore around every
// switch, a fiber that blocks inside a catch block would pop and free another fiber's exception
// when it leaves the block. folly fibers does the same for the same reason.
#pragma once

#include <cxxabi.h>

namespace weft::rt {

// EhState mirrors libstdc++'s __cxa_eh_globals on x86-64 (unwind-cxx.h): two words, copied as is.
struct EhState {
  // caught is the most recently caught exception, heading the chain.
  void* caught = nullptr;
  // uncaught counts exceptions thrown and not yet caught.
  unsigned int uncaught = 0;
};

// thread_eh_state() returns the calling thread's exception state, which lives as long as the
// thread does, so a carrier looks it up once.
inline EhState* thread_eh_state() noexcept {
  return reinterpret_cast<EhState*>(abi::__cxa_get_globals());
}

}  // namespace weft::rt
