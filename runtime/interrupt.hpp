// interrupt: turning a wait that cancellation or a Timeout scope cut short into the exception
// that blocking sync calls throw (weft::Cancelled, weft::TimedOut), per weft/timeout.hpp.
#pragma once

#include <weft/deadline.hpp>
#include <weft/timeout.hpp>

#include "fiber_control.hpp"
#include "park.hpp"

namespace weft::detail {
// expired_scope() is the innermost of f's Timeout scopes holding the earliest deadline (defined
// in timeout.cpp).
const Timeout* expired_scope(const FiberControl* f) noexcept;
}  // namespace weft::detail

namespace weft::rt {

// throw_wake() throws Cancelled for kCancelled and TimedOut(the running fiber's expired scope)
// for kScope; it must not be called with kNotified or kDeadline.
[[noreturn]] void throw_wake(Wake why);
// throw_if_interrupted() throws as throw_wake() does if a wait by the running fiber would fail
// at once (rt::interrupted()); it does nothing off a fiber.
void throw_if_interrupted();
// require_fiber() returns the running fiber, or throws std::logic_error saying that the call
// (what, e.g. "weft::Mutex::lock") would block off a fiber.
FiberControl* require_fiber(const char* what);
// deadline_passed() tells whether deadline is set and has already passed.
bool deadline_passed(const Deadline& deadline) noexcept;

}  // namespace weft::rt
