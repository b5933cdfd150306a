// diag: names for raw addresses, and stacks of parked fibers, through elfutils' libdw.
//
// A Symbolizer serves one report (a stall sample, a fiber dump). It loads libdw with dlopen the
// first time any report needs it, not at start: libweft_preload.so is loaded into every program
// weftrun starts, and linking libdw would map libdw, libelf, zlib, liblzma, libbz2 and libzstd
// into each of them for a report most never print. It then reports the process's modules as
// they are now (dwfl_linux_proc_report: /proc/self/maps, so a library dlopened since the last
// report is seen) and looks each address up: the function from the symbol table (.symtab when
// the file has one, .dynsym otherwise, or a separate debug file), demangled; the source file and
// line where DWARF line tables exist; the module's file name.
//
// A parked fiber's stack is unwound from the registers its switch saved
// (context/saved_registers()) by libdw's unwinder (CFI, with frame pointers as its fallback),
// given a pseudo-thread whose registers are those and whose memory reads go through
// process_vm_readv on our own pid: a fiber resumed while it is read, or a bad CFI entry, gives
// garbage frames (bounded by kMaxFrames), never a fault.
//
// Without libdw (not installed, or WEFT_LIBDW=none) a report falls back to module+offset lines
// (diag/stack.hpp) and says once how to get names; parked fibers then have no stack.
// WEFT_LIBDW=PATH loads that file instead of libdw.so.1.
#pragma once

#include <string>

#include "context/context.hpp"
#include "diag/stack.hpp"

namespace weft::rt::diag {

struct SymbolizerState;

// Symbolizer resolves the stacks of one report; not thread-safe, cheap to make when libdw is
// missing, about a millisecond plus the modules' symbol tables when it is not.
class Symbolizer {
 public:
  // Symbolizer() loads libdw if no report has yet, and reports the process's modules.
  Symbolizer() noexcept;
  // ~Symbolizer() frees what the modules' lookups cached.
  ~Symbolizer();
  Symbolizer(const Symbolizer&) = delete;
  Symbolizer& operator=(const Symbolizer&) = delete;

  // resolves() tells whether frames get names (libdw loaded and the modules reported).
  bool resolves() const noexcept;
  // append() appends one line per frame of s to out: "INDENT#N 0xADDR function+0xOFF
  // (file:line) in module", or the module+offset form without libdw, after which the first call
  // appends missing_note() once.
  void append(const RawStack& s, const char* indent, std::string& out);
  // unwind() walks the stack of a suspended context from regs into *out (at most kMaxFrames);
  // false when it cannot (no libdw, or not even the first frame).
  bool unwind(const SavedRegisters& regs, RawStack* out) noexcept;
  // missing_note() says how to get names when libdw cannot be loaded.
  static const char* missing_note() noexcept;

 private:
  SymbolizerState* st_ = nullptr;
  bool noted_ = false;
};

}  // namespace weft::rt::diag
