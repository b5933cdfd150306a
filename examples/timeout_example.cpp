// weft::Timeout: one deadline for every blocking call in a scope, nested scopes, and telling
// whose deadline fired.
#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <weft/weft.hpp>

using namespace std::chrono_literals;

int main() {
  int p[2];
  if (pipe(p) != 0) return 1;
  weft::run([&] {
    weft::Timeout request(100ms);  // the whole request
    {
      weft::Timeout step(20ms);  // one step of it
      char c;
      ssize_t n = weft::read(p[0], &c, 1);  // nobody writes: the step's deadline fires
      std::printf("read: %zd (%s)\n", n, step.expired() ? "step timed out" : "?");
    }
    int r = weft::this_fiber::sleep_for(1h);  // the rest of the request's 100 ms
    std::printf("sleep: %d (request expired: %d)\n", r, request.expired());
    try {
      weft::blocking([] {});  // sync calls throw, naming the scope that expired
    } catch (const weft::TimedOut& e) {
      std::printf("TimedOut from the %s scope\n", e.scope() == &request ? "request" : "other");
    }
  });
  close(p[0]);
  close(p[1]);
}
