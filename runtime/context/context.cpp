#include "context/context.hpp"

// fcontext is Boost's assembly switch: the fastest one it has, and the one boost::context::fiber
// is built on. It is a detail API, but a stable one since Boost 1.61; keeping it behind this file
// means a Boost upgrade that changes it touches one file.
#include <boost/context/detail/fcontext.hpp>

namespace weft::rt {

namespace bcd = boost::context::detail;

ContextHandle make_context(void* top, std::size_t size, EntryFn entry) noexcept {
  // transfer_t and Transfer have the same layout (two pointers); the cast keeps Boost's types
  // out of every other file.
  static_assert(sizeof(bcd::transfer_t) == sizeof(Transfer));
  return bcd::make_fcontext(
      top, size, reinterpret_cast<void (*)(bcd::transfer_t)>(reinterpret_cast<void (*)()>(entry)));
}

Transfer jump(ContextHandle to, void* data) noexcept {
  bcd::transfer_t t = bcd::jump_fcontext(static_cast<bcd::fcontext_t>(to), data);
  return Transfer{t.fctx, t.data};
}

}  // namespace weft::rt
