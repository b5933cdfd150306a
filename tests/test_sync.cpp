// Sync primitives: Mutex and ConditionVariable. Mutual exclusion under contention, FIFO
// hand-off, try and timed locks, producer/consumer, notify_one's count, predicate waits, the
// error model (cancellation, Timeout scopes, misuse, calls off a fiber), and timeouts racing
// with wake-ups. Every test runs for 1, 2 and 4 carriers and checks for leaks at the end.
// Event, Semaphore and WaitGroup are in test_sync_signal.cpp.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include <weft/weft.hpp>

#include "sync_support.hpp"

namespace {

using namespace std::chrono_literals;
using weft::Clock;
using weft_test::CarriersTest;
using weft_test::hold;
using weft_test::tiny;

class MutexTest : public CarriersTest {};
INSTANTIATE_CARRIERS(MutexTest);

TEST_P(MutexTest, ExcludesUnderHeavyContention) {
  // 1000 fibers spread over the carriers increment a plain counter, yielding between the read
  // and the write: without exclusion increments are lost (and TSan reports the race).
  constexpr unsigned kFibers = 1000, kRounds = 5;
  weft::Mutex m;
  long counter = 0;
  std::atomic<int> inside{0};
  std::atomic<bool> overlap{false};
  run_spread([&](unsigned index) {
    std::vector<weft::Fiber<void>> fs;
    for (unsigned i = index; i < kFibers; i += carriers()) {
      fs.push_back(weft::spawn([&] {
        for (unsigned r = 0; r < kRounds; ++r) {
          std::lock_guard<weft::Mutex> g(m);
          if (inside.fetch_add(1) != 0) overlap = true;
          long v = counter;
          weft::this_fiber::yield();
          counter = v + 1;
          inside.fetch_sub(1);
        }
      }));
    }
    for (auto& f : fs) f.join();
  });
  EXPECT_FALSE(overlap);
  EXPECT_EQ(counter, long{kFibers * kRounds});
  EXPECT_TRUE(m.try_lock());
  m.unlock();
}

TEST_P(MutexTest, HandsOffInFifoOrder) {
  // Waiters queue one at a time (each is seen parked before the next comes); one unlock
  // after another, they get the mutex in the order they came.
  constexpr int kWaiters = 20;
  std::vector<int> order;
  run([&] {
    weft::Mutex m;
    std::atomic<int> arrived{-1};
    m.lock();
    std::vector<weft::Fiber<void>> fs;
    for (int i = 0; i < kWaiters; ++i) {
      fs.push_back(weft::spawn([&, i] {
        arrived = i;
        std::lock_guard<weft::Mutex> g(m);
        order.push_back(i);
      }));
      while (arrived.load() != i) weft::this_fiber::yield();
      weft_test::await_waiting("mutex", i + 1);
    }
    m.unlock();
    for (auto& f : fs) f.join();
  });
  std::vector<int> want;
  for (int i = 0; i < kWaiters; ++i) want.push_back(i);
  EXPECT_EQ(order, want);
}

TEST_P(MutexTest, UnlockHandsOverSoNobodyBarges) {
  run([&] {
    weft::Mutex m;
    std::atomic<bool> waiting{false}, got{false};
    m.lock();
    auto f = weft::spawn([&] {
      waiting = true;
      m.lock();
      got = true;
      weft::this_fiber::sleep_for(5ms);
      m.unlock();
    });
    while (!waiting) weft::this_fiber::yield();
    weft_test::await_waiting("mutex", 1);
    m.unlock();
    // The waiter owns the mutex now, though it has not run yet: the unlocker cannot take it back.
    EXPECT_FALSE(m.try_lock());
    m.lock();  // queues behind the waiter, which unlocks after 5 ms
    EXPECT_TRUE(got);
    m.unlock();
    f.join();
  });
}

TEST_P(MutexTest, NoWaiterStarves) {
  // Three fibers take the mutex back to back, yielding while they hold it; a fourth, "asker",
  // waits until it finds the mutex held, then asks once (twenty askers in turn). Turns are
  // counted from the first turn whose holder sees (fiber_dump) the asker parked in the mutex:
  // while a hog holds the mutex a parked asker cannot leave the queue, so that sighting is no
  // race, and a carrier the OS preempts before the asker queues cannot inflate the count. With
  // FIFO hand-off only the hogs already ahead of it go first, each once (kHogs turns at most,
  // the sighting one included); an asker no holder saw parked was the very next owner. A mutex
  // that let the unlocker re-take it would leave the asker parked, seen, until the hogs give up
  // kCap turns after it was sent out.
  constexpr int kHogs = 3;
  constexpr long kCap = 100000;
  run([&] {
    weft::Mutex m;
    std::atomic<bool> stop{false};
    std::atomic<long> turns{0};
    std::atomic<bool> watching{false};  // an asker is out: holders look for it
    std::atomic<long> seen_at{-1};      // the turn whose holder first saw it parked
    std::atomic<long> give_up{std::numeric_limits<long>::max()};  // the hogs' last turn
    std::atomic<int> hogs_left{kHogs};
    std::vector<weft::Fiber<void>> hogs;
    for (int i = 0; i < kHogs; ++i) {
      hogs.push_back(weft::spawn([&] {
        while (!stop && turns < give_up) {
          std::lock_guard<weft::Mutex> g(m);
          long turn = ++turns;
          if (watching && seen_at < 0 && weft_test::blocked_named("asker", "mutex")) {
            seen_at = turn;
          }
          weft::this_fiber::yield();
        }
        --hogs_left;
      }));
    }
    while (turns < 100) weft::this_fiber::yield();
    for (int attempt = 0; attempt < 20; ++attempt) {
      std::atomic<long> got_at{-1};
      seen_at = -1;
      watching = true;
      give_up = turns + kCap;
      weft::spawn_with({.name = "asker"}, [&] {
        // An asker that finds the mutex free proves nothing: it asks only once it is held.
        while (hogs_left > 0 && m.try_lock()) {
          m.unlock();
          weft::this_fiber::yield();
        }
        std::lock_guard<weft::Mutex> g(m);
        got_at = turns.load();
        watching = false;
      }).join();
      if (seen_at >= 0) {
        EXPECT_LE(got_at - seen_at, kHogs) << "turns taken while the asker was queued";
      }
      if (hogs_left < kHogs) break;  // they gave up: the asker starved
    }
    stop = true;
    for (auto& f : hogs) f.join();
  });
}

TEST_P(MutexTest, TryLock) {
  run([&] {
    weft::Mutex m;
    EXPECT_TRUE(m.try_lock());
    EXPECT_FALSE(m.try_lock()) << "not recursive";
    weft::spawn([&] { EXPECT_FALSE(m.try_lock()); }).join();
    m.unlock();
    weft::spawn([&] {
      EXPECT_TRUE(m.try_lock());
      m.unlock();
    }).join();
    // std::lock and std::scoped_lock use try_lock to avoid deadlock.
    weft::Mutex a, b;
    {
      std::scoped_lock g(a, b);
      weft::spawn([&] { EXPECT_FALSE(b.try_lock()); }).join();
    }
    std::unique_lock<weft::Mutex> la(a, std::defer_lock), lb(b, std::defer_lock);
    std::lock(la, lb);
    EXPECT_TRUE(la.owns_lock() && lb.owns_lock());
  });
}

TEST_P(MutexTest, PlainThreadsTryLockAndUnlock) {
  weft::Mutex m;
  std::atomic<int> step{0};
  // A plain thread holds the mutex; a fiber cannot take it until the thread unlocks.
  std::thread t([&] {
    EXPECT_TRUE(m.try_lock());
    step = 1;
    while (step != 2) std::this_thread::yield();
    m.unlock();
    step = 3;
  });
  run([&] {
    while (step != 1) weft::this_fiber::sleep_for(1ms);
    EXPECT_FALSE(m.try_lock());
    step = 2;
    while (step != 3) weft::this_fiber::sleep_for(1ms);
    m.lock();
    m.unlock();
  });
  t.join();
  // Off a fiber, lock() would block the thread: it refuses.
  std::thread([&] { EXPECT_THROW(m.lock(), std::logic_error); }).join();
  EXPECT_THROW(m.try_lock_for(1ms), std::logic_error);
}

TEST_P(MutexTest, TimedLockTimesOut) {
  run([&] {
    weft::Mutex m;
    m.lock();
    weft::spawn([&] {
      auto t0 = Clock::now();
      EXPECT_FALSE(m.try_lock_for(20ms));
      EXPECT_GE(Clock::now() - t0, 20ms);
      t0 = Clock::now();
      EXPECT_FALSE(m.try_lock_until(Clock::now() + 10ms));
      EXPECT_GE(Clock::now() - t0, 10ms);
      t0 = Clock::now();
      EXPECT_FALSE(m.try_lock_until(std::chrono::system_clock::now() + 10ms));
      EXPECT_GE(Clock::now() - t0, 9ms);
      EXPECT_FALSE(m.try_lock_for(0ms));
      EXPECT_FALSE(m.try_lock_until(Clock::time_point::min()));
      std::unique_lock<weft::Mutex> lk(m, 5ms);
      EXPECT_FALSE(lk.owns_lock());
    }).join();
    // A timed lock that is handed the mutex in time succeeds.
    auto f = weft::spawn([&] {
      bool got = m.try_lock_for(10s);
      if (got) m.unlock();
      return got;
    });
    // Unlock once it is seen queued (a fixed sleep may end before a slow carrier queues it, and
    // the test would then only try_lock a free mutex).
    weft_test::await_waiting("mutex", 1);
    m.unlock();
    EXPECT_TRUE(f.join());
    EXPECT_TRUE(m.try_lock());
    m.unlock();
  });
}

TEST_P(MutexTest, CancelledWhileLocking) {
  run([&] {
    weft::Mutex m;
    m.lock();
    std::atomic<int> outcome{0};
    auto f = weft::spawn([&] {
      try {
        m.lock();
        outcome = 1;
        m.unlock();
      } catch (const weft::Cancelled&) {
        outcome = 2;
      }
    });
    weft::this_fiber::sleep_for(5ms);
    f.cancel();
    f.join();
    EXPECT_EQ(outcome, 2);
    // The cancelled waiter left the queue: the mutex is still ours and hands on as usual.
    EXPECT_FALSE(m.try_lock());
    auto g = weft::spawn([&] {
      std::lock_guard<weft::Mutex> lk(m);
      return 7;
    });
    weft::this_fiber::sleep_for(2ms);
    m.unlock();
    EXPECT_EQ(g.join(), 7);
    EXPECT_TRUE(m.try_lock());
    m.unlock();
    // A cancelled fiber still takes a free mutex: only waiting is refused.
    bool took = false;
    std::atomic<bool> told{false};
    auto c = weft::spawn([&] {
      // With several carriers c may start before the cancel reaches it.
      while (!told.load()) weft::this_fiber::yield();
      EXPECT_TRUE(weft::this_fiber::cancelled());
      m.lock();
      took = true;
      m.unlock();
    });
    c.cancel();
    told = true;
    c.join();
    EXPECT_TRUE(took);
  });
}

TEST_P(MutexTest, TimeoutScopeExpiresInLock) {
  run([&] {
    weft::Mutex m;
    m.lock();
    weft::spawn([&] {
      weft::Timeout outer(20ms);
      weft::Timeout inner(10s);
      auto t0 = Clock::now();
      try {
        m.lock();
        ADD_FAILURE() << "lock() returned";
      } catch (const weft::TimedOut& e) {
        EXPECT_EQ(e.scope(), &outer);
        EXPECT_GE(Clock::now() - t0, 20ms);
      }
      // Expired already: fails at once, and try_lock_for's own later deadline does not matter.
      EXPECT_THROW(m.try_lock_for(1s), weft::TimedOut);
    }).join();
    weft::spawn([&] {
      weft::Timeout outer(10s);
      weft::Timeout inner(5ms);
      try {
        m.lock();
        ADD_FAILURE() << "lock() returned";
      } catch (const weft::TimedOut& e) {
        EXPECT_EQ(e.scope(), &inner);
      }
    }).join();
    weft::spawn([&] {
      // A call's own deadline, earlier than the scope's, is reported as false, not TimedOut.
      weft::Timeout scope(10s);
      EXPECT_FALSE(m.try_lock_for(5ms));
    }).join();
    m.unlock();
    EXPECT_TRUE(m.try_lock());
    m.unlock();
  });
}

TEST_P(MutexTest, TimeoutsRacingWithUnlocksLoseNothing) {
  // Fibers on every carrier take the mutex with tiny timeouts (and tiny Timeout scopes) while
  // others hold it briefly; each success is counted inside the critical section. At the end
  // the counts agree and the mutex is free: no hand-off went to a waiter that had given up.
  weft::Mutex m;
  long inside_count = 0;
  std::atomic<long> successes{0};
  run_spread([&](unsigned index) {
    weft_test::timed_takers(
        index, 1000, [&](auto timeout) { return m.try_lock_for(timeout); }, [&] { m.lock(); },
        [&](unsigned k, unsigned i) {
          ++inside_count;
          hold(k, i);
          m.unlock();
          ++successes;
        });
  });
  EXPECT_EQ(inside_count, successes.load());
  EXPECT_GT(successes.load(), 0);
  EXPECT_TRUE(m.try_lock());
  m.unlock();
}

TEST_P(MutexTest, MisuseAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(run([] {
                 weft::Mutex m;
                 m.unlock();
               }),
               "weft::Mutex::unlock: the caller does not hold the mutex");
  EXPECT_DEATH(run([] {
                 weft::Mutex m;
                 m.lock();
                 weft::spawn([&] { m.unlock(); }).join();
               }),
               "does not hold the mutex");
  EXPECT_DEATH(run([] {
                 weft::Mutex m;
                 m.lock();
                 m.lock();
               }),
               "already holds the mutex");
  EXPECT_DEATH(run([] {
                 auto* m = new weft::Mutex;
                 m->lock();
                 delete m;
               }),
               "weft::Mutex destroyed while it is held");
}

class CondVarTest : public CarriersTest {};
INSTANTIATE_CARRIERS(CondVarTest);

TEST_P(CondVarTest, ProducersAndConsumers) {
  // 500 producers and 500 consumers spread over the carriers share a bounded queue of 8.
  constexpr unsigned kPairs = 500, kItems = 10;
  weft::Mutex m;
  weft::ConditionVariable not_full, not_empty;
  std::deque<long> queue;
  long produced_sum = 0, consumed_sum = 0, consumed = 0;
  run_spread([&](unsigned index) {
    std::vector<weft::Fiber<void>> fs;
    for (unsigned p = index; p < kPairs; p += carriers()) {
      fs.push_back(weft::spawn([&, p] {
        for (unsigned i = 0; i < kItems; ++i) {
          std::unique_lock<weft::Mutex> lk(m);
          not_full.wait(lk, [&] { return queue.size() < 8; });
          long v = long{p} * kItems + i;
          queue.push_back(v);
          produced_sum += v;
          not_empty.notify_one();
        }
      }));
      fs.push_back(weft::spawn([&] {
        for (unsigned i = 0; i < kItems; ++i) {
          std::unique_lock<weft::Mutex> lk(m);
          not_empty.wait(lk, [&] { return !queue.empty(); });
          consumed_sum += queue.front();
          ++consumed;
          queue.pop_front();
          not_full.notify_one();
        }
      }));
    }
    for (auto& f : fs) f.join();
  });
  EXPECT_EQ(consumed, long{kPairs * kItems});
  EXPECT_EQ(consumed_sum, produced_sum);
  EXPECT_TRUE(queue.empty());
}

TEST_P(CondVarTest, NotifyOneWakesExactlyOne) {
  run([&] {
    weft::Mutex m;
    weft::ConditionVariable cv;
    int waiting = 0, woken = 0;
    std::vector<weft::Fiber<void>> fs;
    for (int i = 0; i < 10; ++i) {
      fs.push_back(weft::spawn([&] {
        std::unique_lock<weft::Mutex> lk(m);
        ++waiting;
        cv.wait(lk);
        ++woken;
      }));
    }
    // Each waiter is queued before it releases the mutex, so once all ten have counted
    // themselves under it, all ten are queued.
    for (;;) {
      {
        std::lock_guard<weft::Mutex> g(m);
        if (waiting == 10) break;
      }
      weft::this_fiber::yield();
    }
    // After each notify, wait for the woken count to reach what was asked (a carrier may be
    // descheduled for long before the woken fiber runs, so no fixed sleep is enough), then give
    // an over-eager notify 20 ms to wake more. Exactly the rest must still be parked in the
    // condition variable: that holds at any speed, and a notify_one that woke several fails it.
    auto expect_woken = [&](int want) {
      auto give_up = Clock::now() + 30s;
      for (;;) {
        {
          std::lock_guard<weft::Mutex> g(m);
          if (woken >= want || Clock::now() > give_up) break;
        }
        weft::this_fiber::sleep_for(1ms);
      }
      weft::this_fiber::sleep_for(20ms);
      std::lock_guard<weft::Mutex> g(m);
      EXPECT_EQ(woken, want);
      EXPECT_EQ(weft_test::waiting_in("condition variable"), 10 - want);
    };
    cv.notify_one();
    expect_woken(1);
    cv.notify_one();
    cv.notify_one();
    expect_woken(3);
    cv.notify_all();
    for (auto& f : fs) f.join();
    EXPECT_EQ(woken, 10);
    cv.notify_one();  // nobody waits: nothing happens
  });
}

TEST_P(CondVarTest, PredicateWaitsIgnoreWakeupsWithoutTheCondition) {
  run([&] {
    weft::Mutex m;
    weft::ConditionVariable cv;
    bool ready = false;
    std::atomic<int> returned{0};
    std::vector<weft::Fiber<void>> fs;
    for (int i = 0; i < 5; ++i) {
      fs.push_back(weft::spawn([&] {
        std::unique_lock<weft::Mutex> lk(m);
        cv.wait(lk, [&] { return ready; });
        EXPECT_TRUE(ready);
        ++returned;
      }));
      fs.push_back(weft::spawn([&] {
        std::unique_lock<weft::Mutex> lk(m);
        EXPECT_TRUE(cv.wait_for(lk, 10s, [&] { return ready; }));
        ++returned;
      }));
    }
    for (int i = 0; i < 5; ++i) {
      weft::this_fiber::sleep_for(2ms);
      cv.notify_all();  // wakes them, but the condition is false: they wait again
    }
    EXPECT_EQ(returned, 0);
    {
      std::lock_guard<weft::Mutex> g(m);
      ready = true;
    }
    cv.notify_all();
    for (auto& f : fs) f.join();
    EXPECT_EQ(returned, 10);
  });
}

TEST_P(CondVarTest, TimedWaitsTimeOutHoldingTheLock) {
  run([&] {
    weft::Mutex m;
    weft::ConditionVariable cv;
    std::unique_lock<weft::Mutex> lk(m);
    auto t0 = Clock::now();
    EXPECT_EQ(cv.wait_for(lk, 20ms), std::cv_status::timeout);
    EXPECT_GE(Clock::now() - t0, 20ms);
    EXPECT_TRUE(lk.owns_lock());
    weft::spawn([&] { EXPECT_FALSE(m.try_lock()); }).join();
    EXPECT_EQ(cv.wait_until(lk, Clock::now() + 5ms), std::cv_status::timeout);
    EXPECT_EQ(cv.wait_until(lk, std::chrono::system_clock::now() + 5ms), std::cv_status::timeout);
    EXPECT_FALSE(cv.wait_for(lk, 5ms, [] { return false; }));
    EXPECT_TRUE(cv.wait_until(lk, Clock::now() + 5ms, [] { return true; }));
    EXPECT_EQ(cv.wait_for(lk, 0ms), std::cv_status::timeout);
    EXPECT_TRUE(lk.owns_lock());
    // Notified in time: no_timeout.
    auto f = weft::spawn([&] {
      std::lock_guard<weft::Mutex> g(m);
      cv.notify_one();
    });
    EXPECT_EQ(cv.wait_for(lk, 10s), std::cv_status::no_timeout);
    EXPECT_TRUE(lk.owns_lock());
    lk.unlock();
    f.join();
  });
}

TEST_P(CondVarTest, CancelledWaitRetakesTheLockBeforeThrowing) {
  run([&] {
    weft::Mutex m;
    weft::ConditionVariable cv;
    std::atomic<bool> main_released{false}, waiting{false};
    std::atomic<int> outcome{0};
    auto f = weft::spawn([&] {
      std::unique_lock<weft::Mutex> lk(m);
      waiting = true;
      try {
        cv.wait(lk);
        outcome = 1;
      } catch (const weft::Cancelled&) {
        // Thrown only once the mutex was ours again, which the main fiber held for a while.
        outcome = lk.owns_lock() && main_released ? 2 : 3;
      }
    });
    while (!waiting) weft::this_fiber::yield();
    m.lock();  // the waiter released it in wait()
    f.cancel();
    weft::this_fiber::sleep_for(10ms);
    EXPECT_EQ(outcome, 0) << "the waiter threw without the mutex";
    main_released = true;
    m.unlock();
    f.join();
    EXPECT_EQ(outcome, 2);
    EXPECT_TRUE(m.try_lock());
    m.unlock();
  });
}

TEST_P(CondVarTest, TimeoutScopeExpiresInWait) {
  run([&] {
    weft::Mutex m;
    weft::ConditionVariable cv;
    std::unique_lock<weft::Mutex> lk(m);
    {
      weft::Timeout outer(10s);
      weft::Timeout inner(15ms);
      try {
        cv.wait(lk, [] { return false; });
        ADD_FAILURE() << "wait() returned";
      } catch (const weft::TimedOut& e) {
        EXPECT_EQ(e.scope(), &inner);
        EXPECT_TRUE(lk.owns_lock());
      }
      // An expired scope fails the next wait at once, before the lock is released.
      EXPECT_THROW(cv.wait_for(lk, 1s), weft::TimedOut);
      EXPECT_TRUE(lk.owns_lock());
    }
    EXPECT_EQ(cv.wait_for(lk, 1ms), std::cv_status::timeout);
  });
}

TEST_P(CondVarTest, NotifiesRacingWithTimeoutsAreNotLost) {
  // Consumers wait with tiny timeouts (or tiny scopes) and retry; producers on every carrier
  // add items and notify_one. Every item is consumed exactly once, and the queue ends empty.
  constexpr long kPerProducer = 400;
  weft::Mutex m;
  weft::ConditionVariable cv;
  long available = 0, consumed = 0;
  std::atomic<unsigned> producers_left{carriers() * 2};
  run_spread([&](unsigned index) {
    std::vector<weft::Fiber<void>> fs;
    for (unsigned k = 0; k < 2; ++k) {
      fs.push_back(weft::spawn([&, k] {
        for (long i = 0; i < kPerProducer; ++i) {
          {
            std::lock_guard<weft::Mutex> g(m);
            ++available;
          }
          cv.notify_one();
          hold(k, static_cast<unsigned>(i));
        }
        --producers_left;
        cv.notify_all();
      }));
    }
    for (unsigned k = 0; k < 4; ++k) {
      fs.push_back(weft::spawn([&, k] {
        std::unique_lock<weft::Mutex> lk(m);
        for (unsigned i = 0;; ++i) {
          if (available > 0) {
            --available;
            ++consumed;
            continue;
          }
          if (producers_left == 0) break;
          if (k % 2 == 0) {
            cv.wait_for(lk, tiny(index * 4 + k, i));
          } else {
            try {
              weft::Timeout t(tiny(k, index * 7919 + i));
              cv.wait(lk);
            } catch (const weft::TimedOut&) {
              EXPECT_TRUE(lk.owns_lock());
            }
          }
        }
      }));
    }
    for (auto& f : fs) f.join();
  });
  EXPECT_EQ(consumed, long{carriers()} * 2 * kPerProducer);
  EXPECT_EQ(available, 0);
  EXPECT_TRUE(m.try_lock());
  m.unlock();
}

TEST_P(CondVarTest, ErrorsAndCallsFromPlainThreads) {
  weft::Mutex m;
  weft::ConditionVariable cv;
  bool flag = false;
  // A plain thread sets the flag (try_lock works off a fiber) and notifies.
  std::thread t;
  run([&] {
    std::unique_lock<weft::Mutex> lk(m, std::defer_lock);
    EXPECT_THROW(cv.wait(lk), std::logic_error) << "the lock is not held";
    lk.lock();
    t = std::thread([&] {
      while (!m.try_lock()) std::this_thread::yield();
      flag = true;
      m.unlock();
      cv.notify_all();
    });
    // The timed wait keeps a timer armed, so the runtime never takes the wait for a deadlock.
    EXPECT_TRUE(cv.wait_for(lk, 10s, [&] { return flag; }));
  });
  t.join();
  std::thread([&] {
    std::unique_lock<weft::Mutex> lk(m, std::defer_lock);
    EXPECT_TRUE(lk.try_lock());
    EXPECT_THROW(cv.wait(lk), std::logic_error) << "off a fiber";
    EXPECT_TRUE(lk.owns_lock());
  }).join();
}

}  // namespace
