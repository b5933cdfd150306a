// weft::gather(): run calls concurrently on fibers and get every result and every exception,
// in order (asyncio.gather with return_exceptions=True).
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <weft/weft.hpp>

using namespace std::chrono_literals;

// fetch() stands in for a request that takes a while and may fail.
std::string fetch(int id) {
  weft::this_fiber::sleep_for(std::chrono::milliseconds(10 * id));
  if (id == 2) throw std::runtime_error("request 2 failed");
  return "reply " + std::to_string(id);
}

int main() {
  weft::run([] {
    auto [a, b, c] =
        weft::gather([] { return fetch(3); }, [] { return fetch(2); }, [] { return fetch(1); });
    for (auto* o : {&a, &b, &c}) {
      try {
        std::printf("ok: %s\n", o->value().c_str());
      } catch (const std::exception& e) {
        std::printf("error: %s\n", e.what());
      }
    }
  });
}
