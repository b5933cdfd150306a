// real: libc's own versions of the interposed functions, found with dlsym(RTLD_NEXT).
//
// Every pass-through calls libc through a pointer resolved here, once per symbol: all of them
// eagerly from the library's constructor, and any one lazily if a call arrives before that
// (another library's constructor may read or write first). dlsym itself may allocate, and a
// program's own malloc may read a file while it initialises, so a lookup can re-enter a hook on
// the same thread; the thread-local guard makes the inner lookup fail instead of recursing, and
// the hooks that can be called there fall back to the raw system call (sys_fallback()).
#pragma once

#include <atomic>

#include "shim.hpp"
#include "table.hpp"

namespace weft::shim {

// real_ptr() returns libc's function for s, resolving it on first use; nullptr while this
// thread is itself inside a lookup, or if libc has no such symbol.
void* real_ptr(Sym s) noexcept;
// resolve_all() looks every symbol up now (called from the library's constructor).
void resolve_all() noexcept;

// WEFT_REAL(name) is libc's `name` as a correctly typed pointer (may be null; see real_ptr()).
#define WEFT_REAL(name) \
  reinterpret_cast<decltype(&::name)>(::weft::shim::real_ptr(::weft::shim::Sym::name))

// pass() calls libc's function real, or system call sysno with the same arguments while libc's
// is still being looked up (real is null). Not noexcept: libc's function may be a cancellation
// point, and a real thread cancelled inside it unwinds through the hook.
template <class Fn, class... A>
auto pass(Fn real, long sysno, A... args) {
  using R = decltype(real(args...));
  if (real != nullptr) return real(args...);
  return static_cast<R>(weft::shim::raw(sysno, args...));
}

}  // namespace weft::shim
