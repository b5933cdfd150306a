// Channels: hand-off, buffering, FIFO order, close, deadlines, cancellation, Timeout scopes,
// move-only payloads and leaks, each with 1, 2 and 4 carriers.
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
#include "sync_support.hpp"

namespace {

using namespace std::chrono_literals;
using weft::Channel;
using weft::ChannelStatus;
using weft::Clock;
using weft_test::Payload;

class ChannelTest : public weft_test::ChanTest {};

// make_channel makes a channel of the given capacity, kUnbounded standing for unbounded.
constexpr std::size_t kUnb = Channel<int>::kUnboundedCapacity;
template <class T>
std::unique_ptr<Channel<T>> make_channel(std::size_t capacity) {
  if (capacity == kUnb) return std::make_unique<Channel<T>>(weft::kUnbounded);
  return std::make_unique<Channel<T>>(capacity);
}

TEST_P(ChannelTest, PingPong) {
  weft::run(config(), [] {
    for (std::size_t cap : {std::size_t{0}, std::size_t{1}, std::size_t{8}, kUnb}) {
      auto ping = make_channel<int>(cap);
      auto pong = make_channel<int>(cap);
      auto echo = weft::spawn([&] {
        while (std::optional<int> v = ping->recv()) pong->send(*v + 1);
      });
      for (int i = 0; i < 1000; ++i) {
        ping->send(i);
        ASSERT_EQ(pong->recv(), i + 1);
      }
      ping->close();
      echo.join();
    }
  });
}

// Every value sent by 100 producers is received exactly once by 100 consumers.
TEST_P(ChannelTest, MpmcExactlyOnce) {
  constexpr int kProducers = 100;
  constexpr int kConsumers = 100;
  constexpr int kEach = 100;
  constexpr int kTotal = kProducers * kEach;
  weft::run(config(), [] {
    for (std::size_t cap : {std::size_t{0}, std::size_t{1}, std::size_t{16}, kUnb}) {
      auto ch = make_channel<int>(cap);
      std::vector<std::atomic<int>> seen(kTotal);
      std::vector<weft::Fiber<std::int64_t>> consumers;
      for (int c = 0; c < kConsumers; ++c) {
        consumers.push_back(weft::spawn([&] {
          std::int64_t sum = 0;
          while (std::optional<int> v = ch->recv()) {
            seen[*v].fetch_add(1);
            sum += *v;
          }
          return sum;
        }));
      }
      std::vector<weft::Fiber<void>> producers;
      for (int p = 0; p < kProducers; ++p) {
        producers.push_back(weft::spawn([&, p] {
          for (int j = 0; j < kEach; ++j) ch->send(p * kEach + j);
        }));
      }
      for (auto& f : producers) f.join();
      ch->close();
      std::int64_t sum = 0;
      for (auto& f : consumers) sum += f.join();
      EXPECT_EQ(sum, std::int64_t{kTotal} * (kTotal - 1) / 2) << "capacity " << cap;
      int wrong = 0;
      for (auto& s : seen) wrong += s.load() != 1;
      EXPECT_EQ(wrong, 0) << "values not received exactly once, capacity " << cap;
    }
  });
}

TEST_P(ChannelTest, BoundedCapacityNeverExceeded) {
  weft::run(config(), [] {
    Channel<int> ch(3);
    EXPECT_EQ(ch.capacity(), 3u);
    // Filling without a receiver: exactly three fit.
    EXPECT_EQ(ch.try_send(1), ChannelStatus::kOk);
    EXPECT_EQ(ch.try_send(2), ChannelStatus::kOk);
    EXPECT_EQ(ch.try_send(3), ChannelStatus::kOk);
    EXPECT_EQ(ch.try_send(4), ChannelStatus::kWouldBlock);
    EXPECT_EQ(ch.size(), 3u);
    for (int i = 1; i <= 3; ++i) EXPECT_EQ(ch.recv(), i);

    std::atomic<std::size_t> max_seen{0};
    auto note = [&] {
      std::size_t s = ch.size();
      std::size_t m = max_seen.load();
      while (s > m && !max_seen.compare_exchange_weak(m, s)) {
      }
    };
    std::vector<weft::Fiber<void>> producers;
    for (int p = 0; p < 10; ++p) {
      producers.push_back(weft::spawn([&] {
        for (int j = 0; j < 200; ++j) {
          ch.send(j);
          note();
        }
      }));
    }
    auto consumer = weft::spawn([&] {
      int n = 0;
      while (ch.recv()) {
        note();
        if (++n % 7 == 0) weft::this_fiber::yield();  // let producers pile up
      }
      return n;
    });
    for (auto& f : producers) f.join();
    ch.close();
    EXPECT_EQ(consumer.join(), 2000);
    EXPECT_LE(max_seen.load(), 3u);
    EXPECT_GE(max_seen.load(), 1u);
  });
}

TEST_P(ChannelTest, UnboundedNeverBlocksSenders) {
  weft::run(config(), [] {
    Channel<int> ch(weft::kUnbounded);
    EXPECT_EQ(ch.capacity(), Channel<int>::kUnboundedCapacity);
    for (int i = 0; i < 100000; ++i) {
      if (i % 2 == 0) {
        ch.send(i);
      } else {
        ASSERT_EQ(ch.try_send(i), ChannelStatus::kOk);
      }
    }
    EXPECT_EQ(ch.size(), 100000u);
    // The ring wrapped and grew along the way; order survives.
    for (int i = 0; i < 100000; ++i) ASSERT_EQ(ch.recv(), i);
    EXPECT_EQ(ch.try_recv().status, ChannelStatus::kWouldBlock);
  });
}

TEST_P(ChannelTest, RendezvousWaitsForReceiver) {
  weft::run(config(), [] {
    Channel<int> ch;
    EXPECT_EQ(ch.capacity(), 0u);
    EXPECT_EQ(ch.try_send(1), ChannelStatus::kWouldBlock);
    std::atomic<bool> received{false};
    auto sender = weft::spawn([&] {
      ch.send(7);
      EXPECT_TRUE(received.load()) << "send returned before the receiver took the value";
    });
    weft::this_fiber::sleep_for(10ms);
    EXPECT_FALSE(sender.done());
    EXPECT_EQ(ch.size(), 0u);
    received = true;
    EXPECT_EQ(ch.recv(), 7);
    sender.join();
  });
}

TEST_P(ChannelTest, WrapAroundKeepsOrder) {
  weft::run(config(), [] {
    Channel<int> ch(5);
    int next_in = 0;
    int next_out = 0;
    for (int round = 0; round < 100; ++round) {
      while (ch.try_send(next_in) == ChannelStatus::kOk) ++next_in;
      for (int k = 0; k < 1 + round % 5; ++k) ASSERT_EQ(ch.recv(), next_out++);
    }
  });
}

TEST_P(ChannelTest, FifoAmongWaitingReceivers) {
  weft::run(config(), [] {
    Channel<int> ch;
    constexpr int kN = 5;
    std::atomic<int> started{0};
    std::vector<weft::Fiber<int>> receivers;
    for (int i = 0; i < kN; ++i) {
      receivers.push_back(weft::spawn([&] {
        started.fetch_add(1);
        return *ch.recv();
      }));
      // Receiver i is seen queued before i + 1 starts (a formality with one carrier; with
      // several, a fixed sleep may end before a descheduled carrier has queued it).
      while (started.load() < i + 1) weft::this_fiber::yield();
      weft_test::await_waiting("channel recv", i + 1);
    }
    for (int i = 0; i < kN; ++i) ch.send(i);
    for (int i = 0; i < kN; ++i) EXPECT_EQ(receivers[i].join(), i);
  });
}

TEST_P(ChannelTest, CloseDrainsThenNullopt) {
  weft::run(config(), [] {
    Channel<int> ch(4);
    ch.send(1);
    ch.send(2);
    EXPECT_FALSE(ch.closed());
    ch.close();
    ch.close();  // idempotent
    EXPECT_TRUE(ch.closed());
    EXPECT_THROW(ch.send(3), weft::ChannelClosed);
    EXPECT_EQ(ch.try_send(3), ChannelStatus::kClosed);
    EXPECT_EQ(ch.send_for(3, 1s), ChannelStatus::kClosed);
    EXPECT_EQ(ch.size(), 2u);
    EXPECT_EQ(ch.recv(), 1);
    auto r = ch.try_recv();
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, 2);
    EXPECT_EQ(ch.recv(), std::nullopt);
    EXPECT_EQ(ch.try_recv().status, ChannelStatus::kClosed);
    EXPECT_EQ(ch.recv_for(1s).status, ChannelStatus::kClosed);
  });
}

TEST_P(ChannelTest, CloseWakesEveryBlockedReceiver) {
  weft::run(config(), [] {
    Channel<int> ch(2);
    std::atomic<int> woke{0};
    std::vector<weft::Fiber<void>> fibers;
    for (int i = 0; i < 20; ++i) {
      fibers.push_back(weft::spawn([&] {
        if (ch.recv() == std::nullopt) woke.fetch_add(1);
      }));
    }
    weft::this_fiber::sleep_for(10ms);
    EXPECT_EQ(woke.load(), 0);
    ch.close();
    for (auto& f : fibers) f.join();
    EXPECT_EQ(woke.load(), 20);
  });
}

TEST_P(ChannelTest, CloseWakesEveryBlockedSender) {
  weft::run(config(), [] {
    Channel<Payload> ch(1);
    ch.send(Payload(-1));
    std::atomic<int> refused{0};
    std::vector<weft::Fiber<void>> fibers;
    for (int i = 0; i < 20; ++i) {
      fibers.push_back(weft::spawn([&, i] {
        Payload p(i);
        try {
          ch.send(std::move(p));
        } catch (const weft::ChannelClosed&) {
          EXPECT_EQ(p.v, i) << "a refused value must stay with its sender";
          refused.fetch_add(1);
        }
      }));
    }
    weft::this_fiber::sleep_for(10ms);
    ch.close();
    for (auto& f : fibers) f.join();
    EXPECT_EQ(refused.load(), 20);
    // The value buffered before the close is still delivered.
    std::optional<Payload> first = ch.recv();
    ASSERT_TRUE(first);
    EXPECT_EQ(first->v, -1);
    EXPECT_FALSE(ch.recv());
  });
}

TEST_P(ChannelTest, MoveOnlyPayload) {
  weft::run(config(), [] {
    for (std::size_t cap : {std::size_t{0}, std::size_t{2}, kUnb}) {
      auto ch = make_channel<std::unique_ptr<int>>(cap);
      auto producer = weft::spawn([&] {
        for (int i = 0; i < 50; ++i) ch->send(std::make_unique<int>(i));
        ch->close();
      });
      int n = 0;
      while (std::optional<std::unique_ptr<int>> p = ch->recv()) {
        ASSERT_NE(*p, nullptr);
        EXPECT_EQ(**p, n++);
      }
      EXPECT_EQ(n, 50);
      producer.join();
    }
    // A refused try_send leaves the value with the caller.
    Channel<std::unique_ptr<int>> full(1);
    full.send(std::make_unique<int>(1));
    auto keep = std::make_unique<int>(2);
    EXPECT_EQ(full.try_send(std::move(keep)), ChannelStatus::kWouldBlock);
    ASSERT_NE(keep, nullptr);
    EXPECT_EQ(full.send_for(std::move(keep), 1ms), ChannelStatus::kTimeout);
    ASSERT_NE(keep, nullptr);
    EXPECT_EQ(*keep, 2);
  });
}

// A value handed to a waiting receiver is moved once, never copied.
TEST_P(ChannelTest, HandOffMovesOnce) {
  weft::run(config(), [] {
    Channel<Payload> ch;
    auto receiver = weft::spawn([&] { return ch.recv()->v; });
    Payload::reset_counts();
    ch.send(Payload(5));
    EXPECT_EQ(receiver.join(), 5);
    EXPECT_EQ(Payload::copies.load(), 0);
    EXPECT_EQ(Payload::moves.load(), 1) << "sender's value -> receiver's result, nothing else";
    // Through a buffer: in and out, still no copy.
    Channel<Payload> buffered(2);
    Payload::reset_counts();
    buffered.send(Payload(6));
    std::optional<Payload> got = buffered.recv();
    EXPECT_EQ(got->v, 6);
    EXPECT_EQ(Payload::copies.load(), 0);
    EXPECT_EQ(Payload::moves.load(), 2);
    // An lvalue is copied once, then moved.
    Payload keep(7);
    Payload::reset_counts();
    buffered.send(keep);
    EXPECT_EQ(Payload::copies.load(), 1);
    EXPECT_EQ(buffered.recv()->v, 7);
  });
}

TEST_P(ChannelTest, OwnDeadlines) {
  weft::run(config(), [] {
    Channel<int> ch(1);
    Clock::time_point t0 = Clock::now();
    weft::RecvResult<int> r = ch.recv_for(20ms);
    EXPECT_EQ(r.status, ChannelStatus::kTimeout);
    EXPECT_FALSE(r.value);
    EXPECT_GE(Clock::now() - t0, 20ms);
    EXPECT_EQ(ch.recv_until(Clock::now() - 1s).status, ChannelStatus::kTimeout);

    ch.send(1);
    t0 = Clock::now();
    EXPECT_EQ(ch.send_for(2, 20ms), ChannelStatus::kTimeout);
    EXPECT_GE(Clock::now() - t0, 20ms);
    // A deadline already passed still lets a ready operation through.
    r = ch.recv_until(Clock::now() - 1s);
    EXPECT_EQ(r.status, ChannelStatus::kOk);
    EXPECT_EQ(*r, 1);
    EXPECT_EQ(ch.send_until(3, Clock::now() - 1s), ChannelStatus::kOk);

    // A sender arriving within the deadline is served.
    Channel<int> rv;
    auto late = weft::spawn([&] {
      weft::this_fiber::sleep_for(10ms);
      rv.send(9);
    });
    r = rv.recv_for(10s);
    EXPECT_EQ(r.status, ChannelStatus::kOk);
    EXPECT_EQ(*r, 9);
    late.join();
    // A timed-out receiver leaves nothing behind: the next sender finds no one.
    EXPECT_EQ(rv.recv_for(1ms).status, ChannelStatus::kTimeout);
    EXPECT_EQ(rv.try_send(1), ChannelStatus::kWouldBlock);
  });
}

TEST_P(ChannelTest, CancelBlockedRecvAndSend) {
  weft::run(config(), [] {
    Channel<int> empty;   // nobody ever sends
    Channel<int> nobody;  // nobody ever receives
    Channel<int> full(1);
    full.send(0);
    std::atomic<int> cancelled{0};
    auto guarded = [&](auto op) {
      return weft::spawn([&cancelled, op] {
        try {
          op();
          ADD_FAILURE() << "a blocked operation completed";
        } catch (const weft::Cancelled&) {
          cancelled.fetch_add(1);
        }
      });
    };
    auto receiver = guarded([&] { empty.recv(); });
    auto sender = guarded([&] { nobody.send(1); });
    auto blocked_sender = guarded([&] { full.send(1); });
    weft::this_fiber::sleep_for(10ms);
    receiver.cancel();
    sender.cancel();
    blocked_sender.cancel();
    receiver.join();
    sender.join();
    blocked_sender.join();
    EXPECT_EQ(cancelled.load(), 3);
    // Nothing stale is left queued.
    EXPECT_EQ(empty.try_send(5), ChannelStatus::kWouldBlock);
    EXPECT_EQ(nobody.try_recv().status, ChannelStatus::kWouldBlock);
    EXPECT_EQ(full.size(), 1u);
    EXPECT_EQ(full.recv(), 0);
    EXPECT_EQ(full.try_recv().status, ChannelStatus::kWouldBlock);
  });
}

TEST_P(ChannelTest, CancelledFiberThrowsAtOnce) {
  weft::run(config(), [] {
    Channel<int> ch(weft::kUnbounded);
    auto f = weft::spawn([&] {
      while (!weft::this_fiber::cancelled()) weft::this_fiber::yield();
      EXPECT_THROW(ch.send(1), weft::Cancelled);
      EXPECT_THROW(ch.recv(), weft::Cancelled);
      EXPECT_THROW(ch.recv_for(1s), weft::Cancelled);
      // Non-blocking calls still work, so cleanup code can drain or close.
      EXPECT_EQ(ch.try_send(2), ChannelStatus::kOk);
      EXPECT_EQ(*ch.try_recv(), 2);
      ch.close();
    });
    f.cancel();
    f.join();
    EXPECT_TRUE(ch.closed());
  });
}

TEST_P(ChannelTest, TimeoutScopeExpires) {
  weft::run(config(), [] {
    Channel<int> ch(1);
    {
      weft::Timeout t(20ms);
      try {
        ch.recv();
        ADD_FAILURE() << "recv returned";
      } catch (const weft::TimedOut& e) {
        EXPECT_EQ(e.scope(), &t);
      }
    }
    ch.send(1);
    {
      weft::Timeout t(20ms);
      EXPECT_THROW(ch.send(2), weft::TimedOut);
      // The scope, not the call's own deadline, expired: an exception, not kTimeout.
      EXPECT_THROW(ch.send_for(2, 1h), weft::TimedOut);
    }
    {
      weft::Timeout outer(1h);
      EXPECT_EQ(ch.send_for(2, 10ms), ChannelStatus::kTimeout);
      EXPECT_EQ(ch.recv(), 1);
    }
    EXPECT_EQ(ch.size(), 0u);
  });
}

TEST_P(ChannelTest, DestructionDestroysBufferedValues) {
  weft::run(config(), [] {
    long before = Payload::live.load();
    {
      Channel<Payload> bounded(8);
      Channel<Payload> unbounded(weft::kUnbounded);
      for (int i = 0; i < 8; ++i) bounded.send(Payload(i));
      for (int i = 0; i < 5; ++i) bounded.recv();  // head moved: the live part wraps below
      for (int i = 0; i < 3; ++i) bounded.send(Payload(i));
      for (int i = 0; i < 1000; ++i) unbounded.send(Payload(i));
      EXPECT_EQ(Payload::live.load(), before + 6 + 1000);
    }
    EXPECT_EQ(Payload::live.load(), before);
  });
}

TEST_P(ChannelTest, OffFiber) {
  Channel<int> ch(1);
  EXPECT_EQ(ch.try_send(1), ChannelStatus::kOk);
  EXPECT_THROW(ch.send(2), std::logic_error);
  EXPECT_EQ(ch.recv(), 1);
  EXPECT_THROW(ch.recv(), std::logic_error);
  ch.close();
  EXPECT_EQ(ch.recv(), std::nullopt);
  // A channel made off a fiber can be used by fibers.
  Channel<int> shared(weft::kUnbounded);
  weft::run(config(), [&] {
    auto f = weft::spawn([&] { shared.send(3); });
    EXPECT_EQ(shared.recv(), 3);
    f.join();
  });
}

// Fibers on four OS threads (four carriers) share one channel: cross-thread wake-ups.
TEST(ChannelThreads, MpmcAcrossCarriers) {
  constexpr int kThreads = 4;
  constexpr int kFibers = 10;
  constexpr int kEach = 300;
  constexpr int kTotal = kThreads / 2 * kFibers * kEach;
  for (std::size_t cap : {std::size_t{0}, std::size_t{1}, std::size_t{8}}) {
    Channel<int> ch(cap);
    std::vector<std::atomic<int>> seen(kTotal);
    std::atomic<int> producers_left{kThreads / 2 * kFibers};
    weft_test::run_on_threads(kThreads, [&](int t) {
      std::vector<weft::Fiber<void>> fibers;
      for (int f = 0; f < kFibers; ++f) {
        if (t % 2 == 0) {
          int base = ((t / 2) * kFibers + f) * kEach;
          fibers.push_back(weft::spawn([&, base] {
            for (int j = 0; j < kEach; ++j) ch.send(base + j);
            if (producers_left.fetch_sub(1) == 1) ch.close();
          }));
        } else {
          fibers.push_back(weft::spawn([&] {
            while (std::optional<int> v = ch.recv()) seen[*v].fetch_add(1);
          }));
        }
      }
      for (auto& f : fibers) f.join();
    });
    int wrong = 0;
    for (auto& s : seen) wrong += s.load() != 1;
    EXPECT_EQ(wrong, 0) << "capacity " << cap;
  }
}

TEST(ChannelDeathTest, DestroyedWhileWaitedOn) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  weft::Config one;  // the waiter surely parked before the delete
  one.carriers = 1;
  EXPECT_DEATH(weft::run(one,
                         [] {
                           auto* ch = new Channel<int>;
                           auto f = weft::spawn([ch] { ch->recv(); });
                           weft::this_fiber::yield();
                           weft::this_fiber::sleep_for(5ms);
                           delete ch;
                         }),
               "destroyed while a fiber still waits");
}

INSTANTIATE_CARRIERS(ChannelTest);

}  // namespace
