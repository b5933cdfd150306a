// Telling AddressSanitizer, ThreadSanitizer and valgrind about fiber stacks.
//
// All three assume a thread runs on one stack. A fiber switch moves the stack pointer to memory
// they know nothing about, and then they report nonsense: ASan takes the fiber stack for heap or
// global memory and, when an exception unwinds (__cxa_throw calls __asan_handle_no_return), says
// "ASan is ignoring requested __asan_handle_no_return" and leaves stale poison that later shows
// up as false stack-buffer-overflows; TSan keeps one shadow call stack per thread, which every
// finished fiber leaves a few frames deeper (its last switch never returns) until TSan aborts;
// valgrind sees the stack pointer jump by megabytes, warns "client switching stacks?" and treats
// the memory between as freed. So:
// - ASan: __sanitizer_start_switch_fiber(save, bottom, size) before each jump names the stack we
//   go to, __sanitizer_finish_switch_fiber(save, &old_bottom, &old_size) after it restores the
//   resumed context's fake stack (stack-use-after-return) and reports the bounds of the stack
//   we came from; every ContextSlot keeps those, so the scheduler context learns its own (the
//   thread's stack) on its first switch away. A finishing fiber passes a null save so its fake
//   stack is freed. A stack taken from the pool is unpoisoned: a finished fiber's last frames
//   never returned, so their redzones would still be poisoned under the next fiber.
// - TSan: a TSan fiber per weft fiber, created at spawn and destroyed with the stack;
//   __tsan_switch_to_fiber(to, 0) before each jump. Flags 0 makes each switch a happens-before
//   edge, which is what cooperative switching on one thread is. TSan treats a fiber as a
//   thread: GCC 12's runtime aborts past 8128 live ones ("Thread limit exceeded") and keeps
//   about 850 KiB for each, so a program with more live fibers cannot run under TSan.
// - valgrind: each stack is registered (VALGRIND_STACK_REGISTER) when its slot is first handed
//   out and deregistered when the pool unmaps it (StackPool).
// In a build without sanitizers the ASan and TSan functions are empty and SanitizerContext has
// no members, so the switch path compiles to what it was; the valgrind requests cost a few
// instructions per new stack slot, none per switch.
#pragma once

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define WEFT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT_ASAN 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define WEFT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WEFT_TSAN 1
#endif
#endif

#if defined(WEFT_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(WEFT_TSAN)
#include <sanitizer/tsan_interface.h>
// AnnotateNewMemory() is TSan's dynamic annotation that forgets what it knew of a range.
extern "C" void AnnotateNewMemory(const char* file, int line, const volatile void* mem,
                                  std::size_t size);
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
#define WEFT_VALGRIND 1
#endif
#endif

namespace weft::rt::san {

// SanitizerContext is what the sanitizers need to know about one context (a fiber or the
// scheduler) to switch to it; it lives in the context's ContextSlot.
struct SanitizerContext {
#if defined(WEFT_ASAN)
  // stack_bottom and stack_size are the context's stack, as ASan is to be told.
  const void* stack_bottom = nullptr;
  // stack_size is the size of the stack at stack_bottom.
  std::size_t stack_size = 0;
  // finishing marks a finished fiber: its last switch frees its fake stack.
  bool finishing = false;
#endif
#if defined(WEFT_TSAN)
  // tsan_fiber is TSan's handle for the context.
  void* tsan_fiber = nullptr;
#endif
};

// FakeStack holds, in a suspended switching frame, ASan's fake stack of that context.
struct FakeStack {
#if defined(WEFT_ASAN)
  // save is what __sanitizer_start_switch_fiber stored.
  void* save = nullptr;
#endif
};

// on_carrier_start() records the scheduler context, the thread's own; ASan learns its stack
// bounds on its first switch away.
inline void on_carrier_start([[maybe_unused]] SanitizerContext& sched) noexcept {
#if defined(WEFT_TSAN)
  sched.tsan_fiber = __tsan_get_current_fiber();
#endif
}

// on_spawn() prepares a new fiber's context on the stack [bottom, bottom + size); TSan's reports
// name the fiber after it.
inline void on_spawn([[maybe_unused]] SanitizerContext& fiber, [[maybe_unused]] const void* bottom,
                     [[maybe_unused]] std::size_t size,
                     [[maybe_unused]] const char* name) noexcept {
#if defined(WEFT_ASAN)
  fiber.stack_bottom = bottom;
  fiber.stack_size = size;
#endif
#if defined(WEFT_TSAN)
  fiber.tsan_fiber = __tsan_create_fiber(0);
  if (name[0] != '\0') __tsan_set_fiber_name(fiber.tsan_fiber, name);
#endif
}

// on_finish() marks a fiber that will switch away for the last time.
inline void on_finish([[maybe_unused]] SanitizerContext& fiber) noexcept {
#if defined(WEFT_ASAN)
  fiber.finishing = true;
#endif
}

// on_destroy() forgets a finished fiber whose stack is being released.
inline void on_destroy([[maybe_unused]] SanitizerContext& fiber) noexcept {
#if defined(WEFT_TSAN)
  __tsan_destroy_fiber(fiber.tsan_fiber);
  fiber.tsan_fiber = nullptr;
#endif
}

// start_switch() goes right before the jump from `from` to `to`.
inline void start_switch([[maybe_unused]] FakeStack& fake,
                         [[maybe_unused]] const SanitizerContext& from,
                         [[maybe_unused]] const SanitizerContext& to) noexcept {
#if defined(WEFT_ASAN)
  __sanitizer_start_switch_fiber(from.finishing ? nullptr : &fake.save, to.stack_bottom,
                                 to.stack_size);
#endif
#if defined(WEFT_TSAN)
  __tsan_switch_to_fiber(to.tsan_fiber, 0);
#endif
}

// finish_switch() goes right after a jump lands (or first thing in a new fiber); `from` is the
// context that jumped here, whose stack bounds ASan reports.
inline void finish_switch([[maybe_unused]] const FakeStack& fake,
                          [[maybe_unused]] SanitizerContext& from) noexcept {
#if defined(WEFT_ASAN)
  __sanitizer_finish_switch_fiber(fake.save, &from.stack_bottom, &from.stack_size);
#endif
}

// stack_reused() clears what a stack's previous fiber left in the sanitizers' shadow memory.
inline void stack_reused([[maybe_unused]] void* base, [[maybe_unused]] std::size_t size) noexcept {
#if defined(WEFT_ASAN)
  ASAN_UNPOISON_MEMORY_REGION(base, size);
#endif
}

// kernel_mapped() tells TSan that [base, base + size) is a new mapping. liburing maps and unmaps
// its rings with raw system calls, which TSan does not see, so a ring mapped where another
// thread's ring was before still carries that thread's accesses, and TSan reports writes to the
// new ring's SQEs as races with the old one's.
inline void kernel_mapped([[maybe_unused]] const void* base,
                          [[maybe_unused]] std::size_t size) noexcept {
#if defined(WEFT_TSAN)
  AnnotateNewMemory(__FILE__, __LINE__, base, size);
#endif
}

// on_valgrind() tells whether the process runs under valgrind.
inline bool on_valgrind() noexcept {
#if defined(WEFT_VALGRIND)
  return RUNNING_ON_VALGRIND != 0;
#else
  return false;
#endif
}

// register_stack() tells valgrind that [base, base + size) is a stack; returns its id.
inline unsigned register_stack([[maybe_unused]] char* base,
                               [[maybe_unused]] std::size_t size) noexcept {
#if defined(WEFT_VALGRIND)
  // valgrind's stack ranges include their end.
  return VALGRIND_STACK_REGISTER(base, base + size - 1);
#else
  return 0;
#endif
}

// deregister_stack() undoes register_stack().
inline void deregister_stack([[maybe_unused]] unsigned id) noexcept {
#if defined(WEFT_VALGRIND)
  VALGRIND_STACK_DEREGISTER(id);
#endif
}

// kernel_filled() tells valgrind the kernel wrote [buf, buf + n): memcheck sees read(2) and
// recv(2) fill their buffers, but not an io_uring completion, and would flag the data as
// uninitialised. One client request per completed read under valgrind, a no-op elsewhere.
inline void kernel_filled([[maybe_unused]] const void* buf,
                          [[maybe_unused]] std::size_t n) noexcept {
#if defined(WEFT_VALGRIND)
  VALGRIND_MAKE_MEM_DEFINED(buf, n);
#endif
}

}  // namespace weft::rt::san
