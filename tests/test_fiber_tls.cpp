// Per-fiber thread-local storage through the API (Config::tls, SpawnOptions::tls): each fiber
// given its own glibc thread sees its own errno, __thread and thread_local variables and
// pthread_self(), keeps them across switches, and has its thread_local destructors run when it
// ends; fibers left at the default share their carrier's, as before. The glibc layer alone is
// test_tls_block; this drives it through the scheduler, on 1, 2 and 4 carriers.
#include <gtest/gtest.h>
#include <malloc.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <weft/weft.hpp>

#include "carrier_param.hpp"
#include "tls/thread_block.hpp"

namespace {

using weft_test::CarrierTest;

thread_local int t_counter = 0;
__thread int t_plain = 7;  // a C-style __thread with a non-zero initial image

// Counted is a thread_local object whose constructions and destructions are counted.
struct Counted {
  static inline std::atomic<int> made{0};
  static inline std::atomic<int> destroyed{0};
  int value = 0;
  Counted() { ++made; }
  ~Counted() { ++destroyed; }
};

thread_local Counted t_counted;

class FiberTls : public CarrierTest {
 protected:
  void SetUp() override {
    if (!weft::rt::tls::available()) GTEST_SKIP() << weft::rt::tls::reason();
    Counted::made = 0;
    Counted::destroyed = 0;
  }
  weft::Config tls_config() const {
    weft::Config c = config();
    c.tls = weft::Tls::kPerFiber;
    return c;
  }
};

TEST_P(FiberTls, ThreadLocalsArePerFiberAcrossSwitches) {
  constexpr int kFibers = 200;
  constexpr int kRounds = 50;
  std::atomic<int> wrong{0};
  weft::run(tls_config(), [&] {
    std::vector<weft::Fiber<void>> fs;
    for (int i = 0; i < kFibers; ++i) {
      fs.push_back(weft::spawn([&wrong, i] {
        if (t_counter != 0 || t_plain != 7) ++wrong;  // a fresh thread's initial values
        int* where = &t_counter;
        t_plain = i;
        for (int r = 0; r < kRounds; ++r) {
          ++t_counter;
          weft::this_fiber::yield();
          if (r % 10 == 0) weft::this_fiber::sleep_for(std::chrono::microseconds(50));
        }
        if (t_counter != kRounds || t_plain != i || where != &t_counter) ++wrong;
      }));
    }
    for (auto& f : fs) f.join();
  });
  EXPECT_EQ(wrong.load(), 0);
  weft_test::expect_no_leaks();
}

TEST_P(FiberTls, DefaultSharesTheCarriersTls) {
  // One carrier, so both fibers run on the same thread: what one writes the other sees.
  weft::Config c = config();
  c.carriers = 1;
  int seen = -1;
  weft::run(c, [&] {
    t_counter = 0;
    auto a = weft::spawn([] { t_counter = 41; });
    a.join();
    auto b = weft::spawn([&seen] { seen = t_counter; });
    b.join();
  });
  EXPECT_EQ(seen, 41);
}

TEST_P(FiberTls, SpawnOptionsOverrideTheConfig) {
  weft::Config shared = config();
  shared.carriers = 1;
  int own = -1, inherited = -1;
  weft::run(shared, [&] {
    t_counter = 5;
    weft::spawn_with({.name = "own", .tls = weft::Tls::kPerFiber}, [&own] {
      own = t_counter;
    }).join();
    weft::spawn([&inherited] { inherited = t_counter; }).join();
  });
  EXPECT_EQ(own, 0);
  EXPECT_EQ(inherited, 5);

  weft::Config per_fiber = tls_config();
  per_fiber.carriers = 1;
  int shared_seen = -1;
  weft::run(per_fiber, [&] {
    // The main fiber has its own thread too; one spawned kShared sees the carrier's.
    t_counter = 9;
    weft::spawn_with({.name = "shared", .tls = weft::Tls::kShared}, [&shared_seen] {
      shared_seen = t_counter;
      t_counter = 3;
    }).join();
    EXPECT_EQ(t_counter, 9);
  });
  EXPECT_NE(shared_seen, 9);
}

TEST_P(FiberTls, ErrnoAndPthreadSelfArePerFiber) {
  constexpr int kFibers = 64;
  std::atomic<int> wrong{0};
  std::vector<pthread_t> selves(kFibers);
  pthread_t carrier_self = pthread_self();
  weft::run(tls_config(), [&] {
    std::vector<weft::Fiber<void>> fs;
    for (int i = 0; i < kFibers; ++i) {
      fs.push_back(weft::spawn([&, i] {
        pthread_t me = pthread_self();
        selves[i] = me;
        errno = 1000 + i;
        for (int r = 0; r < 20; ++r) {
          weft::this_fiber::yield();
          if (errno != 1000 + i || !pthread_equal(me, pthread_self())) ++wrong;
        }
      }));
    }
    for (auto& f : fs) f.join();
  });
  EXPECT_EQ(wrong.load(), 0);
  std::set<pthread_t> distinct(selves.begin(), selves.end());
  EXPECT_EQ(distinct.size(), static_cast<std::size_t>(kFibers));
  EXPECT_EQ(distinct.count(carrier_self), 0u);
}

TEST_P(FiberTls, ThreadLocalDestructorsRunWhenTheFiberEnds) {
  constexpr int kFibers = 100;
  int destroyed_at_join = -1;
  weft::run(tls_config(), [&] {
    std::vector<weft::Fiber<void>> fs;
    for (int i = 0; i < kFibers; ++i) {
      fs.push_back(weft::spawn([i] {
        t_counted.value = i;
        weft::this_fiber::yield();
      }));
    }
    for (auto& f : fs) f.join();
    destroyed_at_join = Counted::destroyed.load();
  });
  EXPECT_EQ(Counted::made.load(), kFibers + 0);
  EXPECT_EQ(destroyed_at_join, kFibers);
}

TEST_P(FiberTls, ExceptionsStayWithTheirFiber) {
  constexpr int kFibers = 8;
  std::atomic<int> wrong{0};
  weft::run(tls_config(), [&] {
    std::vector<weft::Fiber<void>> fs;
    for (int i = 0; i < kFibers; ++i) {
      fs.push_back(weft::spawn([&wrong, i] {
        try {
          throw std::runtime_error(std::to_string(i));
        } catch (...) {
          weft::this_fiber::yield();
          if (std::uncaught_exceptions() != 0) ++wrong;
          try {
            throw;
          } catch (const std::runtime_error& e) {
            if (e.what() != std::to_string(i)) ++wrong;
          }
        }
      }));
    }
    for (auto& f : fs) f.join();
  });
  EXPECT_EQ(wrong.load(), 0);
}

TEST_P(FiberTls, IoAndTimersWorkFromFibersWithTheirOwnTls) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::string got;
  weft::run(tls_config(), [&] {
    auto reader = weft::spawn([&] {
      char buf[64];
      for (;;) {
        ssize_t n = weft::read(fds[0], buf, sizeof buf);
        if (n <= 0) break;
        got.append(buf, static_cast<std::size_t>(n));
      }
    });
    for (int i = 0; i < 10; ++i) {
      weft::this_fiber::sleep_for(std::chrono::milliseconds(1));
      std::string s = std::to_string(i) + ";";
      ASSERT_EQ(weft::write(fds[1], s.data(), s.size()), static_cast<ssize_t>(s.size()));
    }
    close(fds[1]);
    reader.join();
  });
  close(fds[0]);
  EXPECT_EQ(got, "0;1;2;3;4;5;6;7;8;9;");
}

TEST_P(FiberTls, ManyFibersLeaveNoGlibcThreadState) {
  // Each fiber mallocs (a per-thread malloc cache appears), uses a thread_local with a
  // destructor and strerror's per-thread buffer; at exit all of it must be given back.
  auto cycle = [](int n) {
    std::vector<weft::Fiber<void>> fs;
    for (int i = 0; i < n; ++i) {
      fs.push_back(weft::spawn([i] {
        void* p[8];
        for (int k = 0; k < 8; ++k) p[k] = std::malloc(static_cast<std::size_t>(16 << k));
        for (void* q : p) std::free(q);
        t_counted.value = i;
        (void)std::strerror(100000 + i);
      }));
      if (fs.size() == 100) {
        for (auto& f : fs) f.join();
        fs.clear();
      }
    }
    for (auto& f : fs) f.join();
  };
  std::size_t before = 0, after = 0;
  weft::run(tls_config(), [&] {
    cycle(2000);  // warm: the pools and caches reach their steady size
    before = mallinfo2().uordblks;
    cycle(20000);
    after = mallinfo2().uordblks;
  });
  EXPECT_LT(after, before + 64 * 1024) << "heap in use grew from " << before << " to " << after;
  EXPECT_EQ(Counted::made.load(), Counted::destroyed.load());
}

INSTANTIATE_TEST_SUITE_P(Carriers, FiberTls, ::testing::Values(1u, 2u, 4u),
                         [](const auto& info) { return std::to_string(info.param) + "c"; });

}  // namespace
