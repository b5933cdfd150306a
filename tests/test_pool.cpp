// Pool: the size bound, join, handles and results, waiting for a place, cancel and kill (of
// started and unstarted members), cancellation and Timeout scopes in spawn and join, the
// destructor, misuse, and a pool shared by fibers of several carriers. Every test runs for 1,
// 2 and 4 carriers and checks for leaks at the end.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include <weft/weft.hpp>

#include "sync_support.hpp"

namespace {

using namespace std::chrono_literals;
using weft::Clock;
using weft_test::CarriersTest;

// Gauge tracks how many tasks run at once and the most it has seen.
struct Gauge {
  std::atomic<int> now{0};
  std::atomic<int> most{0};
  // enter() counts a task in.
  void enter() {
    int n = ++now;
    int seen = most.load();
    while (n > seen && !most.compare_exchange_weak(seen, n)) {
    }
  }
  // leave() counts a task out.
  void leave() { --now; }
};

class PoolTest : public CarriersTest {};
INSTANTIATE_CARRIERS(PoolTest);

TEST_P(PoolTest, BoundsConcurrencyAndJoinWaitsForAll) {
  run([&] {
    weft::Pool pool(4);
    EXPECT_EQ(pool.size(), 4u);
    EXPECT_EQ(pool.free_count(), 4u);
    Gauge g;
    std::atomic<int> finished{0};
    // The first four stay inside until all four are: a fixed sleep would let the first leave
    // before the fourth enters when the spawner's carrier is descheduled for long. A pool that
    // admitted fewer than four would keep them waiting 20 s, and most would stay below 4.
    std::atomic<int> first_in{0};
    weft::Event first_four;
    for (int i = 0; i < 100; ++i) {
      pool.spawn([&, i] {
        g.enter();
        if (i < 4) {
          if (++first_in == 4) first_four.set();
          first_four.wait_for(20s);
        } else if (i % 3 == 0) {
          weft::this_fiber::sleep_for(1ms);
        } else {
          weft::this_fiber::yield();
        }
        g.leave();
        ++finished;
      });
      EXPECT_LE(pool.running(), 4u);
    }
    pool.join();
    EXPECT_EQ(finished, 100);
    EXPECT_EQ(g.most, 4);
    EXPECT_EQ(pool.running(), 0u);
    EXPECT_EQ(pool.free_count(), 4u);
    pool.join();  // nothing running: returns at once
  });
}

TEST_P(PoolTest, SpawnReturnsTheMembersHandle) {
  run([&] {
    weft::Pool pool(2);
    auto a = pool.spawn([](int x) { return x * 2; }, 21);
    auto b = pool.spawn_with(weft::SpawnOptions{"member"},
                             [] { return std::string(weft::this_fiber::name()); });
    auto c = pool.spawn([]() -> int { throw std::runtime_error("boom"); });
    EXPECT_EQ(a.join(), 42);
    EXPECT_EQ(b.join(), "member");
    EXPECT_THROW(c.join(), std::runtime_error);
    pool.join();
    EXPECT_EQ(pool.running(), 0u);
  });
}

TEST_P(PoolTest, SpawnWaitsForAFreePlace) {
  run([&] {
    weft::Pool pool(1);
    weft::Event release;
    pool.spawn([&] { release.wait(); });
    EXPECT_EQ(pool.free_count(), 0u);
    std::atomic<bool> spawned{false}, second_ran{false};
    auto spawner = weft::spawn([&] {
      pool.spawn([&] { second_ran = true; });
      spawned = true;
    });
    weft::this_fiber::sleep_for(10ms);
    EXPECT_FALSE(spawned) << "spawn() returned while the pool was full";
    release.set();
    spawner.join();
    pool.join();
    EXPECT_TRUE(second_ran);
  });
}

TEST_P(PoolTest, KillCancelsEveryMember) {
  run([&] {
    weft::Pool pool(8);
    std::atomic<int> cancelled{0};
    for (int i = 0; i < 8; ++i) {
      pool.spawn([&] {
        // Longer than kPrompt: a kill that let the sleeps run out fails the bound below.
        if (weft::this_fiber::sleep_for(60s) == -ECANCELED) ++cancelled;
      });
    }
    weft::this_fiber::sleep_for(2ms);  // let them start and block (unstarted ones start cancelled)
    auto t0 = Clock::now();
    pool.kill();
    EXPECT_LT(Clock::now() - t0, weft_test::kPrompt);
    EXPECT_EQ(cancelled, 8);
    EXPECT_EQ(pool.running(), 0u);
    // Members spawned after a cancel are not cancelled.
    auto f = pool.spawn([] { return weft::this_fiber::cancelled(); });
    EXPECT_FALSE(f.join());
  });
}

TEST_P(PoolTest, CancelReachesMembersNotYetStarted) {
  // spawn() queues the member without switching to it, so on one carrier none of the five has
  // started when cancel() runs; they start cancelled, and the wait throws at once. (Where
  // another carrier may have started some already, those are cancelled while they wait.)
  run([&] {
    weft::Pool pool(10);
    weft::Event never;
    std::atomic<int> started_cancelled{0};
    std::vector<weft::Fiber<void>> fs;
    for (int i = 0; i < 5; ++i) {
      fs.push_back(pool.spawn([&] {
        if (weft::this_fiber::cancelled()) ++started_cancelled;
        never.wait();
      }));
    }
    pool.cancel();
    for (auto& f : fs) EXPECT_THROW(f.join(), weft::Cancelled);
    pool.join();
    if (carriers() == 1) {
      EXPECT_EQ(started_cancelled, 5);
    }
  });
}

TEST_P(PoolTest, CancellationAndScopesInSpawnAndJoin) {
  run([&] {
    weft::Pool pool(1);
    weft::Event release;
    pool.spawn([&] { release.wait(); });
    // A spawn() waiting for a place is cancelled: it throws and starts nothing.
    std::atomic<bool> started{false};
    auto spawner = weft::spawn([&] { pool.spawn([&] { started = true; }); });
    weft::this_fiber::sleep_for(5ms);
    spawner.cancel();
    EXPECT_THROW(spawner.join(), weft::Cancelled);
    EXPECT_EQ(pool.running(), 1u);
    // Timeout scopes expire in spawn() and join(); join_for() reports its own deadline.
    {
      weft::Timeout t(10ms);
      try {
        pool.spawn([&] { started = true; });
        ADD_FAILURE() << "spawn() returned";
      } catch (const weft::TimedOut& e) {
        EXPECT_EQ(e.scope(), &t);
      }
    }
    {
      weft::Timeout t(10ms);
      try {
        pool.join();
        ADD_FAILURE() << "join() returned";
      } catch (const weft::TimedOut& e) {
        EXPECT_EQ(e.scope(), &t);
      }
    }
    EXPECT_FALSE(pool.join_for(5ms));
    EXPECT_FALSE(pool.join_until(std::chrono::system_clock::now() + 5ms));
    auto joiner = weft::spawn([&] { pool.join(); });
    weft::this_fiber::sleep_for(2ms);
    joiner.cancel();
    EXPECT_THROW(joiner.join(), weft::Cancelled);
    release.set();
    EXPECT_TRUE(pool.join_for(10s));
    EXPECT_FALSE(started);
    EXPECT_EQ(pool.free_count(), 1u);
  });
}

TEST_P(PoolTest, DestructorWaitsForMembers) {
  run([&] {
    std::atomic<int> finished{0};
    {
      weft::Pool pool(3);
      for (int i = 0; i < 6; ++i) {
        pool.spawn([&] {
          weft::this_fiber::sleep_for(5ms);
          ++finished;
        });
      }
    }
    EXPECT_EQ(finished, 6);
    // Even in a cancelled fiber: the destructor's wait cannot be interrupted. The member waits
    // for `go`, set only once the owner has been seen blocked in the pool (in join(), then, after
    // the cancel, in the destructor); fixed sleeps here raced with a descheduled carrier (the
    // member could finish before the cancel, and join() then returned without throwing).
    weft::Event go;
    std::atomic<bool> threw{false};
    int finished_at_pool_end = -1;
    auto f = weft::spawn_with({.name = "owner"}, [&] {
      {
        weft::Pool pool(2);
        pool.spawn([&] {
          go.wait_for(60s);
          ++finished;
        });
        try {
          pool.join();
        } catch (const weft::Cancelled&) {
          ++finished;
          threw = true;
        }
      }
      finished_at_pool_end = finished.load();
    });
    auto await_until = [](auto pred) {
      auto give_up = Clock::now() + 30s;
      while (!pred() && Clock::now() < give_up) weft::this_fiber::sleep_for(1ms);
      EXPECT_TRUE(pred()) << weft::fiber_dump();
    };
    auto owner_in_pool = [] { return weft_test::blocked_named("owner", "wait group"); };
    await_until(owner_in_pool);  // in join()
    f.cancel();
    await_until([&] { return threw.load(); });
    await_until(owner_in_pool);  // now in the destructor, which must keep waiting
    go.set();
    f.join();
    EXPECT_EQ(finished, 8);
    EXPECT_EQ(finished_at_pool_end, 8) << "the destructor returned before its member finished";
  });
}

TEST_P(PoolTest, Misuse) {
  run([&] {
    EXPECT_THROW(weft::Pool(0), std::invalid_argument);
    weft::Pool pool(2);
    auto f = pool.spawn([&] { pool.join(); });
    EXPECT_THROW(f.join(), std::logic_error) << "a member joining its own pool";
    std::thread([&] {
      EXPECT_THROW(pool.spawn([] {}), std::logic_error) << "off a fiber";
      EXPECT_THROW(pool.join(), std::logic_error) << "off a fiber";
    }).join();
  });
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(run([] {
                 weft::Pool* pool = nullptr;
                 pool = new weft::Pool(1);
                 pool->spawn([&] { delete pool; });
                 pool->join();
               }),
               "weft::Pool destroyed by one of its own members");
}

TEST_P(PoolTest, SharedByFibersOfSeveralCarriers) {
  // Fibers of every carrier spawn into one pool of 4: the bound holds across carriers, and each
  // carrier's join() waits for every member, its own and the others'.
  weft::Pool pool(4);
  Gauge g;
  std::atomic<int> finished{0};
  run_spread([&](unsigned) {
    for (int i = 0; i < 200; ++i) {
      pool.spawn([&, i] {
        g.enter();
        if (i % 5 == 0) {
          weft::this_fiber::sleep_for(100us);
        } else {
          weft::this_fiber::yield();
        }
        g.leave();
        ++finished;
      });
    }
    pool.join();
  });
  EXPECT_EQ(finished, 200 * static_cast<int>(carriers()));
  EXPECT_LE(g.most, 4);
  EXPECT_EQ(pool.running(), 0u);
  EXPECT_EQ(pool.free_count(), 4u);
}

}  // namespace
