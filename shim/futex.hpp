// futex: the program's futex(2) calls, emulated so that a fiber that waits parks instead of
// holding its carrier in the kernel (futex.cpp has the model).
#pragma once

#include <time.h>
#include <cstdint>

namespace weft::shim {

// futex() is futex(2) as syscall(SYS_futex, uaddr, op, val, timeout, uaddr2, val3) makes it,
// returning the kernel's result or -errno: the waits, wakes and requeues of private futexes park
// and wake fibers, a fiber's wait on a shared futex runs on a blocking-pool helper thread, and
// what it does not emulate (the priority-inheritance operations) goes to the kernel. timeout is
// the fourth argument, which some operations read as a number (val2).
long futex(std::uint32_t* uaddr, int op, std::uint32_t val, const timespec* timeout,
           std::uint32_t* uaddr2, std::uint32_t val3) noexcept;

// futex_after_fork_child() forgets every fiber waiting on a futex (none of them exists in a
// forked child) and frees the table's locks, which a vanished thread may have held; call it in
// the child, before any other thread runs.
void futex_after_fork_child() noexcept;

}  // namespace weft::shim
