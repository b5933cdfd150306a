// weftrun_program: can LD_PRELOAD reach the program weftrun is about to exec?
//
// The loader ignores LD_PRELOAD in two kinds of program, which would then run on native threads
// with none of weft's settings in effect: a statically linked one (no PT_INTERP: no loader runs
// at all) and one the kernel starts in secure-execution mode (AT_SECURE: set-user-ID or
// set-group-ID to someone else, or file capabilities). weftrun looks before exec so that it can
// say so, or refuse under --strict, instead of the program running natively without a word.
#pragma once

#include <string>

namespace weft::launcher {

// unreachable_reason() finds prog as execvp would (PATH when it has no '/'), follows a "#!"
// script to its interpreter (one level, as the kernel does for the program named), and returns
// why LD_PRELOAD cannot reach what runs ("PROG is statically linked"), or "" when it can or
// when the program cannot be found or read (execvp then reports that).
std::string unreachable_reason(const char* prog);

}  // namespace weft::launcher
