// weft::blocking(): offloading calls to the helper pool while the fiber waits; the pool's cap,
// FIFO queue, idle exit and teardown; exceptions, cancellation, and blocking() off a fiber.
#include <netdb.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <weft/weft.hpp>

#include "carrier_param.hpp"

namespace {

using namespace std::chrono_literals;
using weft::Clock;
using weft_test::count_fds;
using weft_test::count_threads;

long gettid_now() {
  return ::syscall(SYS_gettid);
}

// wait_for polls pred (off the carriers: this runs on helper threads or plain threads) until it
// holds or a generous limit passes; returns whether it held.
template <class Pred>
bool wait_for(Pred pred, std::chrono::seconds limit = 20s) {
  auto until = Clock::now() + limit;
  while (!pred()) {
    if (Clock::now() > until) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// warm_up starts and joins one thread, once: ThreadSanitizer starts a background thread of its
// own on the first thread creation, which must not count as a thread weft left behind.
int warm_up() {
  static bool done = (std::thread([] {}).join(), true);
  return done ? 0 : 0;
}

// Leaks checks what every test must leave behind: no fiber, no thread, no fd.
struct Leaks {
  int threads = warm_up() + count_threads();
  int fds = count_fds();
  void check() const {
    EXPECT_EQ(weft::last_run_stats().fibers_live, 0u);
    EXPECT_EQ(count_threads(), threads) << "helper threads outlived weft::run";
    EXPECT_EQ(count_fds(), fds) << "fds leaked";
  }
};

class Blocking : public weft_test::CarrierTest {};

TEST_P(Blocking, ReturnsTheResultAndRunsOnAnotherThread) {
  Leaks leaks;
  weft::run(config(), [] {
    long carrier = gettid_now();
    long helper = weft::blocking([] { return gettid_now(); });
    EXPECT_NE(helper, carrier);
    EXPECT_EQ(weft::blocking([](int a, int b) { return a * b; }, 6, 7), 42);
    std::string s = weft::blocking([] { return std::string(100, 'x'); });
    EXPECT_EQ(s.size(), 100u);
    auto p = weft::blocking([] { return std::make_unique<int>(5); });
    EXPECT_EQ(*p, 5);
  });
  leaks.check();
}

TEST_P(Blocking, ArgumentsArePassedByReference) {
  weft::run(config(), [] {
    std::vector<int> v{1, 2, 3};
    weft::blocking([](std::vector<int>& out) { out.push_back(4); }, v);
    EXPECT_EQ(v, (std::vector<int>{1, 2, 3, 4}));
    int n = 0;
    weft::blocking([&n] { n = 9; });
    EXPECT_EQ(n, 9);
  });
}

TEST_P(Blocking, ExceptionReachesTheFiber) {
  struct Custom {
    int code;
  };
  weft::run(config(), [] {
    try {
      weft::blocking([]() -> int { throw std::out_of_range("deep"); });
      ADD_FAILURE() << "no exception";
    } catch (const std::out_of_range& e) {
      EXPECT_STREQ(e.what(), "deep");
    }
    try {
      weft::blocking([] { throw Custom{17}; });
      ADD_FAILURE() << "no exception";
    } catch (const Custom& c) {
      EXPECT_EQ(c.code, 17);
    }
    // The pool is fine afterwards.
    EXPECT_EQ(weft::blocking([] { return 1; }), 1);
  });
}

TEST_P(Blocking, OffAFiberRunsInline) {
  long self = gettid_now();
  EXPECT_EQ(weft::blocking([] { return gettid_now(); }), self);
  EXPECT_THROW(weft::blocking([] { throw std::runtime_error("x"); }), std::runtime_error);
  // On a helper thread, blocking() is off a fiber too.
  weft::run(config(), [] {
    long nested = weft::blocking([] {
      long me = gettid_now();
      return weft::blocking([] { return gettid_now(); }) == me ? 1L : 0L;
    });
    EXPECT_EQ(nested, 1);
  });
}

TEST_P(Blocking, WaitingAloneIsNoDeadlock) {
  // The only fiber waits for a helper thread: the carrier must sleep, not report a deadlock.
  weft::run(config(), [] {
    auto t0 = Clock::now();
    weft::blocking([] { std::this_thread::sleep_for(100ms); });
    EXPECT_GE(Clock::now() - t0, 100ms);
  });
}

TEST_P(Blocking, ThousandFibersOnFourThreads) {
  Leaks leaks;
  weft::Config cfg = config();
  cfg.blocking_threads = 4;
  constexpr int kFibers = 1000;
  std::atomic<int> running{0};
  std::atomic<int> most{0};
  weft::run(cfg, [&] {
    std::vector<weft::Fiber<int>> fs;
    for (int i = 0; i < kFibers; ++i) {
      fs.push_back(weft::spawn([i, &running, &most] {
        return weft::blocking([i, &running, &most] {
          int now = ++running;
          int seen = most.load();
          while (now > seen && !most.compare_exchange_weak(seen, now)) {
          }
          std::this_thread::sleep_for(100us);
          --running;
          return i * 2;
        });
      }));
    }
    for (int i = 0; i < kFibers; ++i) EXPECT_EQ(fs[i].join(), i * 2);
    weft::BlockingStats s = weft::blocking_stats();
    EXPECT_GE(s.threads_peak, 1u);
    EXPECT_LE(s.threads_peak, 4u);
    EXPECT_EQ(s.jobs, static_cast<std::uint64_t>(kFibers));
    EXPECT_EQ(s.queued, 0u);
  });
  EXPECT_GE(most.load(), 1);
  EXPECT_LE(most.load(), 4);
  leaks.check();
}

TEST_P(Blocking, JobsBeyondTheCapRunInFifoOrder) {
  weft::Config cfg = config();
  cfg.blocking_threads = 1;
  std::atomic<bool> gate{false};
  std::mutex m;
  std::vector<int> order;
  weft::run(cfg, [&] {
    auto blocker =
        weft::spawn([&] { weft::blocking([&] { wait_for([&] { return gate.load(); }); }); });
    while (weft::blocking_stats().threads == 0 || weft::blocking_stats().queued != 0) {
      weft::this_fiber::sleep_for(1ms);
    }
    // The only thread is busy: each job queues; the next is submitted once the previous is queued.
    std::vector<weft::Fiber<void>> fs;
    for (int i = 0; i < 10; ++i) {
      fs.push_back(weft::spawn([i, &m, &order] {
        weft::blocking([i, &m, &order] {
          std::lock_guard<std::mutex> hold(m);
          order.push_back(i);
        });
      }));
      while (weft::blocking_stats().queued != static_cast<std::size_t>(i + 1)) {
        weft::this_fiber::sleep_for(1ms);
      }
    }
    EXPECT_EQ(weft::blocking_stats().threads, 1u);
    gate = true;
    blocker.join();
    for (auto& f : fs) f.join();
  });
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST_P(Blocking, GetaddrinfoWhileAnotherFiberTicks) {
  Leaks leaks;
  weft::run(config(), [] {
    std::atomic<int> ticks{0};
    std::atomic<bool> stop{false};
    auto ticker = weft::spawn([&] {
      while (!stop) {
        weft::this_fiber::sleep_for(1ms);
        ++ticks;
      }
    });
    int rc = weft::blocking([&] {
      addrinfo hints{};
      hints.ai_family = AF_INET;
      hints.ai_socktype = SOCK_STREAM;
      addrinfo* res = nullptr;
      int r = ::getaddrinfo("localhost", "80", &hints, &res);
      if (r == 0) ::freeaddrinfo(res);
      // Stay here until the ticker has run: the carrier must not be held by this call.
      if (!wait_for([&] { return ticks.load() >= 5; })) return -1000;
      return r;
    });
    stop = true;
    ticker.join();
    EXPECT_EQ(rc, 0) << (rc == -1000 ? "the ticker never ran" : gai_strerror(rc));
    EXPECT_GE(ticks.load(), 5);
  });
  leaks.check();
}

TEST_P(Blocking, CancelledWhileRunningReturnsTheResult) {
  weft::run(config(), [] {
    std::atomic<bool> started{false};
    std::atomic<bool> release{false};
    int after = 1;
    auto f = weft::spawn([&] {
      int r = weft::blocking([&] {
        started = true;
        wait_for([&] { return release.load(); });
        return 7;
      });
      after = weft::this_fiber::sleep_for(1ms);  // the next call sees the cancellation
      return r;
    });
    while (!started) weft::this_fiber::sleep_for(1ms);
    f.cancel();
    weft::this_fiber::sleep_for(20ms);
    EXPECT_FALSE(f.done()) << "cancellation cut the wait for the helper short";
    release = true;
    EXPECT_EQ(f.join(), 7);
    EXPECT_EQ(after, -ECANCELED);
  });
}

TEST_P(Blocking, AlreadyCancelledThrowsWithoutRunning) {
  weft::run(config(), [] {
    std::atomic<int> ran{0};
    auto f = weft::spawn([&] {
      weft::this_fiber::sleep_for(1h);
      weft::blocking([&] { ++ran; });
    });
    weft::this_fiber::yield();
    f.cancel();
    EXPECT_THROW(f.join(), weft::Cancelled);
    EXPECT_EQ(ran.load(), 0);
  });
}

TEST_P(Blocking, ShutdownWaitsForRunningJobs) {
  // main returns while a detached fiber waits for a helper: run() waits for it, then joins.
  Leaks leaks;
  std::atomic<bool> started{false}, finished{false};
  weft::run(config(), [&] {
    weft::spawn([&] {
      weft::blocking([&] {
        started = true;
        std::this_thread::sleep_for(50ms);
        finished = true;
      });
    }).detach();
    // Return once the job runs on its helper (an unstarted fiber would start cancelled and
    // never submit its job; a fixed sleep may end before a descheduled carrier starts it).
    while (!started) weft::this_fiber::sleep_for(1ms);
  });
  EXPECT_TRUE(finished.load());
  leaks.check();
}

TEST_P(Blocking, IdleThreadsExit) {
  Leaks leaks;
  weft::Config cfg = config();
  cfg.blocking_threads = 3;
  weft::run(cfg, [] {
    auto a = weft::spawn([] { weft::blocking([] { std::this_thread::sleep_for(20ms); }); });
    auto b = weft::spawn([] { weft::blocking([] { std::this_thread::sleep_for(20ms); }); });
    a.join();
    b.join();
    // The peak, not the current count: an idle helper may already have exited if this fiber
    // was descheduled for the pool's idle time (3 s).
    EXPECT_GE(weft::blocking_stats().threads_peak, 1u);
    auto until = Clock::now() + 30s;
    while (weft::blocking_stats().threads != 0 && Clock::now() < until) {
      weft::this_fiber::sleep_for(50ms);
    }
    EXPECT_EQ(weft::blocking_stats().threads, 0u);
    EXPECT_LE(weft::blocking_stats().threads_peak, 2u);
    // A later call starts a thread again: it runs off the carrier, though none was left. (The
    // count right after it may already be back to 0 after a long deschedule; it is at most 1.)
    EXPECT_NE(weft::blocking([] { return gettid_now(); }), gettid_now());
    EXPECT_LE(weft::blocking_stats().threads, 1u);
  });
  leaks.check();
}

TEST_P(Blocking, ConfigIsValidated) {
  for (unsigned bad : {0u, 4097u}) {
    weft::Config cfg = config();
    cfg.blocking_threads = bad;
    try {
      weft::run(cfg, [] {});
      ADD_FAILURE() << "blocking_threads " << bad << " accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("blocking_threads"), std::string::npos) << e.what();
    }
  }
  weft::Config cfg = config();
  cfg.blocking_threads = 4096;
  EXPECT_EQ(weft::run(cfg, [] { return weft::blocking([] { return 1; }); }), 1);
}

TEST_P(Blocking, StatsOutsideRunAreZero) {
  weft::BlockingStats s = weft::blocking_stats();
  EXPECT_EQ(s.threads, 0u);
  EXPECT_EQ(s.jobs, 0u);
  weft::run(config(), [] { weft::blocking([] {}); });
  EXPECT_EQ(weft::blocking_stats().jobs, 0u);
}

TEST_P(Blocking, RepeatedRunsLeaveNoThreads) {
  Leaks leaks;
  for (int i = 0; i < 20; ++i) {
    weft::Config cfg = config();
    cfg.blocking_threads = 8;
    weft::run(cfg, [] {
      std::vector<weft::Fiber<int>> fs;
      for (int j = 0; j < 8; ++j) {
        fs.push_back(weft::spawn([j] {
          return weft::blocking([j] {
            std::this_thread::sleep_for(1ms);
            return j;
          });
        }));
      }
      for (int j = 0; j < 8; ++j) EXPECT_EQ(fs[j].join(), j);
    });
  }
  leaks.check();
}

INSTANTIATE_CARRIERS(Blocking);

}  // namespace
