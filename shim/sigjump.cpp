// sigjump: jumps out of the program's signal handlers (siglongjmp, longjmp and their kin), which
// skip the kernel's sigreturn: the carrier's kernel mask and the thread's emulated mask are set
// here as that return would have set them (see leave_handlers()).
#include <setjmp.h>
#include <signal.h>
#include <cstdlib>

#include "base/sys.hpp"
#include "real.hpp"
#include "shim.hpp"
#include "sigmask.hpp"
#include "signals.hpp"
#include "stats.hpp"
#include "thread_record.hpp"

// _FORTIFY_SOURCE's longjmp, declared by glibc only for fortified builds.
extern "C" void __longjmp_chk(__jmp_buf_tag* env, int val) noexcept __attribute__((noreturn));

using namespace weft::shim;  // NOLINT: the hooks below are this file's whole content

namespace {

// leave_handlers() is what a jump out of the program's signal handlers changes, before glibc's
// longjmp makes it: the kernel's sigreturn will not run, so the carrier gets its own share of the
// set back at once (not the handler's widened mask, which would deafen every fiber of the
// carrier); the thread's mask is what it was before the outermost handler when the jump
// restores a saved mask (sigsetjmp(env, 1), the usual way out of a SIGINT handler), and stays
// the handler's otherwise, as natively. A saved mask in env is the carrier's kernel mask at
// sigsetjmp, which glibc's longjmp puts back: it becomes the carrier's share now.
void leave_handlers(__jmp_buf_tag* env) noexcept {
  if (!on_fiber()) return;
  ThreadRecord* t = program_thread();
  bool saved = env->__mask_was_saved != 0;
  if (t != nullptr && t->sig_handler_depth > 0) {
    t->sig_handler_depth = 0;
    if (saved) set_thread_mask(t, t->sig_before_handler);
    sigset_t share;
    sigset_of(applied_here(), &share);
    weft::sys::set_signal_mask(share);
  }
  if (saved) sigset_of(applied_here(), &env->__saved_mask);
}

// jump() calls libc's longjmp real, which the dynamic linker always has (its absence is fatal).
[[noreturn]] void jump(void (*real)(__jmp_buf_tag*, int), __jmp_buf_tag* env, int val) noexcept {
  if (real == nullptr) {
    weft::sys::write_stderr("weft: libc's longjmp cannot be found\n");
    std::abort();
  }
  real(env, val);
  __builtin_unreachable();
}

}  // namespace

extern "C" {

WEFT_EXPORT void siglongjmp(sigjmp_buf env, int val) noexcept {
  count(Sym::siglongjmp, fiber_route());
  leave_handlers(env);
  jump(WEFT_REAL(siglongjmp), env, val);
}

WEFT_EXPORT void longjmp(jmp_buf env, int val) noexcept {
  count(Sym::longjmp, fiber_route());
  leave_handlers(env);
  jump(WEFT_REAL(longjmp), env, val);
}

WEFT_EXPORT void _longjmp(jmp_buf env, int val) noexcept {
  count(Sym::_longjmp, fiber_route());
  leave_handlers(env);
  jump(WEFT_REAL(_longjmp), env, val);
}

// What _FORTIFY_SOURCE builds call for longjmp (it checks the jump goes up the stack).
WEFT_EXPORT void __longjmp_chk(jmp_buf env, int val) noexcept {
  count(Sym::__longjmp_chk, fiber_route());
  leave_handlers(env);
  jump(WEFT_REAL(__longjmp_chk), env, val);
}

}  // extern "C"
