// weft::blocking(): resolve names with getaddrinfo (which no hook reaches) on helper threads,
// while a fiber on the carrier keeps ticking.
#include <arpa/inet.h>
#include <netdb.h>
#include <cstdio>
#include <string>
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
    int ticks = 0;
    auto ticker = weft::spawn([&ticks] {
      while (weft::this_fiber::sleep_for(std::chrono::milliseconds(1)) == 0) ++ticks;
    });
    for (const char* host : {"localhost", "no-such-host.invalid"}) {
      std::printf("%s -> %s\n", host, weft::blocking(resolve, host).c_str());
    }
    ticker.cancel();
    ticker.join();
    std::printf("the ticker ran %d times meanwhile\n", ticks);
  });
}
