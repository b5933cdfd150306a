// context: switching between stacks. The only file that includes Boost.Context is context.cpp.
//
// A switch saves and restores only the callee-saved registers, the stack pointer and the
// floating-point control words (MXCSR, x87 CW). It does NOT save: caller-saved registers
// (the compiler already spilled them around the call), errno, the signal mask, TLS, or the
// sanitizers' notion of the current stack. Anything that must follow a fiber across a switch
// lives in FiberControl, not in the thread.
#pragma once

#include <cstddef>
#include <cstdint>

namespace weft::rt {

// ContextHandle is a suspended execution context (Boost's fcontext_t); null once resumed.
using ContextHandle = void*;

// Transfer is what a resumed context receives: who suspended to resume it, and a payload.
struct Transfer {
  // from is the context that just suspended itself.
  ContextHandle from;
  // data is the payload the switcher passed.
  void* data;
};

// EntryFn is the first function a new context runs; it must never return.
using EntryFn = void (*)(Transfer);

// ContextLayout is where a suspended context keeps its registers, for readers of the process's
// memory from outside (sched/debug_info.hpp: the gdb extension): offsets from the context's
// handle, which is its saved stack pointer. kOwnSwitch tells whether the layout is the
// runtime's own x86-64 switch (context.cpp), whose frame the offsets describe; elsewhere the
// switch is Boost's and they are all zero.
struct ContextLayout {
#if defined(__x86_64__) && defined(__ELF__)
  // kOwnSwitch: the offsets below are valid.
  static constexpr bool kOwnSwitch = true;
  // kR12..kRbp are the callee-saved registers' slots, kRip the resume address, kSp the stack
  // pointer's value once resumed, all from the handle.
  static constexpr std::size_t kR12 = 0x00, kR13 = 0x08, kR14 = 0x10, kR15 = 0x18, kRbx = 0x20,
                               kRbp = 0x28, kRip = 0x38, kSp = 0x40;
#else
  static constexpr bool kOwnSwitch = false;
  static constexpr std::size_t kR12 = 0, kR13 = 0, kR14 = 0, kR15 = 0, kRbx = 0, kRbp = 0, kRip = 0,
                               kSp = 0;
#endif
};

// make_context prepares a context that runs entry on the stack whose highest address is top.
ContextHandle make_context(void* top, std::size_t size, EntryFn entry) noexcept;
// jump suspends the caller and resumes to, passing data; returns when someone resumes the caller.
Transfer jump(ContextHandle to, void* data) noexcept;

// SavedRegisters is what a suspended context saved of the registers an unwinder starts from: the
// resume address, the stack pointer after resuming, and the callee-saved registers (x86-64).
struct SavedRegisters {
  // rip is the address the context resumes at (a return address into its switch's caller).
  std::uintptr_t rip;
  // rsp is the stack pointer the context has once resumed, at rip.
  std::uintptr_t rsp;
  // rbp, rbx, r12..r15 are the callee-saved registers the switch restores.
  std::uintptr_t rbp, rbx, r12, r13, r14, r15;
};

// saved_registers() reads the registers a suspended context h saved into *out, through
// process_vm_readv, so that a handle whose context was resumed meanwhile (read from another
// thread) gives stale values, never a fault. Returns false where the switch's layout is not this
// runtime's own (architectures on Boost.Context) or the memory cannot be read.
bool saved_registers(ContextHandle h, SavedRegisters* out) noexcept;

}  // namespace weft::rt
