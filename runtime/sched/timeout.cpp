// Timeout scopes: each scope saves the fiber's effective deadline and installs the earlier of
// it and its own, so a blocking call reads one field (FiberControl::scope_deadline_) to learn
// the deadline all its scopes impose.
#include <weft/timeout.hpp>

#include <algorithm>
#include <stdexcept>

#include "sched/carrier.hpp"
#include "sched/park.hpp"
#include "base/sys.hpp"

namespace weft {

Timeout::Timeout(Deadline deadline) : deadline_(deadline) {
  detail::FiberControl* self = rt::running_fiber();
  if (self == nullptr) throw std::logic_error("weft::Timeout created off a fiber");
  fiber_ = self;
  outer_ = self->scope_;
  outer_effective_ = self->scope_deadline_;
  if (deadline.is_set()) self->scope_deadline_ = std::min(outer_effective_, deadline.at());
  self->scope_ = this;
}

Timeout::~Timeout() {
  if (fiber_->scope_ != this) {
    sys::write_stderr("weft: Timeout scopes destroyed out of order (or on another fiber)\n");
    std::abort();
  }
  fiber_->scope_ = outer_;
  fiber_->scope_deadline_ = outer_effective_;
}

namespace detail {

// expired_scope() finds the scope whose deadline the fiber's effective deadline came from: the
// innermost scope holding the earliest deadline.
const Timeout* expired_scope(const FiberControl* f) noexcept {
  const Timeout* best = nullptr;
  for (const Timeout* t = f->scope_; t != nullptr; t = t->outer()) {
    if (!t->deadline().is_set()) continue;
    if (best == nullptr || t->deadline().at() < best->deadline().at()) best = t;
  }
  return best;
}

}  // namespace detail
}  // namespace weft
