// rt::OwnerLock (runtime/base/owner_lock.hpp): the owner's sections and the visitors' never
// overlap, whichever fence the process uses, while the owner takes its lock without a locked
// instruction; a visitor on the owner's own thread (outside its sections) gets in too.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "base/owner_lock.hpp"

namespace {

using weft::rt::OwnerLock;

// Guarded is what the owner changes in its sections: a visitor must always see first == last.
struct Guarded {
  std::atomic<std::uint64_t> first{0};
  std::atomic<std::uint64_t> middle[8] = {};
  std::atomic<std::uint64_t> last{0};
};

TEST(OwnerLock, VisitorsNeverSeeAnOwnersSectionHalfDone) {
  OwnerLock::prepare();
  OwnerLock lock;
  Guarded g;
  constexpr std::uint64_t kSections = 200000;
  constexpr int kVisitors = 2;
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> torn{0};
  std::atomic<std::uint64_t> visits{0};
  std::vector<std::thread> visitors;
  for (int v = 0; v < kVisitors; ++v) {
    visitors.emplace_back([&] {
      // At least a few visits each, however the threads are scheduled.
      for (int i = 0; i < 50 || !done.load(std::memory_order_acquire); ++i) {
        std::lock_guard<OwnerLock> hold(lock);
        // Read in the order opposite to the owner's writes, and again and again for a while: an
        // owner's section that overlapped the visit in any way changes something seen.
        std::uint64_t a = g.last.load(std::memory_order_relaxed);
        for (int again = 0; again < 200; ++again) {
          if (g.last.load(std::memory_order_relaxed) != a) torn.fetch_add(1);
          for (int m = 7; m >= 0; --m) {
            if (g.middle[m].load(std::memory_order_relaxed) != a) torn.fetch_add(1);
          }
          if (g.first.load(std::memory_order_relaxed) != a) torn.fetch_add(1);
        }
        visits.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  std::thread owner([&] {
    for (std::uint64_t i = 1; i <= kSections; ++i) {
      lock.owner_lock();
      g.first.store(i, std::memory_order_relaxed);
      for (auto& m : g.middle) m.store(i, std::memory_order_relaxed);
      g.last.store(i, std::memory_order_relaxed);
      lock.owner_unlock();
    }
    done.store(true, std::memory_order_release);
  });
  owner.join();
  for (auto& t : visitors) t.join();
  EXPECT_EQ(torn.load(), 0u) << "in " << visits.load() << " visits";
  EXPECT_GE(visits.load(), 100u);
  EXPECT_EQ(g.last.load(), kSections);
}

TEST(OwnerLock, TheOwnerMayVisitOutsideItsSections) {
  OwnerLock::prepare();
  OwnerLock lock;
  int value = 0;
  for (int i = 0; i < 3; ++i) {
    lock.owner_lock();
    ++value;
    lock.owner_unlock();
    std::lock_guard<OwnerLock> hold(lock);
    EXPECT_EQ(value, i + 1);
  }
}

TEST(OwnerLock, ResetFreesALockAVisitorHeld) {
  OwnerLock::prepare();
  OwnerLock lock;
  lock.lock();  // as if a thread that a fork left behind held it
  lock.reset();
  lock.owner_lock();
  lock.owner_unlock();
  std::lock_guard<OwnerLock> hold(lock);
}

}  // namespace
