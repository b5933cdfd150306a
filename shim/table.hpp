// table: the interposition table (interpose.def) as C++: symbol ids, names and policies.
#pragma once

#include <cstddef>
#include <cstdint>

namespace weft::shim {

// Policy is how an interposed symbol treats a call; interpose.def explains each.
enum class Policy : std::uint8_t {
  kProcess,
  kIo,
  kWait,
  kFdState,
  kClose,
  kOffload,
  kThread,
  kSync,
  kThreadHandle,
  kSignal,
  kSyscall,
};

// Sym names one interposed symbol; Sym::symbol is its row in interpose.def.
enum class Sym : std::uint16_t {
#define WEFT_INTERPOSE(symbol, policy, file) symbol,
#include "interpose.def"
#undef WEFT_INTERPOSE
};

// kSymCount is how many symbols the table has.
inline constexpr std::size_t kSymCount = 0
#define WEFT_INTERPOSE(symbol, policy, file) +1
#include "interpose.def"
#undef WEFT_INTERPOSE
    ;

// kSymNames holds each symbol's name, indexed by Sym.
inline constexpr const char* kSymNames[kSymCount] = {
#define WEFT_INTERPOSE(symbol, policy, file) #symbol,
#include "interpose.def"
#undef WEFT_INTERPOSE
};

// kSymPolicies holds each symbol's policy, indexed by Sym.
inline constexpr Policy kSymPolicies[kSymCount] = {
#define WEFT_INTERPOSE(symbol, policy, file) Policy::policy,
#include "interpose.def"
#undef WEFT_INTERPOSE
};

// index() is s as an array index.
constexpr std::size_t index(Sym s) noexcept {
  return static_cast<std::size_t>(s);
}

}  // namespace weft::shim
