// select: exactly one case fires, the others are withdrawn without losing or duplicating a
// value; fairness, send cases, deadlines, default, close, cancellation, Timeout scopes and
// leaks, each with 1, 2 and 4 carriers.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <vector>

#include <weft/weft.hpp>

#include "chan_support.hpp"

namespace {

using namespace std::chrono_literals;
using weft::Channel;
using weft::ChannelStatus;
using weft::Clock;
using weft::recv_case;
using weft::send_case;
using weft_test::Payload;

class SelectTest : public weft_test::ChanTest {};

TEST_P(SelectTest, ReadyCaseFires) {
  weft::run(config(), [] {
    Channel<int> a(1);
    Channel<int> b(1);
    b.send(42);
    auto ra = recv_case(a);
    auto rb = recv_case(b);
    EXPECT_EQ(weft::select(ra, rb), 1);
    EXPECT_FALSE(ra.value());
    ASSERT_TRUE(rb.value());
    EXPECT_EQ(*rb.value(), 42);
    EXPECT_FALSE(rb.closed());
    // Reused: the case forgets its last value.
    a.send(7);
    EXPECT_EQ(weft::select(ra, rb), 0);
    EXPECT_EQ(*ra.value(), 7);
    EXPECT_FALSE(rb.value());
  });
}

TEST_P(SelectTest, BlocksUntilASenderComes) {
  weft::run(config(), [] {
    Channel<int> a;
    Channel<int> b;
    Channel<int> c;
    auto sender = weft::spawn([&] {
      weft::this_fiber::sleep_for(5ms);
      c.send(3);
    });
    auto ra = recv_case(a);
    auto rb = recv_case(b);
    auto rc = recv_case(c);
    EXPECT_EQ(weft::select(ra, rb, rc), 2);
    EXPECT_EQ(*rc.value(), 3);
    sender.join();
    // The other links were withdrawn: a sender on a or b finds nobody.
    EXPECT_EQ(a.try_send(1), ChannelStatus::kWouldBlock);
    EXPECT_EQ(b.try_send(1), ChannelStatus::kWouldBlock);
  });
}

// With every case always ready, each one fires a fair share of the time.
TEST_P(SelectTest, FairAmongReadyCases) {
  weft::run(config(), [] {
    constexpr int kRounds = 3000;
    Channel<int> ch[3] = {Channel<int>(weft::kUnbounded), Channel<int>(weft::kUnbounded),
                          Channel<int>(weft::kUnbounded)};
    for (auto& c : ch) {
      for (int i = 0; i < kRounds; ++i) c.send(i);
    }
    int fired[3] = {0, 0, 0};
    auto r0 = recv_case(ch[0]);
    auto r1 = recv_case(ch[1]);
    auto r2 = recv_case(ch[2]);
    for (int i = 0; i < kRounds; ++i) {
      int k = weft::select(r0, r1, r2);
      ASSERT_GE(k, 0);
      ASSERT_LT(k, 3);
      ++fired[k];
    }
    // Expected 1000 each; 300 is far outside any honest random spread.
    for (int k = 0; k < 3; ++k) EXPECT_GE(fired[k], 300) << "case " << k;
    // Values were taken in order, one per firing.
    for (int k = 0; k < 3; ++k) EXPECT_EQ(ch[k].size(), std::size_t(kRounds - fired[k]));
  });
}

TEST_P(SelectTest, SendAndRecvCases) {
  weft::run(config(), [] {
    Channel<int> in;
    Channel<int> out;
    // A relay that accepts input and offers its oldest pending value in the same select.
    auto relay = weft::spawn([&] {
      std::vector<int> pending;
      std::size_t head = 0;
      bool open = true;
      while (open || head < pending.size()) {
        if (!open) {  // a closed input would fire at once forever: just flush
          out.send(pending[head++]);
          continue;
        }
        auto rin = recv_case(in);
        if (head == pending.size()) {
          weft::select(rin);
        } else {
          auto sout = send_case(out, pending[head]);
          if (weft::select(rin, sout) == 1) {
            ++head;
            continue;
          }
        }
        if (rin.closed()) {
          open = false;
        } else {
          pending.push_back(*rin.value());
        }
      }
      out.close();
    });
    auto producer = weft::spawn([&] {
      for (int i = 0; i < 500; ++i) in.send(i);
      in.close();
    });
    int next = 0;
    while (std::optional<int> v = out.recv()) EXPECT_EQ(*v, next++);
    EXPECT_EQ(next, 500);
    producer.join();
    relay.join();
  });
}

TEST_P(SelectTest, SelectMeetsSelect) {
  weft::run(config(), [] {
    Channel<int> c;
    Channel<int> unused;
    auto sender = weft::spawn([&] {
      for (int i = 0; i < 100; ++i) {
        auto s = send_case(c, i);
        auto r = recv_case(unused);
        EXPECT_EQ(weft::select(r, s), 1);
        EXPECT_TRUE(s.sent());
      }
    });
    for (int i = 0; i < 100; ++i) {
      auto r = recv_case(c);
      auto u = recv_case(unused);
      ASSERT_EQ(weft::select(u, r), 1);
      EXPECT_EQ(*r.value(), i);
    }
    sender.join();
  });
}

TEST_P(SelectTest, SameChannelTwice) {
  weft::run(config(), [] {
    Channel<int> a(1);
    a.send(1);
    auto r1 = recv_case(a);
    auto r2 = recv_case(a);
    int k = weft::select(r1, r2);
    ASSERT_TRUE(k == 0 || k == 1);
    EXPECT_EQ(*(k == 0 ? r1 : r2).value(), 1);
    EXPECT_FALSE((k == 0 ? r2 : r1).value());
    // A select never meets itself: send and receive on an empty rendezvous time out.
    Channel<int> rv;
    auto s = send_case(rv, 5);
    auto r = recv_case(rv);
    EXPECT_EQ(weft::select_for(5ms, s, r), weft::kSelectTimeout);
    EXPECT_FALSE(s.sent());
    EXPECT_EQ(*s.value(), 5);
    // ... but either side of it serves another fiber.
    auto peer = weft::spawn([&] { return *rv.recv(); });
    EXPECT_EQ(weft::select(s, r), 0);
    EXPECT_EQ(peer.join(), 5);
  });
}

TEST_P(SelectTest, TimeoutAndDefault) {
  weft::run(config(), [] {
    Channel<int> a;
    Channel<Payload> b(1);
    b.send(Payload(0));  // full: a send case on b cannot fire
    auto ra = recv_case(a);
    auto sb = send_case(b, Payload(1));
    Clock::time_point t0 = Clock::now();
    EXPECT_EQ(weft::select_for(20ms, ra, sb), weft::kSelectTimeout);
    EXPECT_GE(Clock::now() - t0, 20ms);
    EXPECT_EQ(weft::select_until(Clock::now() - 1s, ra, sb), weft::kSelectTimeout);
    EXPECT_EQ(weft::try_select(ra, sb), weft::kSelectDefault);
    ASSERT_FALSE(sb.sent());
    EXPECT_EQ(sb.value()->v, 1);
    // Nothing stale left queued on either channel.
    EXPECT_EQ(a.try_send(1), ChannelStatus::kWouldBlock);
    EXPECT_EQ(b.recv()->v, 0);
    EXPECT_EQ(b.try_recv().status, ChannelStatus::kWouldBlock);
    // Once ready, the same cases fire without waiting.
    EXPECT_EQ(weft::try_select(ra, sb), 1);
    EXPECT_TRUE(sb.sent());
    EXPECT_EQ(b.recv()->v, 1);
    // A deadline already passed still lets a ready case through.
    b.send(Payload(2));
    auto rb = recv_case(b);
    EXPECT_EQ(weft::select_until(Clock::now() - 1s, ra, rb), 1);
    EXPECT_EQ(rb.value()->v, 2);
  });
}

TEST_P(SelectTest, CloseWakesSelectors) {
  weft::run(config(), [] {
    Channel<int> a;
    Channel<int> b;
    std::atomic<int> saw_close{0};
    std::vector<weft::Fiber<void>> fibers;
    for (int i = 0; i < 10; ++i) {
      fibers.push_back(weft::spawn([&] {
        auto rb = recv_case(b);
        auto ra = recv_case(a);
        if (weft::select(rb, ra) == 1 && ra.closed() && !ra.value()) saw_close.fetch_add(1);
      }));
    }
    weft::this_fiber::sleep_for(10ms);
    a.close();
    for (auto& f : fibers) f.join();
    EXPECT_EQ(saw_close.load(), 10);
    EXPECT_EQ(b.try_send(1), ChannelStatus::kWouldBlock);
  });
}

TEST_P(SelectTest, SendCaseOnClosedChannelThrows) {
  weft::run(config(), [] {
    Channel<std::unique_ptr<int>> c;
    Channel<int> never;
    // Blocked first, then woken by the close.
    auto waiter = weft::spawn([&] {
      auto s = send_case(c, std::make_unique<int>(8));
      auto r = recv_case(never);
      EXPECT_THROW(weft::select(r, s), weft::ChannelClosed);
      ASSERT_FALSE(s.sent());
      EXPECT_EQ(**s.value(), 8);
    });
    weft::this_fiber::sleep_for(10ms);
    c.close();
    waiter.join();
    // Closed before the select.
    auto s = send_case(c, std::make_unique<int>(9));
    EXPECT_THROW(weft::try_select(s), weft::ChannelClosed);
    EXPECT_EQ(**s.value(), 9);
  });
}

// Many selectors and plain operations race with each other and with close; every value is
// delivered exactly once.
TEST_P(SelectTest, RacingWithCloseExactlyOnce) {
  constexpr int kProducers = 20;
  constexpr int kConsumers = 20;
  constexpr int kEach = 200;
  constexpr int kTotal = kProducers * kEach;
  weft::run(config(), [] {
    for (std::size_t cap : {std::size_t{0}, std::size_t{4}}) {
      Channel<int> a(cap);
      Channel<int> b(cap);
      std::vector<std::atomic<int>> seen(kTotal);
      std::vector<weft::Fiber<void>> producers;
      for (int p = 0; p < kProducers; ++p) {
        producers.push_back(weft::spawn([&, p] {
          for (int j = 0; j < kEach; ++j) {
            int v = p * kEach + j;
            if (p % 2 == 0) {
              // Offer the value to both channels; exactly one takes it.
              auto sa = send_case(a, v);
              auto sb = send_case(b, v);
              int k = weft::select(sa, sb);
              EXPECT_TRUE(k == 0 ? sa.sent() && !sb.sent() : sb.sent() && !sa.sent());
            } else {
              (j % 2 == 0 ? a : b).send(v);
            }
          }
        }));
      }
      std::vector<weft::Fiber<void>> consumers;
      for (int c = 0; c < kConsumers; ++c) {
        consumers.push_back(weft::spawn([&, c] {
          auto take = [&](int v) { seen[v].fetch_add(1); };
          if (c % 4 == 3) {  // some plain receivers compete with the selectors
            while (auto v = (c % 8 == 3 ? a : b).recv()) take(*v);
            return;
          }
          auto ra = recv_case(a);
          auto rb = recv_case(b);
          for (;;) {
            int k = weft::select(ra, rb);
            auto& rc = k == 0 ? ra : rb;
            if (rc.closed()) break;
            take(*rc.value());
          }
          // One channel is closed; drain the other.
          while (auto v = a.recv()) take(*v);
          while (auto v = b.recv()) take(*v);
        }));
      }
      for (auto& f : producers) f.join();
      a.close();
      b.close();
      for (auto& f : consumers) f.join();
      int wrong = 0;
      for (auto& s : seen) wrong += s.load() != 1;
      EXPECT_EQ(wrong, 0) << "capacity " << cap;
    }
  });
}

TEST_P(SelectTest, ManyCases) {
  weft::run(config(), [] {
    constexpr int kN = 12;  // more than the select keeps inline
    std::vector<std::unique_ptr<Channel<int>>> ch;
    for (int i = 0; i < kN; ++i) ch.push_back(std::make_unique<Channel<int>>());
    auto sender = weft::spawn([&] {
      for (int i = kN - 1; i >= 0; --i) ch[i]->send(i);
    });
    std::vector<weft::RecvCase<int>> cases;
    for (auto& c : ch) cases.push_back(recv_case(*c));
    for (int round = 0; round < kN; ++round) {
      int k = weft::select(cases[0], cases[1], cases[2], cases[3], cases[4], cases[5], cases[6],
                           cases[7], cases[8], cases[9], cases[10], cases[11]);
      EXPECT_EQ(k, kN - 1 - round);
      EXPECT_EQ(*cases[k].value(), k);
    }
    sender.join();
  });
}

TEST_P(SelectTest, CancelBlockedSelect) {
  weft::run(config(), [] {
    Channel<int> a;
    Channel<int> b(1);
    b.send(0);
    std::atomic<int> cancelled{0};
    auto f = weft::spawn([&] {
      auto ra = recv_case(a);
      auto sb = send_case(b, 1);
      try {
        weft::select(ra, sb);
        ADD_FAILURE() << "select returned";
      } catch (const weft::Cancelled&) {
        cancelled.fetch_add(1);
        EXPECT_FALSE(sb.sent());
      }
      EXPECT_THROW(weft::select_for(1s, ra), weft::Cancelled);
      EXPECT_EQ(weft::try_select(ra, sb), weft::kSelectDefault);
    });
    weft::this_fiber::sleep_for(10ms);
    f.cancel();
    f.join();
    EXPECT_EQ(cancelled.load(), 1);
    EXPECT_EQ(a.try_send(1), ChannelStatus::kWouldBlock);
    EXPECT_EQ(b.recv(), 0);
    EXPECT_EQ(b.try_recv().status, ChannelStatus::kWouldBlock);
  });
}

TEST_P(SelectTest, TimeoutScopeExpires) {
  weft::run(config(), [] {
    Channel<int> a;
    auto ra = recv_case(a);
    {
      weft::Timeout t(20ms);
      try {
        weft::select_for(1h, ra);
        ADD_FAILURE() << "select returned";
      } catch (const weft::TimedOut& e) {
        EXPECT_EQ(e.scope(), &t);
      }
      EXPECT_THROW(weft::select(ra), weft::TimedOut);
      EXPECT_EQ(weft::try_select(ra), weft::kSelectDefault);
    }
    {
      weft::Timeout outer(1h);
      EXPECT_EQ(weft::select_for(5ms, ra), weft::kSelectTimeout);
    }
    EXPECT_EQ(a.try_send(1), ChannelStatus::kWouldBlock);
  });
}

TEST_P(SelectTest, PayloadsNeitherLostNorLeaked) {
  weft::run(config(), [] {
    long before = Payload::live.load();
    {
      Channel<Payload> a(2);
      Channel<Payload> b;
      auto consumer = weft::spawn([&] {
        long sum = 0;
        auto ra = recv_case(a);
        auto rb = recv_case(b);
        for (;;) {
          int k = weft::select(ra, rb);
          auto& rc = k == 0 ? ra : rb;
          if (rc.closed()) break;
          sum += rc.value()->v;
        }
        while (auto p = b.try_recv()) sum += p->v;
        return sum;
      });
      long want = 0;
      for (int i = 1; i <= 300; ++i) {
        auto sa = send_case(a, Payload(i));
        auto sb = send_case(b, Payload(-i));
        // The deadline only keeps a broken runtime from hanging: the consumer, on another
        // carrier perhaps, may be descheduled for seconds while a is full.
        int k = weft::select_for(60s, sa, sb);
        ASSERT_GE(k, 0);
        want += k == 0 ? i : -i;
      }
      a.close();
      EXPECT_EQ(consumer.join(), want);
      // A value left unsent in a case is destroyed with it.
      auto left = send_case(b, Payload(99));
      EXPECT_EQ(weft::try_select(left), weft::kSelectDefault);
    }
    EXPECT_EQ(Payload::live.load(), before);
  });
}

// Selectors and senders on four OS threads (four carriers): cross-thread claims.
TEST(SelectThreads, ExactlyOnceAcrossCarriers) {
  constexpr int kThreads = 4;
  constexpr int kFibers = 8;
  constexpr int kEach = 300;
  constexpr int kTotal = kThreads / 2 * kFibers * kEach;
  Channel<int> a;
  Channel<int> b(2);
  std::vector<std::atomic<int>> seen(kTotal);
  std::atomic<int> producers_left{kThreads / 2 * kFibers};
  weft_test::run_on_threads(kThreads, [&](int t) {
    std::vector<weft::Fiber<void>> fibers;
    for (int f = 0; f < kFibers; ++f) {
      if (t % 2 == 0) {
        int base = ((t / 2) * kFibers + f) * kEach;
        fibers.push_back(weft::spawn([&, base] {
          for (int j = 0; j < kEach; ++j) {
            auto sa = send_case(a, base + j);
            auto sb = send_case(b, base + j);
            weft::select(sa, sb);
          }
          if (producers_left.fetch_sub(1) == 1) {
            a.close();
            b.close();
          }
        }));
      } else {
        fibers.push_back(weft::spawn([&] {
          auto ra = recv_case(a);
          auto rb = recv_case(b);
          for (;;) {
            int k = weft::select_for(std::chrono::seconds(30), ra, rb);
            ASSERT_GE(k, 0);
            auto& rc = k == 0 ? ra : rb;
            if (rc.closed()) break;
            seen[*rc.value()].fetch_add(1);
          }
          while (auto v = a.recv()) seen[*v].fetch_add(1);
          while (auto v = b.recv()) seen[*v].fetch_add(1);
        }));
      }
    }
    for (auto& f : fibers) f.join();
  });
  int wrong = 0;
  for (auto& s : seen) wrong += s.load() != 1;
  EXPECT_EQ(wrong, 0);
}

TEST(SelectErrors, SentCaseCannotFireAgain) {
  weft::run([] {
    Channel<int> c(1);
    auto s = send_case(c, 1);
    EXPECT_EQ(weft::select(s), 0);
    EXPECT_THROW(weft::select(s), std::logic_error);
  });
}

INSTANTIATE_CARRIERS(SelectTest);

}  // namespace
