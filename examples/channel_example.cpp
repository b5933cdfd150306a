// Channels: a three-stage pipeline (generate -> square -> sum), then a select with a timeout.
#include <chrono>
#include <cstdio>
#include <weft/weft.hpp>

using namespace std::chrono_literals;

int main() {
  weft::run([] {
    weft::Channel<int> numbers(8);  // bounded: the generator waits while the squarer lags
    weft::Channel<long> squares;    // rendezvous: each square waits for the summer
    auto generate = weft::spawn([&] {
      for (int i = 1; i <= 100; ++i) numbers.send(i);
      numbers.close();  // end of stream: the squarer drains what is left, then stops
    });
    auto square = weft::spawn([&] {
      while (std::optional<int> n = numbers.recv()) squares.send(long{*n} * *n);
      squares.close();
    });
    long sum = 0;
    while (std::optional<long> s = squares.recv()) sum += *s;
    generate.join();
    square.join();
    std::printf("sum of squares 1..100 = %ld\n", sum);

    // Wait for whichever comes first: a reply, a cancel request, or 50 ms.
    weft::Channel<int> replies;
    weft::Channel<int> cancel;
    auto slow = weft::spawn([&] {
      weft::this_fiber::sleep_for(200ms);
      replies.try_send(42);  // nobody waits any more: dropped
    });
    auto reply = weft::recv_case(replies);
    switch (weft::select_for(50ms, reply, weft::recv_case(cancel))) {
      case 0:
        std::printf("reply %d\n", *reply.value());
        break;
      case 1:
        std::puts("cancelled");
        break;
      case weft::kSelectTimeout:
        std::puts("no reply within 50 ms");
        break;
    }
    slow.join();
  });
}
