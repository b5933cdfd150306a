// Stack overflow detection: a clear message naming the fiber instead of a bare segfault.
//
// A guard page hit raises SIGSEGV on a stack that has no room left, so the handler runs on an
// alternate signal stack that each carrier thread installs. The handler asks the thread's
// carrier which fiber runs and whether the fault (or the stack pointer) lies in that fiber's
// guard region; if so it prints the report and lets the signal kill the process as it would
// have; any other fault goes to the handler that was there before, or the default action.
#pragma once

#include "fiber/fiber_control.hpp"

namespace weft::rt {

// install_overflow_handler() installs the process-wide SIGSEGV/SIGBUS handler once.
void install_overflow_handler() noexcept;
// install_altstack() gives the calling thread an alternate signal stack if it has none, and
// returns the mapping to free at teardown (nullptr if the thread already had one).
void* install_altstack() noexcept;
// remove_altstack() undoes install_altstack().
void remove_altstack(void* mapping) noexcept;
// overflow_abort() reports an overflow found by the canary check and aborts.
[[noreturn]] void overflow_abort(const FiberControl* f) noexcept;

}  // namespace weft::rt
