// thread_record: what the shim keeps for each program thread that runs as a fiber.
//
// A pthread_t handed to the program for a fiber thread is the address of its ThreadRecord with
// the low bit set. A real thread's pthread_t is the address of glibc's struct pthread, which is
// always aligned, so the low bit tells the two apart without a lookup, and a fiber's handle that
// leaks into a libc function not interposed is refused by the handle hooks instead of being
// dereferenced as a struct pthread.
//
// Lifetime: two references, the thread's own (dropped when its function has returned) and the
// joinable handle's (dropped by pthread_join or pthread_detach); the last one frees the record.
// The main fiber's record is made on first use, in static storage (that first use may be the
// program's malloc locking its mutex), and never freed; the others are weft memory
// (runtime/base/memory.hpp). A fiber finds its record through its owner word (sched/fls.hpp),
// which the keys' destructors cannot clear.
#pragma once

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <unwind.h>
#include <atomic>
#include <cstdint>

#include <weft/event.hpp>

#include <weft/fiber.hpp>
#include "base/lock.hpp"

namespace weft::shim {

// SigSlot is what a queued signal carries to its handler: a siginfo_t's code and the first
// words of its union (the sender's pid and uid, a timer's id and overrun, a value, a child's
// status), enough for every kind of sender.
struct SigSlot {
  // code is si_code.
  int code;
  // errno_ is si_errno.
  int errno_;
  // fields are the first bytes of siginfo_t's union.
  unsigned char fields[32];
};

// ThreadRecord is one fiber thread of the program.
struct ThreadRecord {
  // kMagic marks a live record, so a stale or forged odd pthread_t is refused with ESRCH.
  static constexpr std::uint32_t kMagic = 0x74666577;  // "weft"
  // kNameSize is a thread name's buffer size (pthread_setname_np allows 15 bytes).
  static constexpr std::size_t kNameSize = 16;
  // JoinState says who may still join the thread.
  enum JoinState : int { kJoinable, kDetached, kJoining };

  // magic is kMagic while the record lives.
  std::uint32_t magic = kMagic;
  // refs counts the thread itself and its joinable handle.
  std::atomic<int> refs{2};
  // join_state is kJoinable until pthread_join or pthread_detach claims the handle.
  std::atomic<int> join_state{kJoinable};
  // done is a futex word: 1 once the thread's function has returned (joiners off a fiber).
  std::atomic<std::uint32_t> done{0};
  // done_event is set once the thread's function has returned (joiners on a fiber).
  weft::Event done_event;
  // fn and arg are what pthread_create was given.
  void* (*fn)(void*) = nullptr;
  // arg is fn's argument.
  void* arg = nullptr;
  // retval is fn's result, or what pthread_exit was given.
  void* retval = nullptr;
  // is_main is set for the main fiber's record.
  bool is_main = false;
  // fiber is the thread's fiber, set by the thread itself when it starts and cleared (under
  // sig_lock) as it ends, so a sender holding sig_lock may interrupt it.
  std::atomic<detail::FiberControl*> fiber{nullptr};
  // sig_lock guards fiber's clearing, sig_ended and the slots against senders; it is held
  // through a SigLockScope (sigmask.hpp), since a signal handler may queue a signal too.
  rt::Lock sig_lock;
  // sig_pending has bit s-1 set for each signal s queued on this thread (pthread_kill, a
  // process-directed signal that chose this thread, raise) whose handler has not run on it yet.
  std::atomic<std::uint64_t> sig_pending{0};
  // sig_ended is set (under sig_lock) once the thread's function has returned: signals sent
  // from then on are dropped.
  bool sig_ended = false;
  // kSigSlots is how many queued signals keep their siginfo: signals queued on a thread are
  // few at a time, and 64 slots would make every thread's record kilobytes larger.
  static constexpr int kSigSlots = 8;
  // sig_slot_of is the signal each slot holds the siginfo of (0: free).
  std::uint8_t sig_slot_of[kSigSlots] = {};
  // sig_slot is the siginfo of the signal sig_slot_of names.
  SigSlot sig_slot[kSigSlots] = {};
  // sig_from_process has bit s-1 set when queued signal s was sent to the process (and chose this
  // thread): if the thread ends first, another takes it.
  std::uint64_t sig_from_process = 0;
  // sig_handler_depth counts the program's handlers running on this thread right now.
  int sig_handler_depth = 0;
  // sig_before_handler is the mask the thread had before the outermost of them.
  std::uint64_t sig_before_handler = 0;
  // sig_handled counts the program's handlers that ran on this thread (sigsuspend and pause
  // return once one has).
  std::atomic<unsigned> sig_handled{0};
  // sig_mask is the thread's signal mask as pthread_sigmask reports it (bit s-1 for signal s).
  std::atomic<std::uint64_t> sig_mask{0};
  // sig_counted is the mask the process-wide counts of sigmask.cpp hold for this thread (it
  // differs from sig_mask while a handler runs with its sa_mask added); under the registry lock.
  std::uint64_t sig_counted = 0;
  // sig_registered is set while the thread is in the registry (sigmask.cpp).
  bool sig_registered = false;
  // reg_next and reg_prev link the thread into the registry of live threads.
  ThreadRecord* reg_next = nullptr;
  // reg_prev is the thread before this one in the registry.
  ThreadRecord* reg_prev = nullptr;
  // name is the thread's name (pthread_setname_np), zero-terminated.
  char name[kNameSize] = {};
  // exit_jump is where pthread_exit's unwinding lands, in the frame that called fn.
  jmp_buf exit_jump;
  // exit_function is the function that called fn: pthread_exit's unwinding stops there.
  std::uintptr_t exit_function = 0;
  // unwind is pthread_exit's exception object (forced unwinding runs the C++ destructors).
  _Unwind_Exception unwind{};
};

// handle_of() is the pthread_t the program sees for t.
inline pthread_t handle_of(ThreadRecord* t) noexcept {
  return reinterpret_cast<std::uintptr_t>(t) | 1u;
}

// is_fiber_handle() tells whether h names a fiber thread (not a real one).
inline bool is_fiber_handle(pthread_t h) noexcept {
  return (h & 1u) != 0;
}

// record_of() returns the record behind a fiber thread's handle, or nullptr if it is not live.
inline ThreadRecord* record_of(pthread_t h) noexcept {
  auto* t = reinterpret_cast<ThreadRecord*>(h & ~static_cast<pthread_t>(1));
  return t != nullptr && t->magic == ThreadRecord::kMagic ? t : nullptr;
}

// current_thread() is the calling fiber's record (the main fiber's is made on first use); the
// caller must be on a fiber.
ThreadRecord* current_thread() noexcept;

// threads_init() prepares what the shim keeps for all threads (the event main waits on after
// pthread_exit).
void threads_init() noexcept;
// threads_after_fork_child() makes the forking thread the only thread of a forked child: with a
// fresh runtime (fresh), its fiber's record goes on and the child ends when its last thread does;
// without one, the thread keeps the fiber's pthread_t as a plain thread (call before the shim is
// turned off there).
void threads_after_fork_child(bool fresh) noexcept;

// run_main_fiber() runs the program's main on the calling fiber and exits with its status,
// as __libc_start_main would; pthread_exit from main waits for the other threads, then exits 0.
[[noreturn]] void run_main_fiber(int (*main)(int, char**, char**), int argc, char** argv,
                                 char** envp) noexcept;

}  // namespace weft::shim
