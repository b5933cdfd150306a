// weft::blocking() (weft/blocking.hpp) on the calling fiber's side: submit, then wait.
#include <cerrno>
#include <stdexcept>
#include <system_error>

#include <weft/blocking.hpp>

#include "blocking/blocking_pool.hpp"
#include "sched/carrier.hpp"
#include "sched/interrupt.hpp"

namespace weft {

BlockingStats blocking_stats() noexcept {
  rt::BlockingPool* pool = rt::BlockingPool::current();
  return pool != nullptr ? pool->stats() : BlockingStats{};
}

namespace detail {

void run_blocking(void (*fn)(void*), void* arg) {
  FiberControl* self = rt::running_fiber();
  if (self == nullptr) {
    fn(arg);
    return;
  }
  rt::throw_if_interrupted();
  rt::BlockingPool* pool = rt::BlockingPool::current();
  if (pool == nullptr) throw std::logic_error("weft::blocking: this carrier has no blocking pool");
  rt::BlockingJob job(fn, arg);
  rt::Carrier* c = self->carrier_;
  // The wake-up comes from a thread that is no carrier: tell the deadlock check to expect it.
  c->expect_mail();
  int r = pool->submit(&job);
  if (r < 0) {
    c->mail_done();
    throw std::system_error(-r, std::generic_category(),
                            "weft::blocking: cannot start a helper thread");
  }
  // Not interruptible: the helper thread uses this frame (the job, f's arguments, the result
  // slot) until it notifies, so the fiber must wait for it whatever happens meanwhile.
  rt::park_notified(job.waiter);
  c->mail_done();
}

}  // namespace detail
}  // namespace weft
