// weft::blocking(): resolve names with getaddrinfo, and make a call that blocks its thread for
// 50 ms, on helper threads, while a fiber keeps ticking every millisecond. Called directly on a
// fiber, that call would stall its carrier (and the watchdog would report it).
#include <arpa/inet.h>
#include <netdb.h>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <weft/weft.hpp>

// resolve() returns the first IPv4 address of host, or the resolver's error.
std::string resolve(const char* host) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  addrinfo* res = nullptr;
  if (int r = getaddrinfo(host, nullptr, &hints, &res); r != 0) return gai_strerror(r);
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr, buf, sizeof buf);
  freeaddrinfo(res);
  return buf;
}

int main() {
  weft::run([] {
    std::atomic<int> ticks{0};  // the ticker may run on another carrier
    auto ticker = weft::spawn([&ticks] {
      while (weft::this_fiber::sleep_for(std::chrono::milliseconds(1)) == 0) ++ticks;
    });
    for (const char* host : {"localhost", "no-such-host.invalid"}) {
      std::printf("%s -> %s\n", host, weft::blocking(resolve, host).c_str());
    }
    int before = ticks.load();
    weft::blocking([] { std::this_thread::sleep_for(std::chrono::milliseconds(50)); });
    std::printf("a 50 ms blocking call: the ticker ran %d times during it\n", ticks.load() - before);
    ticker.cancel();
    ticker.join();
    std::printf("the ticker ran %d times in all\n", ticks.load());
  });
}
