// sigwait: waiting for a signal on a fiber (sigwait.cpp has the model).
#pragma once

#include <signal.h>
#include <time.h>

namespace weft::shim {

// sigtimedwait_fiber() is rt_sigtimedwait(2) on the calling fiber, which only it parks: the
// signal taken (info filled as the kernel fills it), -EAGAIN once timeout (null: none) passed,
// -EINTR when a handler ran, -EINVAL for a bad timeout.
long sigtimedwait_fiber(const sigset_t& set, siginfo_t* info, const timespec* timeout) noexcept;

}  // namespace weft::shim
