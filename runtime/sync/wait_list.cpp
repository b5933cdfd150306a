#include "sync/wait_list.hpp"

#include <cstdlib>
#include <stdexcept>
#include <string>

#include "base/sys.hpp"

namespace weft::rt {

Wake wait_linked(Lock& lock, WaiterList& list, Waiter& w, const Deadline& deadline) noexcept {
  Wake why = park(w, deadline);
  if (why == Wake::kNotified) return why;
  lock.lock();
  if (list.contains(&w)) {
    list.remove(&w);
    lock.unlock();
    return why;
  }
  lock.unlock();
  // A notifier claimed w between the wake-up and the lock: its notify is on the way, and what
  // it granted (a mutex, a permit) is ours, so the wait succeeded after all.
  park_notified(w);
  return Wake::kNotified;
}

bool wait_in(Lock& lock, WaiterList& list, Waiter& w, const Deadline& deadline) {
  Wake early = early_wake(deadline);
  if (early != Wake::kNotified) {
    lock.unlock();
    return finish_wait(early);
  }
  list.push_back(&w);
  lock.unlock();
  return finish_wait(wait_linked(lock, list, w, deadline));
}

void wait_uninterruptible_in(Lock& lock, WaiterList& list, Waiter& w) noexcept {
  list.push_back(&w);
  lock.unlock();
  park_notified(w);
}

Wake early_wake(const Deadline& deadline) noexcept {
  Wake why = interrupted();
  if (why != Wake::kNotified) return why;
  if (deadline_passed(deadline)) return Wake::kDeadline;
  return Wake::kNotified;
}

bool finish_wait(Wake why) {
  switch (why) {
    case Wake::kNotified:
      return true;
    case Wake::kDeadline:
    case Wake::kInterrupted:  // only inside an rt::Interruptible scope, which these never open
      return false;
    case Wake::kCancelled:
    case Wake::kScope:
      throw_wake(why);
  }
  return false;
}

void misuse(const char* msg) noexcept {
  std::string line = std::string("weft: ") + msg + "\n";
  sys::write_stderr(line.c_str());
  std::abort();
}

}  // namespace weft::rt
