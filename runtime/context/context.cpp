#include "context/context.hpp"

// fcontext is Boost's assembly switch: the fastest one it has, and the one boost::context::fiber
// is built on. It is a detail API, but a stable one since Boost 1.61; keeping it behind this file
// means a Boost upgrade that changes it touches one file.
//
// On x86-64 (System V, ELF) the runtime switches with its own routine instead, written for one
// property Boost's lacks: it ends in `ret`. Boost's jump_fcontext pops the resumed context's
// return address and `jmp`s to it, so the `call` that entered it is never matched by a `ret`;
// the CPU's return stack buffer then pairs every later `ret` of the resumed fiber with the wrong
// call, and the first one (leaving Carrier::resume) mispredicts on every switch: half of a
// yield's time on the machine that measured it (docs/design.md, "Performance choices"). Here the
// switch stores the callee-saved registers and the floating-point control words below the
// suspending stack's pointer, saves that pointer as the suspended context, loads the target's,
// restores the same and returns into the target: calls and returns stay paired, and as both sides
// of a ping-pong switch from the same call site the `ret` is predicted too. Boost.Context remains
// the benchmark's reference (bench/switch_bench) and the switch on other architectures. Neither
// supports CET shadow stacks (Debian builds Boost without them; tls/ refuses CET processes).
#include <sys/syscall.h>
#include <sys/uio.h>
#include <boost/context/detail/fcontext.hpp>
#include <cstdint>

#include "base/sys.hpp"

#if defined(__x86_64__) && defined(__ELF__)
#define WEFT_OWN_SWITCH 1
#else
#define WEFT_OWN_SWITCH 0
#endif

#if WEFT_OWN_SWITCH
// A suspended context is its stack pointer; above it, from low to high: r12, r13, r14, r15, rbx,
// rbp, MXCSR (4 bytes) and the x87 control word (2, then 2 of padding), and the address the
// switch returns to. The frame is reserved once and filled with stores (pushes and pops measured
// about 1 ns a switch slower: the stack pointer's read after them costs a synchronisation).
// weft_context_start's CFI says its return address is undefined: it is the outermost frame of
// every fiber, where debuggers and unwinders (gdb's bt, the fiber dump's) stop.
// weft_switch(to, data) returns {the context it suspended, data} in rax:rdx, as a Transfer. A new
// context (weft_new_context) holds the entry function in the rbx slot and returns into
// weft_context_start, which calls entry(Transfer) on a 16-byte aligned stack; entry must never
// return (a ud2 follows the call).
extern "C" {
weft::rt::Transfer weft_switch(void* to, void* data) noexcept;
}
asm(R"(
  .text
  .p2align 4
  .globl weft_switch
  .hidden weft_switch
  .type weft_switch,@function
weft_switch:
  leaq -0x38(%rsp), %rsp
  stmxcsr 0x30(%rsp)
  fnstcw 0x34(%rsp)
  movq %r12, (%rsp)
  movq %r13, 0x8(%rsp)
  movq %r14, 0x10(%rsp)
  movq %r15, 0x18(%rsp)
  movq %rbx, 0x20(%rsp)
  movq %rbp, 0x28(%rsp)
  movq %rsp, %rax
  movq %rdi, %rsp
  ldmxcsr 0x30(%rsp)
  fldcw 0x34(%rsp)
  movq (%rsp), %r12
  movq 0x8(%rsp), %r13
  movq 0x10(%rsp), %r14
  movq 0x18(%rsp), %r15
  movq 0x20(%rsp), %rbx
  movq 0x28(%rsp), %rbp
  leaq 0x38(%rsp), %rsp
  movq %rsi, %rdx
  ret
  .size weft_switch, .-weft_switch

  .p2align 4
  .globl weft_context_start
  .hidden weft_context_start
  .type weft_context_start,@function
weft_context_start:
  .cfi_startproc
  .cfi_undefined rip
  movq %rax, %rdi
  movq %rdx, %rsi
  call *%rbx
  ud2
  .cfi_endproc
  .size weft_context_start, .-weft_context_start
)");

extern "C" void weft_context_start() noexcept;

// ContextLayout (context.hpp) tells debuggers where the frame above keeps each register; the
// offsets are the asm's literals, so a change to either must change both.
static_assert(weft::rt::ContextLayout::kR12 == 0x00 && weft::rt::ContextLayout::kRbx == 0x20 &&
              weft::rt::ContextLayout::kRbp == 0x28 && weft::rt::ContextLayout::kRip == 0x38 &&
              weft::rt::ContextLayout::kSp == 0x40);

namespace {

// kFrameWords is the size of a suspended context's saved frame, in 8-byte words.
constexpr std::size_t kFrameWords = 8;

// weft_new_context() builds the frame weft_switch restores for a context that starts in entry.
void* weft_new_context(void* top, weft::rt::EntryFn entry) noexcept {
  // The switch restores the frame and returns into weft_context_start with the stack pointer just
  // above it, which must be 16-byte aligned there so that its call gives entry the alignment the
  // ABI promises a function; the 16 bytes above stay unused.
  auto high = reinterpret_cast<std::uintptr_t>(top) & ~std::uintptr_t{15};
  auto* frame = reinterpret_cast<std::uint64_t*>(high - 16 - kFrameWords * 8);
  std::uint32_t mxcsr = 0;
  std::uint16_t fpucw = 0;
  __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
  __asm__ volatile("fnstcw %0" : "=m"(fpucw));
  frame[0] = frame[1] = frame[2] = frame[3] = 0;      // r12..r15
  frame[4] = reinterpret_cast<std::uint64_t>(entry);  // rbx
  frame[5] = 0;                                       // rbp: the outermost frame
  frame[6] = mxcsr | (std::uint64_t{fpucw} << 32);
  frame[7] = reinterpret_cast<std::uint64_t>(&weft_context_start);  // the return address
  return frame;
}

}  // namespace
#endif

namespace weft::rt {

namespace bcd = boost::context::detail;

ContextHandle make_context(void* top, std::size_t size, EntryFn entry) noexcept {
#if WEFT_OWN_SWITCH
  (void)size;
  return weft_new_context(top, entry);
#else
  // transfer_t and Transfer have the same layout (two pointers); the cast keeps Boost's types
  // out of every other file.
  static_assert(sizeof(bcd::transfer_t) == sizeof(Transfer));
  return bcd::make_fcontext(
      top, size, reinterpret_cast<void (*)(bcd::transfer_t)>(reinterpret_cast<void (*)()>(entry)));
#endif
}

Transfer jump(ContextHandle to, void* data) noexcept {
#if WEFT_OWN_SWITCH
  return weft_switch(to, data);
#else
  bcd::transfer_t t = bcd::jump_fcontext(static_cast<bcd::fcontext_t>(to), data);
  return Transfer{t.fctx, t.data};
#endif
}

bool saved_registers(ContextHandle h, SavedRegisters* out) noexcept {
#if WEFT_OWN_SWITCH
  // The frame weft_switch stored below the suspended stack pointer (layout above).
  std::uint64_t frame[kFrameWords];
  iovec local{frame, sizeof frame};
  iovec remote{h, sizeof frame};
  long n = sys::call(SYS_process_vm_readv, sys::call(SYS_getpid), &local, 1, &remote, 1, 0);
  if (h == nullptr || n != static_cast<long>(sizeof frame)) return false;
  auto at = reinterpret_cast<std::uintptr_t>(h);
  *out = SavedRegisters{
      frame[7], at + kFrameWords * 8, frame[5], frame[4], frame[0], frame[1], frame[2], frame[3]};
  return true;
#else
  (void)h;
  (void)out;
  return false;
#endif
}

}  // namespace weft::rt
