// Fibers: spawn, join, detach, cancel, identity, names, yield order, and weft::run() itself.
//
// Scheduling contract these tests pin down (fiber.hpp): spawn() queues the new fiber at the back
// of the run queue and returns at once, so the spawner keeps running; yield() puts the caller at
// the back of the queue, so every fiber that was ready runs before the caller continues
// (round-robin, FIFO among ready fibers).
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <weft/weft.hpp>

#include "support.hpp"

namespace {

using namespace std::chrono_literals;
using weft::Clock;

using weft_test::Pipe;

// CustomError is not derived from std::exception, to check that any thrown type survives.
struct CustomError {
  int code;
};

// DerivedError checks that join() rethrows the dynamic type, not a slice of it.
struct DerivedError : std::runtime_error {
  explicit DerivedError(int c) : std::runtime_error("derived"), code(c) {}
  int code;
};

// ---------------------------------------------------------------------------------------------
// spawn / join

TEST(Spawn, JoinReturnsInt) {
  int got = weft_test::run([] { return weft::spawn([] { return 42; }).join(); });
  EXPECT_EQ(got, 42);
}

TEST(Spawn, JoinReturnsString) {
  std::string got = weft_test::run([] {
    auto f = weft::spawn([] { return std::string(1000, 'x') + "tail"; });
    return f.join();
  });
  EXPECT_EQ(got.size(), 1004u);
  EXPECT_EQ(got.substr(1000), "tail");
}

TEST(Spawn, JoinReturnsMoveOnly) {
  std::unique_ptr<int> got = weft_test::run([] {
    auto f = weft::spawn([] { return std::make_unique<int>(7); });
    return f.join();
  });
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(*got, 7);
}

TEST(Spawn, JoinVoid) {
  int side = 0;
  weft_test::run([&] {
    weft::Fiber<void> f = weft::spawn([&] { side = 5; });
    EXPECT_TRUE(f.joinable());
    f.join();
    EXPECT_FALSE(f.joinable());
  });
  EXPECT_EQ(side, 5);
}

TEST(Spawn, JoinEmptiesHandle) {
  weft_test::run([] {
    auto f = weft::spawn([] { return 1; });
    EXPECT_TRUE(f.joinable());
    EXPECT_NE(f.id(), 0u);
    EXPECT_EQ(f.join(), 1);
    EXPECT_FALSE(f.joinable());
    EXPECT_FALSE(f.done());
    EXPECT_EQ(f.id(), 0u);
  });
}

TEST(Spawn, JoinRethrowsStdException) {
  weft_test::run([] {
    auto f = weft::spawn([]() -> int { throw DerivedError(17); });
    try {
      f.join();
      ADD_FAILURE() << "join() did not rethrow";
    } catch (const DerivedError& e) {
      EXPECT_EQ(e.code, 17);
      EXPECT_STREQ(e.what(), "derived");
    } catch (...) {
      ADD_FAILURE() << "join() rethrew a different type";
    }
    EXPECT_FALSE(f.joinable());
  });
}

TEST(Spawn, JoinRethrowsNonStdException) {
  weft_test::run([] {
    auto f = weft::spawn([] { throw CustomError{99}; });
    try {
      f.join();
      ADD_FAILURE() << "join() did not rethrow";
    } catch (const CustomError& e) {
      EXPECT_EQ(e.code, 99);
    }
  });
}

TEST(Spawn, ExceptionAfterBlocking) {
  // The fiber throws after it has been suspended and resumed; the exception still reaches join.
  weft_test::run([] {
    auto f = weft::spawn([]() -> std::string {
      weft::this_fiber::sleep_for(1ms);
      weft::this_fiber::yield();
      throw std::out_of_range("late");
    });
    EXPECT_THROW(f.join(), std::out_of_range);
  });
}

TEST(Spawn, WithArgumentsAreCopied) {
  weft_test::run([] {
    std::string s = "abc";
    auto f = weft::spawn(
        [](int a, const std::string& str, std::unique_ptr<int> p) {
          return a + static_cast<int>(str.size()) * 10 + *p * 100;
        },
        1, s, std::make_unique<int>(5));
    s = "changed after spawn";  // the fiber has its own copy
    EXPECT_EQ(f.join(), 1 + 30 + 500);
  });
}

TEST(Spawn, WithReferenceWrapper) {
  int v = 0;
  weft_test::run([&] { weft::spawn([](int& x) { x = 11; }, std::ref(v)).join(); });
  EXPECT_EQ(v, 11);
}

TEST(Spawn, SpawnWithNameAndStackSize) {
  weft_test::run([] {
    auto f = weft::spawn_with({.name = "worker-1", .stack_size = 256 * 1024}, [] {
      // Uses ~128 KiB, more than the 64 KiB default stack could hold.
      volatile char big[128 * 1024];
      for (std::size_t i = 0; i < sizeof(big); i += 512) big[i] = static_cast<char>(i);
      int sum = 0;
      for (std::size_t i = 0; i < sizeof(big); i += 4096) sum += big[i];
      return std::make_pair(std::string(weft::this_fiber::name()), sum);
    });
    auto [name, sum] = f.join();
    EXPECT_EQ(name, "worker-1");
    (void)sum;
  });
}

TEST(Spawn, NestedSpawns) {
  // Each fiber spawns two children down to depth 8 and returns the size of its subtree.
  struct Tree {
    static int grow(int depth) {
      if (depth == 0) return 1;
      auto l = weft::spawn(grow, depth - 1);
      auto r = weft::spawn(grow, depth - 1);
      return 1 + l.join() + r.join();
    }
  };
  EXPECT_EQ(weft_test::run([] { return Tree::grow(8); }), (1 << 9) - 1);
}

TEST(Spawn, JoinAlreadyFinished) {
  weft_test::run([] {
    auto f = weft::spawn([] { return 3; });
    for (int i = 0; i < 100 && !f.done(); ++i) weft::this_fiber::yield();
    EXPECT_TRUE(f.done());
    EXPECT_EQ(f.join(), 3);
  });
}

TEST(Spawn, MoveAssignmentDetachesOld) {
  int finished = 0;
  weft_test::run([&] {
    auto a = weft::spawn([&] {
      weft::this_fiber::yield();
      ++finished;
    });
    auto b = weft::spawn([&] { ++finished; });
    a = std::move(b);  // detaches the first fiber, which still runs
    EXPECT_FALSE(b.joinable());
    a.join();
    for (int i = 0; i < 100 && finished < 2; ++i) weft::this_fiber::yield();
  });
  EXPECT_EQ(finished, 2);
}

TEST(Spawn, JoinFromAnotherFiber) {
  weft_test::run([] {
    auto target = weft::spawn([] {
      weft::this_fiber::sleep_for(2ms);
      return 21;
    });
    // The handle moves into a second fiber, which joins it while main waits on that one.
    auto joiner = weft::spawn([t = std::move(target)]() mutable { return t.join() * 2; });
    EXPECT_FALSE(target.joinable());
    EXPECT_EQ(joiner.join(), 42);
  });
}

// ---------------------------------------------------------------------------------------------
// detach and handle destruction

TEST(Detach, DetachedFiberRunsToCompletion) {
  int done = 0;
  weft_test::run([&] {
    for (int i = 0; i < 10; ++i) {
      auto f = weft::spawn([&] {
        weft::this_fiber::sleep_for(2ms);
        weft::this_fiber::yield();
        ++done;
      });
      f.detach();
      EXPECT_FALSE(f.joinable());
    }
    // Detached fibers are not cancelled while main keeps running.
    auto until = Clock::now() + 5s;
    while (done < 10 && Clock::now() < until) weft::this_fiber::sleep_for(1ms);
  });
  EXPECT_EQ(done, 10);
}

TEST(Detach, HandleDestructorDetaches) {
  int done = 0;
  weft_test::run([&] {
    {
      auto f = weft::spawn([&] {
        weft::this_fiber::yield();
        weft::this_fiber::sleep_for(1ms);
        done = 1;
      });
    }  // ~Fiber detaches; the fiber keeps running
    auto until = Clock::now() + 5s;
    while (done == 0 && Clock::now() < until) weft::this_fiber::sleep_for(1ms);
  });
  EXPECT_EQ(done, 1);
}

TEST(Detach, RunWaitsForNonBlockingDetachedFibers) {
  // Yield is not a blocking call, so cancellation at shutdown cannot stop these fibers:
  // run() must wait for them to finish.
  int done = 0;
  weft_test::run([&] {
    for (int i = 0; i < 5; ++i) {
      weft::spawn([&] {
        for (int k = 0; k < 100; ++k) weft::this_fiber::yield();
        ++done;
      });
    }
  });
  EXPECT_EQ(done, 5);
}

// ---------------------------------------------------------------------------------------------
// identity and names

TEST(Identity, IdsUniqueAndNonZero) {
  std::vector<std::uint64_t> ids;
  weft_test::run([&] {
    ids.push_back(weft::this_fiber::id());
    std::vector<weft::Fiber<std::uint64_t>> fs;
    for (int i = 0; i < 100; ++i) fs.push_back(weft::spawn([] { return weft::this_fiber::id(); }));
    for (auto& f : fs) {
      std::uint64_t handle_id = f.id();
      std::uint64_t inner_id = f.join();
      EXPECT_EQ(handle_id, inner_id);
      ids.push_back(inner_id);
    }
  });
  std::set<std::uint64_t> unique(ids.begin(), ids.end());
  EXPECT_EQ(unique.size(), ids.size());
  EXPECT_EQ(unique.count(0), 0u);
}

TEST(Identity, IdsUniqueAcrossRuns) {
  auto a = weft_test::run([] { return weft::spawn([] { return weft::this_fiber::id(); }).join(); });
  auto b = weft_test::run([] { return weft::spawn([] { return weft::this_fiber::id(); }).join(); });
  EXPECT_NE(a, 0u);
  EXPECT_NE(b, 0u);
  EXPECT_NE(a, b);
}

TEST(Identity, OffFiber) {
  EXPECT_EQ(weft::this_fiber::id(), 0u);
  EXPECT_TRUE(weft::this_fiber::name().empty());
  weft::this_fiber::set_name("ignored");
  EXPECT_TRUE(weft::this_fiber::name().empty());
  EXPECT_FALSE(weft::this_fiber::cancelled());
  EXPECT_FALSE(weft::in_fiber());
  EXPECT_THROW(weft::stats(), std::logic_error);
}

TEST(Identity, InFiber) {
  weft_test::run([] {
    EXPECT_TRUE(weft::in_fiber());
    EXPECT_TRUE(weft::spawn([] { return weft::in_fiber(); }).join());
    EXPECT_NO_THROW(weft::stats());
  });
  EXPECT_FALSE(weft::in_fiber());
}

TEST(Names, MainFiberIsNamedMain) {
  EXPECT_EQ(weft_test::run([] { return std::string(weft::this_fiber::name()); }), "main");
}

TEST(Names, SetAndGet) {
  weft_test::run([] {
    auto f = weft::spawn([] {
      std::string before(weft::this_fiber::name());
      weft::this_fiber::set_name("renamed");
      weft::this_fiber::yield();
      return before + "|" + std::string(weft::this_fiber::name());
    });
    EXPECT_EQ(f.join(), "|renamed");
  });
}

TEST(Names, SpawnWithNameIsKept) {
  weft_test::run([] {
    auto f =
        weft::spawn_with({.name = "reader"}, [] { return std::string(weft::this_fiber::name()); });
    EXPECT_EQ(f.join(), "reader");
  });
}

TEST(Names, TruncatedTo31Bytes) {
  const std::string long_name = "0123456789abcdefghijklmnopqrstuvwxyzABCDEF";  // 42 bytes
  weft_test::run([&] {
    auto a =
        weft::spawn_with({.name = long_name}, [] { return std::string(weft::this_fiber::name()); });
    EXPECT_EQ(a.join(), long_name.substr(0, 31));
    auto b = weft::spawn([&] {
      weft::this_fiber::set_name(long_name);
      return std::string(weft::this_fiber::name());
    });
    EXPECT_EQ(b.join(), long_name.substr(0, 31));
    auto c = weft::spawn([] {
      weft::this_fiber::set_name(std::string(31, 'n'));
      return std::string(weft::this_fiber::name());
    });
    EXPECT_EQ(c.join(), std::string(31, 'n'));
  });
}

TEST(Names, NameArgumentNeedNotOutliveSpawn) {
  weft_test::run([] {
    weft::Fiber<std::string> f;
    {
      std::string temp = "temporary-name";
      f = weft::spawn_with({.name = temp}, [] {
        weft::this_fiber::yield();
        return std::string(weft::this_fiber::name());
      });
      temp.assign(temp.size(), '#');
    }
    EXPECT_EQ(f.join(), "temporary-name");
  });
}

// ---------------------------------------------------------------------------------------------
// scheduling order

TEST(Yield, SpawnQueuesRatherThanRuns) {
  weft_test::run([] {
    bool ran = false;
    auto f = weft::spawn([&] { ran = true; });
    EXPECT_FALSE(ran) << "spawn() ran the new fiber before returning";
    weft::this_fiber::yield();
    EXPECT_TRUE(ran) << "yield() did not let the queued fiber run";
    f.join();
  });
}

TEST(Yield, RoundRobinFifo) {
  std::string log;
  weft_test::run([&] {
    auto mk = [&](char c) {
      return weft::spawn([&log, c] {
        log += c;
        weft::this_fiber::yield();
        log += c;
        weft::this_fiber::yield();
        log += c;
      });
    };
    auto a = mk('a');
    auto b = mk('b');
    auto c = mk('c');
    log += 'M';
    weft::this_fiber::yield();
    log += 'M';
    weft::this_fiber::yield();
    log += 'M';
    a.join();
    b.join();
    c.join();
  });
  EXPECT_EQ(log, "MabcMabcMabc");
}

TEST(Yield, AloneReturnsImmediately) {
  weft_test::run([] {
    // 100,000 lone yields take milliseconds; the bound is kPrompt (a loaded CI machine may
    // deschedule the thread for seconds), which a yield that waited even 1 ms in the kernel
    // each time (100 s in all) still exceeds by far.
    auto t0 = Clock::now();
    for (int i = 0; i < 100000; ++i) weft::this_fiber::yield();
    EXPECT_LT(Clock::now() - t0, weft_test::kPrompt);
  });
}

TEST(Yield, EveryReadyFiberRunsBeforeCaller) {
  weft_test::run([] {
    int count = 0;
    std::vector<weft::Fiber<void>> fs;
    for (int i = 0; i < 50; ++i) fs.push_back(weft::spawn([&] { ++count; }));
    weft::this_fiber::yield();
    EXPECT_EQ(count, 50);
    for (auto& f : fs) f.join();
  });
}

// ---------------------------------------------------------------------------------------------
// cancellation

TEST(Cancel, SleepingFiber) {
  weft_test::run([] {
    auto f = weft::spawn([] {
      int r = weft::this_fiber::sleep_for(1h);
      return std::make_pair(r, weft::this_fiber::cancelled());
    });
    weft::this_fiber::sleep_for(5ms);
    EXPECT_FALSE(f.done());
    auto t0 = Clock::now();
    f.cancel();
    auto [r, flag] = f.join();
    EXPECT_EQ(r, -ECANCELED);
    EXPECT_TRUE(flag);
    EXPECT_LT(Clock::now() - t0, weft_test::kPrompt);
  });
}

TEST(Cancel, FiberBlockedInRead) {
  Pipe p;
  weft_test::run([&] {
    auto f = weft::spawn([&] {
      char buf[16];
      return weft::read(p.r, buf, sizeof buf);
    });
    weft::this_fiber::sleep_for(5ms);
    EXPECT_FALSE(f.done());
    f.cancel();
    EXPECT_EQ(f.join(), -ECANCELED);
    EXPECT_EQ(weft::stats().io_inflight, 0u);
    // The cancelled read must not have consumed anything: data written now arrives intact.
    ASSERT_EQ(weft::write(p.w, "xyz", 3), 3);
    char buf[8] = {};
    EXPECT_EQ(weft::read(p.r, buf, sizeof buf), 3);
    EXPECT_EQ(std::string(buf, 3), "xyz");
  });
}

TEST(Cancel, BeforeFirstRunAndLaterCallsFailToo) {
  weft_test::run([] {
    auto f = weft::spawn([] {
      std::vector<int> rs;
      rs.push_back(weft::this_fiber::sleep_for(1h));
      rs.push_back(weft::this_fiber::sleep_for(1h));
      rs.push_back(weft::this_fiber::cancelled() ? 1 : 0);
      return rs;
    });
    f.cancel();  // not yet started
    auto rs = f.join();
    EXPECT_EQ(rs, (std::vector<int>{-ECANCELED, -ECANCELED, 1}));
  });
}

TEST(Cancel, FinishedFiberKeepsResult) {
  weft_test::run([] {
    auto f = weft::spawn([] { return 8; });
    for (int i = 0; i < 100 && !f.done(); ++i) weft::this_fiber::yield();
    f.cancel();
    EXPECT_EQ(f.join(), 8);
  });
}

TEST(Cancel, OnlyTheTargetIsCancelled) {
  weft_test::run([] {
    auto victim = weft::spawn([] { return weft::this_fiber::sleep_for(1h); });
    auto bystander = weft::spawn([] { return weft::this_fiber::sleep_for(20ms); });
    weft::this_fiber::yield();
    victim.cancel();
    EXPECT_EQ(victim.join(), -ECANCELED);
    EXPECT_EQ(bystander.join(), 0);
    EXPECT_FALSE(weft::this_fiber::cancelled());
    EXPECT_EQ(weft::this_fiber::sleep_for(1ms), 0);
  });
}

// ---------------------------------------------------------------------------------------------
// weft::run

TEST(Run, ReturnsValue) {
  EXPECT_EQ(weft_test::run([] { return 5; }), 5);
  EXPECT_EQ(weft_test::run(weft::Config{}, [] { return std::string("cfg"); }), "cfg");
  auto p = weft_test::run([] { return std::make_unique<int>(3); });
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 3);
}

TEST(Run, RethrowsMainException) {
  EXPECT_THROW(weft_test::run([] { throw DerivedError(1); }), DerivedError);
  try {
    weft_test::run([]() -> int { throw CustomError{4}; });
    ADD_FAILURE() << "run() did not rethrow";
  } catch (const CustomError& e) {
    EXPECT_EQ(e.code, 4);
  }
  // The thread is usable again afterwards.
  EXPECT_EQ(weft_test::run([] { return 1; }), 1);
}

TEST(Run, MainReturnsWhileOthersBlocked) {
  Pipe p;
  int sleep_r = 1, sleep_r2 = 1, read_r = 1, join_r = 1, finished = 0;
  auto t0 = Clock::now();
  weft_test::run([&] {
    weft::spawn([&] {
      sleep_r = weft::this_fiber::sleep_for(1h);
      sleep_r2 = weft::this_fiber::sleep_for(1h);  // later calls fail too
      ++finished;
    });
    weft::spawn([&] {
      char buf[4];
      read_r = static_cast<int>(weft::read(p.r, buf, sizeof buf));
      ++finished;
    });
    weft::spawn([&] {
      // Joins a fiber that is itself blocked: both are drained.
      auto inner = weft::spawn([] { return weft::this_fiber::sleep_for(1h); });
      join_r = inner.join();
      ++finished;
    });
    weft::this_fiber::sleep_for(5ms);
  });
  EXPECT_LT(Clock::now() - t0, weft_test::kPrompt);
  EXPECT_EQ(sleep_r, -ECANCELED);
  EXPECT_EQ(sleep_r2, -ECANCELED);
  EXPECT_EQ(read_r, -ECANCELED);
  EXPECT_EQ(join_r, -ECANCELED);
  EXPECT_EQ(finished, 3);
  auto s = weft::last_run_stats();
  EXPECT_EQ(s.fibers_live, 0u);
  EXPECT_EQ(s.io_inflight, 0u);
  EXPECT_EQ(s.timers_pending, 0u);
}

TEST(Run, FibersSpawnedDuringShutdownAreCancelledToo) {
  int outer = 1, inner = 1;
  auto t0 = Clock::now();
  weft_test::run([&] {
    weft::spawn([&] {
      outer = weft::this_fiber::sleep_for(1h);
      // Spawned after main returned: starts cancelled, or run() could never return.
      weft::spawn([&] { inner = weft::this_fiber::sleep_for(1h); });
    });
    weft::this_fiber::yield();
  });
  EXPECT_EQ(outer, -ECANCELED);
  EXPECT_EQ(inner, -ECANCELED);
  EXPECT_LT(Clock::now() - t0, weft_test::kPrompt);
}

TEST(Run, SpawnOutsideRunThrows) {
  EXPECT_THROW(weft::spawn([] { return 1; }), std::logic_error);
  EXPECT_THROW(weft::spawn_with({.name = "x"}, [] {}), std::logic_error);
}

TEST(Run, JoinEmptyHandleThrows) {
  weft::Fiber<int> outside;
  EXPECT_THROW(outside.join(), std::logic_error);
  weft_test::run([] {
    weft::Fiber<int> empty;
    EXPECT_FALSE(empty.joinable());
    EXPECT_THROW(empty.join(), std::logic_error);
    auto f = weft::spawn([] { return 2; });
    EXPECT_EQ(f.join(), 2);
    EXPECT_THROW(f.join(), std::logic_error);  // joined handles are empty
  });
}

TEST(Run, TwiceSequentially) {
  std::uint64_t created_first = 0, created_second = 0;
  int a = weft_test::run([&] {
    created_first = weft::stats().fibers_created;
    return weft::spawn([] { return 10; }).join();
  });
  auto first = weft::last_run_stats();
  int b = weft_test::run([&] {
    created_second = weft::stats().fibers_created;
    return weft::spawn([] { return 20; }).join();
  });
  EXPECT_EQ(a, 10);
  EXPECT_EQ(b, 20);
  // Each run starts a fresh carrier: counters do not carry over.
  EXPECT_EQ(created_first, created_second);
  EXPECT_EQ(first.fibers_created, weft::last_run_stats().fibers_created);
  EXPECT_GE(first.fibers_created, 1u);
}

TEST(Run, ConcurrentOnTwoThreads) {
  // Each thread is its own carrier, with fibers that sleep, yield and do pipe I/O.
  auto work = [](int seed, long* out, std::set<std::uint64_t>* ids, std::uint64_t* created) {
    *out = weft_test::run([&] {
      Pipe p;
      auto reader = weft::spawn([&] {
        long sum = 0;
        int v;
        while (weft::read_exact(p.r, &v, sizeof v) == static_cast<ssize_t>(sizeof v)) sum += v;
        return sum;
      });
      std::vector<weft::Fiber<std::uint64_t>> fs;
      for (int i = 0; i < 100; ++i) {
        fs.push_back(weft::spawn([&, i] {
          weft::this_fiber::sleep_for(std::chrono::milliseconds(i % 5));
          weft::this_fiber::yield();
          int v = seed * 1000 + i;
          EXPECT_EQ(weft::write_all(p.w, &v, sizeof v), static_cast<ssize_t>(sizeof v));
          return weft::this_fiber::id();
        }));
      }
      for (auto& f : fs) ids->insert(f.join());
      weft::close(p.w);
      p.w = -1;
      *created = weft::stats().fibers_created;
      return reader.join();
    });
  };
  long out1 = 0, out2 = 0;
  std::set<std::uint64_t> ids1, ids2;
  std::uint64_t created1 = 0, created2 = 0;
  std::thread t1(work, 1, &out1, &ids1, &created1);
  std::thread t2(work, 2, &out2, &ids2, &created2);
  t1.join();
  t2.join();
  EXPECT_EQ(out1, 100 * 1000 + 99 * 100 / 2);
  EXPECT_EQ(out2, 200 * 1000 + 99 * 100 / 2);
  EXPECT_EQ(ids1.size(), 100u);
  EXPECT_EQ(ids2.size(), 100u);
  for (auto id : ids1) EXPECT_EQ(ids2.count(id), 0u) << "fiber id " << id << " on both threads";
  // Each carrier counts only its own fibers.
  EXPECT_LT(created1, 110u);
  EXPECT_LT(created2, 110u);
  EXPECT_GE(created1, 101u);
}

TEST(Run, CarrierPerThreadIsIndependent) {
  // A thread that never ran weft has no carrier even while another thread is inside run().
  std::atomic<int> phase{0};
  bool other_threw = false, other_in_fiber = true;
  weft_test::run([&] {
    std::thread t([&] {
      try {
        weft::stats();
      } catch (const std::logic_error&) {
        other_threw = true;
      }
      other_in_fiber = weft::in_fiber();
      phase = 1;
    });
    while (phase.load() == 0) weft::this_fiber::sleep_for(1ms);
    t.join();
  });
  EXPECT_TRUE(other_threw);
  EXPECT_FALSE(other_in_fiber);
}

}  // namespace
