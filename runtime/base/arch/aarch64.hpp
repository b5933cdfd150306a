// arch/aarch64: the system call instruction on arm64, for base/sys.hpp only.
//
// The kernel's calling convention: the number in x8, arguments in x0..x5; the result (a value,
// or -errno) comes back in x0.
#pragma once

namespace weft::sys::arch {

// syscall6() enters the kernel for system call n with six arguments and returns its raw result.
inline long syscall6(long n, long a, long b, long c, long d, long e, long f) noexcept {
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = e;
  register long x5 __asm__("x5") = f;
  __asm__ volatile("svc #0"
                   : "+r"(x0)
                   : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                   : "memory");
  return x0;
}

}  // namespace weft::sys::arch
