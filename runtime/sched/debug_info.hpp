// debug_info: what a debugger needs to find every fiber of the process, without debug info.
//
// The gdb extension (runtime/debug/weft-gdb.py: `info fibers`, `fiber bt N`, `fiber N`) reads
// a live process or a core file of a release build, which is compiled without -g: it cannot ask
// DWARF where FiberControl keeps its name or how a carrier links its fibers. So the runtime
// exports one C-ABI object, weft_debug_info, that says so: a magic and a version, the offsets of
// every field the extension reads, the values of the states, the layout of a suspended context,
// and where the registry of live runs is. libweft.so exports it as a plain dynamic symbol;
// libweft_preload.so, which exports nothing else of the runtime, lists it in its version script
// (shim/gen_exports.py), so stripping .symtab leaves it findable in either.
//
// Every field is a 64-bit word (weft is 64-bit only; three are addresses, typed as such), so a
// reader parses the object as an array and names its words by position; a new word goes at the end,
// with `size` telling a reader how many there are, and a change to the meaning of one bumps
// `version`. The static_asserts in debug_info.cpp tie each offset to the code, so the layout of
// FiberControl or Carrier may change freely: only this object follows.
//
// The registry: runs[] is a fixed table of kMaxRuns slots, each a Run* or null. A Run takes a
// slot when it is constructed and frees it when destroyed, with one compare-exchange each, no
// lock (a forked child inherits no lock held by a thread that is gone). Runs beyond kMaxRuns at
// once are counted in runs_unlisted, which the extension reports, and are not shown.
//
// What a reader walks (docs/design.md, "Debugging with gdb"): for each run, its carriers
// (Run::slots_, count_ of them); for each carrier, its started unfinished fibers (the two-way list
// all_, through FiberControl::all_next_), its fresh queue and its run queue (through
// FiberControl::next_; of those, only fibers not started yet: a started ready fiber is in all_
// too), and its running fiber. A suspended fiber's registers are at FiberControl::slot_.ctx,
// laid out as context/context.hpp's ContextLayout says.
#pragma once

#include <cstdint>

namespace weft::rt {

class Run;

// debug_add_run() lists run in the registry the debugger walks (Run's constructor).
void debug_add_run(Run* run) noexcept;
// debug_remove_run() takes run out of the registry (Run's destructor).
void debug_remove_run(Run* run) noexcept;

}  // namespace weft::rt

extern "C" {

// weft_debug_info_t is the descriptor's layout: 64-bit words, in this order, forever (new words
// are appended; see the file comment). Offsets are in bytes from the start of the named object.
struct weft_debug_info_t {
  // magic is "weftdbg" with a zero byte, as a little- or big-endian word.
  char magic[8];
  // version is 1; it changes when a word's meaning does.
  std::uint64_t version;
  // size is sizeof(weft_debug_info_t): how many words a reader may read.
  std::uint64_t size;
  // runs is the address of the registry: max_runs words, each a Run* or 0.
  const void* runs;
  // max_runs is the registry's length.
  std::uint64_t max_runs;
  // runs_unlisted is the address of a 32-bit count of runs that found the registry full.
  const void* runs_unlisted;
  // run_carriers is Run::slots_: an array of Carrier* (null where a carrier has not started).
  std::uint64_t run_carriers;
  // run_carrier_count is Run::count_: a 32-bit count of carriers (of slots to read).
  std::uint64_t run_carrier_count;
  // run_serial is Run::serial_: 32 bits, the run's number in the process, from 1.
  std::uint64_t run_serial;
  // carrier_index is Carrier::index_ (32 bits).
  std::uint64_t carrier_index;
  // carrier_tid is Carrier::tid_: the carrier thread's kernel thread id (32 bits).
  std::uint64_t carrier_tid;
  // carrier_running is Carrier::running_: the fiber running now, or null in the scheduler.
  std::uint64_t carrier_running;
  // carrier_fibers is the head of Carrier::all_: the first started, unfinished fiber.
  std::uint64_t carrier_fibers;
  // carrier_fresh is the head of Carrier::fresh_: fibers placed here, not started.
  std::uint64_t carrier_fresh;
  // carrier_run_queue is the head of Carrier::run_queue_.
  std::uint64_t carrier_run_queue;
  // carrier_stalled is Carrier::stalled_ (one byte: the watchdog sees the carrier stuck).
  std::uint64_t carrier_stalled;
  // fiber_size is sizeof(FiberControl): a reader may read a whole block at once.
  std::uint64_t fiber_size;
  // fiber_id is FiberControl::id_ (64 bits).
  std::uint64_t fiber_id;
  // fiber_name is FiberControl::name_: a char array, zero-terminated, fiber_name_size long.
  std::uint64_t fiber_name;
  // fiber_name_size is the size of that array.
  std::uint64_t fiber_name_size;
  // fiber_state is FiberControl::state_ (one byte; values below).
  std::uint64_t fiber_state;
  // fiber_wait_kind is FiberControl::wait_kind_ (one byte; names in wait_kind_names).
  std::uint64_t fiber_wait_kind;
  // fiber_wait_what is FiberControl::wait_what_: a pointer to a C string, or null.
  std::uint64_t fiber_wait_what;
  // fiber_wait_fd is FiberControl::wait_fd_ (32 bits, -1 for none).
  std::uint64_t fiber_wait_fd;
  // fiber_wait_since is FiberControl::wait_since_: when the fiber last blocked, in ns of
  // CLOCK_MONOTONIC_COARSE (64 bits, 0 for never).
  std::uint64_t fiber_wait_since;
  // fiber_cancelled is FiberControl::cancelled_ (one byte).
  std::uint64_t fiber_cancelled;
  // fiber_started is FiberControl::started_ (one byte).
  std::uint64_t fiber_started;
  // fiber_context is FiberControl::slot_.ctx: the suspended context, valid while not running.
  std::uint64_t fiber_context;
  // fiber_tp is FiberControl::slot_.tp: the thread pointer (%fs) the fiber runs with, or null
  // for its carrier thread's.
  std::uint64_t fiber_tp;
  // fiber_fibers_next is FiberControl::all_next_: the next fiber of Carrier::all_.
  std::uint64_t fiber_fibers_next;
  // fiber_queue_next is FiberControl::next_: the next fiber of a run or fresh queue.
  std::uint64_t fiber_queue_next;
  // fiber_carrier is FiberControl::carrier_: the Carrier* the fiber runs on.
  std::uint64_t fiber_carrier;
  // state_ready, state_running, state_blocked, state_done are FiberState's values.
  std::uint64_t state_ready;
  // state_running: see state_ready.
  std::uint64_t state_running;
  // state_blocked: see state_ready.
  std::uint64_t state_blocked;
  // state_done: see state_ready.
  std::uint64_t state_done;
  // wait_kind_names is the address of a C string naming WaitKind's values in order,
  // comma-separated ("none,io,...").
  const void* wait_kind_names;
  // context_layout is 1 for the runtime's own x86-64 switch (the ctx_ words are valid), 0 for
  // Boost.Context's (not described here).
  std::uint64_t context_layout;
  // ctx_r12 .. ctx_rbp are where a suspended context keeps those registers, from its handle.
  std::uint64_t ctx_r12;
  // ctx_r13: see ctx_r12.
  std::uint64_t ctx_r13;
  // ctx_r14: see ctx_r12.
  std::uint64_t ctx_r14;
  // ctx_r15: see ctx_r12.
  std::uint64_t ctx_r15;
  // ctx_rbx: see ctx_r12.
  std::uint64_t ctx_rbx;
  // ctx_rbp: see ctx_r12.
  std::uint64_t ctx_rbp;
  // ctx_rip is where the resume address is, from the handle.
  std::uint64_t ctx_rip;
  // ctx_sp is the stack pointer once resumed, as an offset from the handle.
  std::uint64_t ctx_sp;
};

// weft_debug_info is the process's descriptor (one per copy of the runtime: libweft.so and
// libweft_preload.so each have theirs).
extern const weft_debug_info_t weft_debug_info;

}  // extern "C"
