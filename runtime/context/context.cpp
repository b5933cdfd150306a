#include "context/context.hpp"

// fcontext is Boost's assembly switch: the fastest one it has, and the one boost::context::fiber
// is built on. It is a detail API, but a stable one since Boost 1.61; keeping it behind this file
// means a Boost upgrade that changes it touches one file.
//
// On x86-64 (System V, ELF) the switch is fcontext's own, copied below with its context layout,
// except for how it ends: Boost's jump_fcontext pops the resumed context's return address and
// `jmp`s to it, so the `call` that entered it is never matched by a `ret`. The CPU's return stack
// buffer then pairs every later `ret` of the resumed fiber with the wrong call, and the first one
// (leaving Carrier::resume) mispredicts on every switch: half of a yield's time on the machine
// that measured it (docs/design.md, "Performance choices"). Ending in `ret` keeps the calls and
// returns paired; both fibers of a ping-pong switch from the same call site, so the `ret` itself
// is predicted too. Boost.Context's benchmark reference (bench/switch_bench) still uses Boost's.
// Neither version supports CET shadow stacks (Debian builds Boost without them).
#include <boost/context/detail/fcontext.hpp>

#if defined(__x86_64__) && defined(__ELF__)
#define WEFT_OWN_FCONTEXT 1
#else
#define WEFT_OWN_FCONTEXT 0
#endif

#if WEFT_OWN_FCONTEXT
// A context's saved frame, as in Boost's make/jump_x86_64_sysv_elf_gas.S: MXCSR at 0x0, the x87
// control word at 0x4, r12-r15 at 0x8-0x20, rbx at 0x28, rbp at 0x30, the return address at
// 0x38. make_context stores the entry function as rbx, a trap as rbp (the entry's return
// address: it must never return) and the trampoline as the return address.
extern "C" {
weft::rt::Transfer weft_jump_context(void* to, void* data) noexcept;
void* weft_make_context(void* top, std::size_t size, weft::rt::EntryFn entry) noexcept;
}
asm(R"(
  .text
  .p2align 4
  .globl weft_jump_context
  .hidden weft_jump_context
  .type weft_jump_context,@function
weft_jump_context:
  leaq -0x38(%rsp), %rsp
  stmxcsr (%rsp)
  fnstcw 0x4(%rsp)
  movq %r12, 0x8(%rsp)
  movq %r13, 0x10(%rsp)
  movq %r14, 0x18(%rsp)
  movq %r15, 0x20(%rsp)
  movq %rbx, 0x28(%rsp)
  movq %rbp, 0x30(%rsp)
  movq %rsp, %rax
  movq %rdi, %rsp
  ldmxcsr (%rsp)
  fldcw 0x4(%rsp)
  movq 0x8(%rsp), %r12
  movq 0x10(%rsp), %r13
  movq 0x18(%rsp), %r14
  movq 0x20(%rsp), %r15
  movq 0x28(%rsp), %rbx
  movq 0x30(%rsp), %rbp
  leaq 0x38(%rsp), %rsp
  movq %rsi, %rdx
  movq %rax, %rdi
  ret
  .size weft_jump_context, .-weft_jump_context

  .p2align 4
  .globl weft_make_context
  .hidden weft_make_context
  .type weft_make_context,@function
weft_make_context:
  movq %rdi, %rax
  andq $-16, %rax
  leaq -0x40(%rax), %rax
  movq %rdx, 0x28(%rax)
  stmxcsr (%rax)
  fnstcw 0x4(%rax)
  leaq weft_context_trampoline(%rip), %rcx
  movq %rcx, 0x38(%rax)
  leaq weft_context_trap(%rip), %rcx
  movq %rcx, 0x30(%rax)
  ret
  .size weft_make_context, .-weft_make_context

weft_context_trampoline:
  pushq %rbp
  jmp *%rbx
weft_context_trap:
  ud2
)");
#endif

namespace weft::rt {

namespace bcd = boost::context::detail;

ContextHandle make_context(void* top, std::size_t size, EntryFn entry) noexcept {
#if WEFT_OWN_FCONTEXT
  return weft_make_context(top, size, entry);
#else
  // transfer_t and Transfer have the same layout (two pointers); the cast keeps Boost's types
  // out of every other file.
  static_assert(sizeof(bcd::transfer_t) == sizeof(Transfer));
  return bcd::make_fcontext(
      top, size, reinterpret_cast<void (*)(bcd::transfer_t)>(reinterpret_cast<void (*)()>(entry)));
#endif
}

Transfer jump(ContextHandle to, void* data) noexcept {
#if WEFT_OWN_FCONTEXT
  return weft_jump_context(to, data);
#else
  bcd::transfer_t t = bcd::jump_fcontext(static_cast<bcd::fcontext_t>(to), data);
  return Transfer{t.fctx, t.data};
#endif
}

}  // namespace weft::rt
