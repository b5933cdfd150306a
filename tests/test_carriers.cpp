// Many carriers: placement, pinning, cross-carrier join/cancel/close, stealing, shutdown and
// deadlock detection across carriers. Each test runs with 1, 2 and 4 carriers.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <set>
#include <stdexcept>
#include <vector>

#include <weft/weft.hpp>

#include "support.hpp"

namespace {

using namespace std::chrono_literals;

long tid() {
  return ::syscall(SYS_gettid);
}

class Carriers : public ::testing::TestWithParam<unsigned> {
 protected:
  weft::Config cfg() const {
    weft::Config c;
    c.carriers = GetParam();
    c.stall_ms = 0;  // a slow (sanitized) spawn loop must not start spares here: test_watchdog
    return c;
  }
};

TEST_P(Carriers, StatsReportTheCarrierCount) {
  unsigned n = weft::run(cfg(), [] { return weft::stats().carriers; });
  EXPECT_EQ(n, GetParam());
  EXPECT_EQ(weft::last_run_stats().carriers, GetParam());
}

TEST_P(Carriers, FibersSpreadOverCarrierThreads) {
  // Each fiber yields until all 64 have started, so a carrier that has some never goes idle
  // and cannot steal the rest: however slow the spawn loop (sanitizers), each carrier keeps
  // what placement gave it.
  std::set<long> tids = weft::run(cfg(), [] {
    std::atomic<int> started{0};
    std::vector<weft::Fiber<long>> fs;
    for (int i = 0; i < 64; ++i) {
      fs.push_back(weft::spawn([&started] {
        started.fetch_add(1);
        auto give_up = std::chrono::steady_clock::now() + 10s;
        while (started.load() < 64 && std::chrono::steady_clock::now() < give_up) {
          weft::this_fiber::yield();
        }
        return tid();
      }));
    }
    std::set<long> out;
    for (auto& f : fs) out.insert(f.join());
    return out;
  });
  EXPECT_EQ(tids.size(), GetParam());
}

TEST_P(Carriers, StartedFiberNeverChangesThread) {
  std::atomic<int> moved{0};
  weft::run(cfg(), [&] {
    weft_test::Pipe p;
    std::vector<weft::Fiber<void>> fs;
    for (int i = 0; i < 200; ++i) {
      fs.push_back(weft::spawn([&] {
        long mine = tid();
        for (int k = 0; k < 20; ++k) {
          weft::this_fiber::yield();
          if (k % 5 == 0) weft::this_fiber::sleep_for(1ms);
          if (tid() != mine) moved.fetch_add(1);
        }
      }));
    }
    for (auto& f : fs) f.join();
  });
  EXPECT_EQ(moved.load(), 0);
  EXPECT_EQ(weft::last_run_stats().fibers_live, 0u);
}

TEST_P(Carriers, JoinAcrossCarriersReturnsValuesAndExceptions) {
  weft::run(cfg(), [] {
    std::vector<weft::Fiber<int>> fs;
    for (int i = 0; i < 1000; ++i) {
      fs.push_back(weft::spawn([i] {
        if (i % 2 == 0) weft::this_fiber::yield();
        if (i % 7 == 0) throw std::runtime_error("seven");
        return i;
      }));
    }
    long sum = 0;
    int thrown = 0;
    for (auto& f : fs) {
      try {
        sum += f.join();
      } catch (const std::runtime_error&) {
        ++thrown;
      }
    }
    long want = 0;
    int want_thrown = 0;
    for (int i = 0; i < 1000; ++i) {
      if (i % 7 == 0) {
        ++want_thrown;
      } else {
        want += i;
      }
    }
    EXPECT_EQ(sum, want);
    EXPECT_EQ(thrown, want_thrown);
  });
  EXPECT_EQ(weft::last_run_stats().fibers_live, 0u);
}

TEST_P(Carriers, CancelFromAnotherFiberWakesBlockedRead) {
  weft::run(cfg(), [] {
    std::vector<weft_test::Pipe> pipes(16);
    std::vector<weft::Fiber<ssize_t>> readers;
    for (auto& p : pipes) {
      readers.push_back(weft::spawn([&p] {
        char c;
        return weft::read(p.r, &c, 1);
      }));
    }
    weft::this_fiber::sleep_for(20ms);  // let every reader block, wherever it runs
    // Cancel from fibers that may sit on other carriers than the readers.
    std::vector<weft::Fiber<void>> cancellers;
    for (auto& r : readers) cancellers.push_back(weft::spawn([&r] { r.cancel(); }));
    for (auto& c : cancellers) c.join();
    for (auto& r : readers) EXPECT_EQ(r.join(), -ECANCELED);
  });
  EXPECT_EQ(weft::last_run_stats().io_inflight, 0u);
}

TEST_P(Carriers, CloseWakesReadersOnEveryCarrier) {
  weft_test::Pipe p;
  weft::run(cfg(), [&] {
    std::vector<weft::Fiber<ssize_t>> readers;
    for (int i = 0; i < 32; ++i) {
      readers.push_back(weft::spawn([&] {
        char c;
        return weft::read(p.r, &c, 1);
      }));
    }
    weft::this_fiber::sleep_for(20ms);
    EXPECT_EQ(weft::close(p.r), 0);
    p.r = -1;
    for (auto& r : readers) EXPECT_EQ(r.join(), -EBADF);
  });
  EXPECT_EQ(weft::last_run_stats().io_inflight, 0u);
}

TEST_P(Carriers, Dup2OntoABlockedFdWakesItsReaders) {
  weft_test::Pipe p, q;
  weft::run(cfg(), [&] {
    std::vector<weft::Fiber<ssize_t>> readers;
    for (int i = 0; i < 32; ++i) {
      readers.push_back(weft::spawn([&] {
        char c;
        return weft::read(p.r, &c, 1);
      }));
    }
    // A reader that had not blocked yet would read the new pipe instead and never wake.
    while (weft::stats().io_inflight < 32) weft::this_fiber::sleep_for(1ms);
    // Onto itself, dup2 changes nothing and wakes nobody; dup3 refuses it.
    EXPECT_EQ(weft::dup2(p.r, p.r), p.r);
    EXPECT_EQ(weft::dup3(p.r, p.r, O_CLOEXEC), -EINVAL);
    EXPECT_EQ(weft::stats().io_inflight, 32u);
    EXPECT_EQ(weft::dup2(q.r, p.r), p.r);
    for (auto& r : readers) EXPECT_EQ(r.join(), -EBADF);
    // p.r now reads q's pipe.
    ASSERT_EQ(weft::write(q.w, "z", 1), 1);
    char c = 0;
    EXPECT_EQ(weft::read(p.r, &c, 1), 1);
    EXPECT_EQ(c, 'z');
    EXPECT_EQ(weft::dup3(q.r, p.r, O_CLOEXEC), p.r);
    EXPECT_EQ(::fcntl(p.r, F_GETFD), FD_CLOEXEC);
    EXPECT_EQ(weft::dup2(-1, p.r), -EBADF);
  });
  EXPECT_EQ(weft::last_run_stats().io_inflight, 0u);
}

TEST_P(Carriers, PingPongAcrossPipes) {
  // Two fibers, likely on different carriers, bounce a counter 2,000 times through pipes.
  weft_test::Pipe a, b;
  int last = weft::run(cfg(), [&] {
    auto peer = weft::spawn([&] {
      int v = 0;
      while (weft::read_exact(a.r, &v, sizeof v) == sizeof v) {
        ++v;
        weft::write_all(b.w, &v, sizeof v);
        if (v >= 2000) break;
      }
    });
    int v = 0;
    while (v < 2000) {
      ++v;
      weft::write_all(a.w, &v, sizeof v);
      weft::read_exact(b.r, &v, sizeof v);
    }
    peer.join();
    return v;
  });
  EXPECT_EQ(last, 2000);
}

TEST_P(Carriers, UnstartedFibersAreSharedOut) {
  // Every fiber computes without yielding; with more than one carrier, idle carriers must take
  // some of them (placement or stealing), so more than one thread does work.
  // The first fiber also spins (without yielding) until a fiber has run on another thread: an
  // idle carrier that takes fibers as fast as a slow (sanitized) spawn loop makes them would
  // otherwise run them all.
  std::set<long> tids;
  bool many = GetParam() > 1;
  weft::run(cfg(), [&] {
    std::atomic<long> first{0};
    std::atomic<bool> elsewhere{false};
    std::vector<weft::Fiber<long>> fs;
    for (int i = 0; i < 400; ++i) {
      fs.push_back(weft::spawn([&, many] {
        long me = tid();
        long expected = 0;
        if (!first.compare_exchange_strong(expected, me) && expected != me) {
          elsewhere = true;
        } else if (many && expected == 0) {
          auto give_up = std::chrono::steady_clock::now() + 10s;
          while (!elsewhere.load() && std::chrono::steady_clock::now() < give_up) {
          }
        }
        volatile unsigned x = 0;
        for (int k = 0; k < 20000; ++k) x = x + k;
        return me;
      }));
    }
    for (auto& f : fs) tids.insert(f.join());
  });
  if (GetParam() > 1) {
    EXPECT_GT(tids.size(), 1u);
  } else {
    EXPECT_EQ(tids.size(), 1u);
  }
}

TEST_P(Carriers, SpinnerMadeAfterABlockedFiberLeavesItsSpawnersCarrier) {
  // main spawns a fiber that blocks, then one that spins without yielding until main sets a flag.
  // Each carrier then holds one fiber of main's making; the spinner must not go to main's
  // carrier (placed there, or taken back by it while main sleeps), or main would never run again
  // to set the flag.
  if (GetParam() == 1) GTEST_SKIP() << "on one carrier every fiber shares main's";
  weft::run(cfg(), [] {
    for (int round = 0; round < 3; ++round) {
      weft::Event go;
      std::atomic<bool> flag{false};
      auto blocked = weft::spawn([&] { go.wait(); });
      auto spinner = weft::spawn([&] {
        auto give_up = std::chrono::steady_clock::now() + 30s;
        while (!flag.load() && std::chrono::steady_clock::now() < give_up) {
        }
        return flag.load();
      });
      weft::this_fiber::sleep_for(10ms);
      flag = true;
      bool saw = spinner.join();
      EXPECT_TRUE(saw) << "round " << round << ": the spinner held main's carrier";
      go.set();
      blocked.join();
      if (!saw) break;
    }
  });
}

TEST_P(Carriers, ShutdownCancelsFibersOnEveryCarrier) {
  std::atomic<int> cancelled{0};
  weft::run(cfg(), [&] {
    for (int i = 0; i < 1000; ++i) {
      weft::spawn([&] {
        if (weft::this_fiber::sleep_for(1h) == -ECANCELED) cancelled.fetch_add(1);
      });
    }
    weft::this_fiber::sleep_for(20ms);
  });
  EXPECT_EQ(cancelled.load(), 1000);
  auto s = weft::last_run_stats();
  EXPECT_EQ(s.fibers_live, 0u);
  EXPECT_EQ(s.timers_pending, 0u);
  EXPECT_EQ(s.stacks_in_use, 0u);
}

TEST_P(Carriers, HandlesDroppedOnOtherCarriersFreeTheirFibers) {
  weft::run(cfg(), [] {
    std::vector<weft::Fiber<int>> fs;
    for (int i = 0; i < 500; ++i) fs.push_back(weft::spawn([i] { return i; }));
    // Hand the handles to fibers that will be placed anywhere, and drop them there.
    std::vector<weft::Fiber<void>> droppers;
    for (auto& f : fs) {
      droppers.push_back(weft::spawn([h = std::move(f)]() mutable {
        weft::this_fiber::yield();
        h.detach();
      }));
    }
    for (auto& d : droppers) d.join();
  });
  EXPECT_EQ(weft::last_run_stats().fibers_live, 0u);
  EXPECT_EQ(weft::last_run_stats().stacks_in_use, 0u);
}

TEST_P(Carriers, RunsBackToBack) {
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(weft::run(cfg(), [i] { return weft::spawn([i] { return i * 2; }).join(); }), i * 2);
  }
}

TEST_P(Carriers, DeadlockAcrossCarriersIsReported) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  weft::Config c = cfg();
  EXPECT_DEATH(weft::run(c,
                         [] {
                           // Fibers that sleep with no deadline, on every carrier, and a main
                           // that joins one: only a cancel could wake any of them.
                           std::vector<weft::Fiber<int>> fs;
                           for (int i = 0; i < 8; ++i) {
                             fs.push_back(weft::spawn(
                                 [] { return weft::this_fiber::sleep_until(weft::Deadline()); }));
                           }
                           fs[0].join();
                         }),
               "deadlock");
}

// The deadlock report's sentence ends its line and the dump follows on lines of its own, with
// the stack of each parked fiber.
TEST_P(Carriers, DeadlockReportPutsTheDumpOnItsOwnLines) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  weft::Config c = cfg();
  EXPECT_DEATH(weft::run(c,
                         [] {
                           auto f = weft::spawn(
                               [] { return weft::this_fiber::sleep_until(weft::Deadline()); });
                           f.join();
                         }),
#if defined(__SANITIZE_THREAD__)  // TSan builds unwind no fiber stacks
               ::testing::HasSubstr("weft: deadlock: every fiber is blocked and nothing can "
                                    "wake one.\nweft: fibers of the run ("));
#else
               ::testing::AllOf(
                   ::testing::HasSubstr("weft: deadlock: every fiber is blocked and nothing can "
                                        "wake one.\nweft: fibers of the run ("),
                   ::testing::ContainsRegex("blocked in join[^\n]*\n      #0 0x"),
                   ::testing::HasSubstr("weft::this_fiber::sleep_until")));
#endif
}

INSTANTIATE_TEST_SUITE_P(, Carriers, ::testing::Values(1u, 2u, 4u),
                         [](const auto& info) { return std::to_string(info.param) + "carriers"; });

TEST(CarrierConfig, TooManyCarriersIsRefused) {
  weft::Config c;
  c.carriers = 100000;
  EXPECT_THROW(weft::run(c, [] {}), std::invalid_argument);
}

TEST(CarrierConfig, DefaultIsTheCpuCount) {
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  EXPECT_EQ(weft::run([] { return weft::stats().carriers; }),
            static_cast<unsigned>(CPU_COUNT(&set)));
}

}  // namespace
