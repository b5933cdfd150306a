// diag: a stack as raw addresses, and its module+offset form that needs no library.
//
// Every report that shows a stack (the stall watchdog's sample, the fiber dump, the stack
// overflow report) first collects raw program counters into a RawStack: in a signal handler,
// with backtrace() (warmed beforehand), or by unwinding a parked fiber's saved registers. Names
// are looked up afterwards, off the signal path, by the Symbolizer (symbolizer.hpp). What needs
// nothing at all is here: each address as the file it belongs to plus its offset in that file,
// found by reading /proc/self/maps with raw system calls and no allocation, so that a process
// dying on its signal stack (an overflow, which may have struck inside malloc or the dynamic
// loader) can still print something `eu-addr2line -e FILE OFFSET` or `addr2line -Cfie FILE
// OFFSET` turns into a name and a line afterwards.
#pragma once

#include <cstddef>
#include <cstdint>

namespace weft::rt::diag {

// kMaxFrames bounds every stack a report prints.
constexpr int kMaxFrames = 64;

// RawStack is a stack as program counters, innermost first.
struct RawStack {
  // pc holds the addresses; only the first n count.
  std::uintptr_t pc[kMaxFrames];
  // n is how many addresses pc holds.
  int n = 0;
  // exact_first says pc[0] is the instruction the thread was interrupted at (a signal's
  // sample), not a return address: the others are return addresses, looked up one byte back so
  // that a call at the end of a function is not taken for the next one.
  bool exact_first = false;
};

// Text appends to a fixed buffer of kCap bytes (always NUL-terminated, cut when full) without
// allocating: for reports written in signal handlers and by raw-syscall code.
template <std::size_t kCap>
struct Text {
  // buf holds the text; len is its length.
  char buf[kCap];
  std::size_t len = 0;
  // add() appends s.
  void add(const char* s) noexcept {
    while (*s != '\0' && len + 1 < sizeof buf) buf[len++] = *s++;
    buf[len] = '\0';
  }
  // add_dec() appends v in decimal.
  void add_dec(std::uint64_t v) noexcept {
    char tmp[24];
    int n = 0;
    do {
      tmp[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    while (n > 0 && len + 1 < sizeof buf) buf[len++] = tmp[--n];
    buf[len] = '\0';
  }
  // add_hex() appends v in hexadecimal, with 0x.
  void add_hex(std::uint64_t v) noexcept {
    char tmp[20];
    int n = 0;
    do {
      tmp[n++] = "0123456789abcdef"[v & 15];
      v >>= 4;
    } while (v != 0);
    add("0x");
    while (n > 0 && len + 1 < sizeof buf) buf[len++] = tmp[--n];
    buf[len] = '\0';
  }
};

// LineSink receives the lines of a report one at a time (each ends with a newline).
using LineSink = void (*)(const char* line, void* arg);

// repeats() is how many frames after i repeat pc[i] (a recursion), when there are at least two
// (a report folds them into one line); 0 otherwise.
inline int repeats(const RawStack& s, int i) noexcept {
  int j = i + 1;
  while (j < s.n && s.pc[j] == s.pc[i]) ++j;
  return j - i - 1 >= 2 ? j - i - 1 : 0;
}

// write_module_offsets() formats each frame of s as "INDENT#N 0xADDR in FILE+0xOFF" (or
// "INDENT#N 0xADDR" when no file maps it) and hands each line to sink; a frame repeated is
// one line, "INDENT#N-#M: the same as #K". FILE is the path mapped
// at the address; OFF is the address as the ELF file's own (the load bias taken off for a
// position-independent file, the address itself for a fixed one), which addr2line takes.
// Async-signal-safe: raw system calls, stack buffers (about 14 KiB), no allocation, no lock.
void write_module_offsets(const RawStack& s, const char* indent, LineSink sink, void* arg) noexcept;

}  // namespace weft::rt::diag
