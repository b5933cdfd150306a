// thread_block: a glibc thread of its own for a fiber -- its thread control block (struct
// pthread) and static TLS block, built the way nptl builds them for a new pthread, plus the
// thread-pointer switch (the %fs base) that makes it the running thread's.
//
// x86-64 glibc uses TLS variant II: the thread pointer points at struct pthread, whose first
// member is the psABI's tcbhead_t; every module's static TLS sits below it at tp - l_tls_offset,
// and the DTV (from ld.so's _dl_allocate_tls) reaches dynamic TLS. A fiber given such a block
// and switched to with its thread pointer installed sees its own errno, __thread and
// thread_local variables, pthread_self() and every library's per-thread state, as a thread does.
//
// Everything beyond the psABI (sizeof(struct pthread), the offsets of tid, list, robust_head,
// specific, stackblock, res, tls_state, rseq_area; libc's hidden malloc TLS: tcache,
// tcache_shutting_down, thread_arena) is read from glibc at run time (libthread_db descriptors,
// GLIBC_PRIVATE symbols found with dlvsym, __rseq_offset) or measured on a calibration pthread
// run on a stack of ours, then cross-checked; a complete block life cycle is tried once in a
// forked child. Any failed check makes available() false with a reason (reason()); nothing then
// uses a block, and fibers share their carrier's TLS as before. docs/design.md, "Per-fiber
// thread-local storage", lists every private symbol and offset and how each is checked.
#pragma once

#include <cstddef>
#include <cstdint>

namespace weft::rt::tls {

// available() tells whether fibers can have blocks of their own in this process; the first call
// runs the checks (once, thread-safe, about a millisecond); false in ASan and TSan builds, whose
// own per-thread state lives in the TLS a switch would hide.
bool available() noexcept;
// reason() is why available() is false, one line, or "" when it is true.
const char* reason() noexcept;
// switch_name() is how set_tp() installs a thread pointer in this process, "wrfsbase" or
// "arch_prctl" (WEFT_TLS_SWITCH=syscall, no FSGSBASE, or valgrind), or "" when available() is
// false; for reports and tests.
const char* switch_name() noexcept;

// block_size() is how many bytes, below the thread pointer and the TCB above it, a block takes:
// the program's whole static TLS plus struct pthread, rounded to block_align().
std::size_t block_size() noexcept;
// block_align() is the alignment the thread pointer needs (the static TLS alignment, >= 64).
std::size_t block_align() noexcept;
// static_tls_size() is the program's static TLS without the TCB, for reports.
std::size_t static_tls_size() noexcept;

// ThreadBlock is one fiber's glibc thread: where its thread pointer is and what the runtime
// keeps about it. It lives inside the memory create() was given.
struct ThreadBlock {
  // tp is the thread pointer: the fiber's struct pthread, what %fs points at while it runs.
  char* tp = nullptr;
  // generation is ld.so's TLS generation the block was initialised at (for after_dlopen()).
  std::uint64_t generation = 0;
  // prev and next link the live blocks (after_dlopen() walks them).
  ThreadBlock* prev = nullptr;
  // next is the next live block.
  ThreadBlock* next = nullptr;
  // released is set once release() gave back what the block holds outside its memory.
  bool released = false;
};

// create() builds a block in the top of [lo, hi) (the fiber's stack memory, whose frames will
// run below it), as nptl does for a thread: struct pthread and the static TLS images, a DTV, a
// unique thread id, the stack guard and pointer guard of the process, the stack recorded as the
// thread's (lo..new top). Returns the block, and in *new_top the highest address the fiber's
// frames may use; nullptr if the range is too small or ld.so could not allocate the DTV.
// available() must be true.
ThreadBlock* create(char* lo, char* hi, char** new_top) noexcept;
// on_start() runs on the fiber, with its thread pointer installed, before the fiber's code: what
// glibc's start_thread does first (ctype tables, resolver state).
void on_start() noexcept;
// call_tls_dtors() runs on the fiber as it ends: the C++ thread_local destructors registered
// through __cxa_thread_atexit_impl, which glibc runs first at thread exit.
void call_tls_dtors() noexcept;
// on_exit() runs on the fiber after call_tls_dtors() and the fiber's other exit work: glibc's
// pthread key destructors, then what __libc_thread_freeres frees (strerror/strsignal buffers,
// dlerror state, the resolver, and last malloc's per-thread cache), so nothing leaks.
void on_exit() noexcept;
// release() gives back what the block holds outside its memory (the DTV and the dynamic TLS
// blocks, the program's malloc's: only a program thread may wait for that malloc's lock, never a
// carrier's scheduler) and unlinks it; the fiber calls it as the last of its exit, after which
// no code of the program's may run on the block.
void release(ThreadBlock* b) noexcept;
// destroy() is release() for a block whose fiber did not get to call it (one that never ran);
// called on another context once the fiber can no longer run.
void destroy(ThreadBlock* b) noexcept;
// after_dlopen() copies the initial-exec TLS images of modules dlopen() loaded since into every
// live block, as glibc does at once for its own threads; returns how many blocks it updated.
// create() calls it when a block is made at a newer generation than the last, and a switch
// into a block when stale() says so.
int after_dlopen() noexcept;

namespace detail {
// g_generation is ld.so's TLS generation counter, or nullptr where it was not found.
extern const volatile std::size_t* g_generation;
// g_caught_up is the generation the live blocks were last caught up to.
extern volatile std::size_t g_caught_up;
}  // namespace detail

// stale() tells whether dlopen or dlclose changed the modules with TLS since the live blocks
// were last caught up: one load and compare, for every switch into a block.
inline bool stale() noexcept {
  const volatile std::size_t* gen = detail::g_generation;
  return gen != nullptr && *gen != detail::g_caught_up;
}

// current_tp() is the calling thread's thread pointer.
inline char* current_tp() noexcept {
#if defined(__x86_64__)
  char* p;
  asm volatile("mov %%fs:0, %0" : "=r"(p));
  return p;
#else
  return static_cast<char*>(__builtin_thread_pointer());
#endif
}
// set_tp() installs tp as the calling thread's thread pointer: wrfsbase where the kernel allows
// it (HWCAP2_FSGSBASE), else arch_prctl(ARCH_SET_FS). Nothing may touch TLS between set_tp()
// and the switch to the context tp belongs to.
void set_tp(char* tp) noexcept;
// tp_offset() is the distance from the thread pointer to v, a static-TLS variable of the
// calling thread: the same in every block, so the runtime can seed its own variables in a
// block before switching to it. Aborts if v is not in the calling thread's static TLS.
std::ptrdiff_t tp_offset(const void* v) noexcept;

}  // namespace weft::rt::tls
