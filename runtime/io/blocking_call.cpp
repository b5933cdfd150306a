// weft::blocking() (weft/blocking.hpp) on the calling fiber's side: submit, then wait.
#include <cerrno>
#include <stdexcept>
#include <system_error>

#include <weft/blocking.hpp>

#include "blocking/blocking_pool.hpp"
#include "sched/carrier.hpp"
#include "sched/interrupt.hpp"
#include "sched/park.hpp"
#include "sched/run.hpp"

namespace weft {
namespace {

// CallJob is one weft::blocking() call: the pool runs fn(arg) on a helper thread, then notifies
// the waiting fiber from there.
struct CallJob : rt::BlockingJob {
  CallJob(void (*fn_)(void*), void* arg_) noexcept
      : BlockingJob(&work_fn, &finish_fn), fn(fn_), arg(arg_), waiter("blocking") {}
  static void work_fn(BlockingJob* job) noexcept {
    auto* self = static_cast<CallJob*>(job);
    self->fn(self->arg);  // the public template catches into its own frame: nothing throws
  }
  static void finish_fn(BlockingJob* job) noexcept {
    rt::notify(static_cast<CallJob*>(job)->waiter);  // the frame may be gone from here on
  }
  void (*fn)(void*);
  void* arg;
  rt::Waiter waiter;
};

// run_pool() is the calling carrier's run's helper pool, or nullptr off a carrier.
rt::BlockingPool* run_pool() noexcept {
  rt::Carrier* c = rt::Carrier::current();
  return c != nullptr ? c->run().blocking_pool() : nullptr;
}

}  // namespace

BlockingStats blocking_stats() noexcept {
  rt::BlockingPool* pool = run_pool();
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
  rt::BlockingPool* pool = run_pool();
  if (pool == nullptr) throw std::logic_error("weft::blocking: this carrier has no blocking pool");
  CallJob job(fn, arg);
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
