// arch/x86_64: the system call instruction on x86-64, for base/sys.hpp only.
//
// The kernel's calling convention: the number in rax, arguments in rdi, rsi, rdx, r10, r8, r9;
// the result (a value, or -errno) comes back in rax, and the instruction clobbers rcx and r11.
#pragma once

namespace weft::sys::arch {

// syscall6() enters the kernel for system call n with six arguments and returns its raw result.
inline long syscall6(long n, long a, long b, long c, long d, long e, long f) noexcept {
  long result;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  __asm__ volatile("syscall"
                   : "=a"(result)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return result;
}

}  // namespace weft::sys::arch
