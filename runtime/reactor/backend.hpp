// backend: which reactor a carrier gets.
//
// Config::backend kAuto defers to WEFT_BACKEND when it is set, read when each carrier is
// created, so an explicit Config (every test has one) still follows the variable: that is how
// `WEFT_BACKEND=epoll` moves a whole suite to epoll. Otherwise auto tries io_uring and falls
// back to epoll when the ring cannot be set up with what weft needs; each carrier decides for
// itself (a refused io_uring_setup costs one syscall). A forced backend that cannot be set up
// is an error, thrown as std::runtime_error saying why. With WEFT_DEBUG set (non-empty, not
// "0"), the first choice in the process is logged to stderr, with the reason for a fall-back.
#pragma once

#include <memory>

#include <weft/config.hpp>

#include "reactor/reactor.hpp"

namespace weft {
// parse_backend() reads a WEFT_BACKEND value, throwing std::invalid_argument naming the
// variable name when it is none of auto, io_uring, epoll (config_env.cpp).
Backend parse_backend(const char* name, const char* value);
}  // namespace weft

namespace weft::rt {

class BlockingPool;

// make_reactor() creates the reactor config asks for (see above), giving an epoll reactor
// helpers for what epoll cannot wait for; throws std::runtime_error when a forced backend cannot
// be set up, std::invalid_argument for a bad WEFT_BACKEND.
std::unique_ptr<Reactor> make_reactor(const Config& config, BlockingPool* helpers);

}  // namespace weft::rt
