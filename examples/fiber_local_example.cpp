// FiberLocal and fiber dumps: each request fiber keeps its own request id in a FiberLocal, as a
// thread would in a thread_local, and weft::fiber_dump() shows what every fiber is doing.
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>
#include <weft/weft.hpp>

using namespace std::chrono_literals;

weft::FiberLocal<int> request_id;  // each fiber sees its own, starting at 0

// log() prefixes a line with the calling fiber's request id, wherever it is called from.
void log(const char* what) { std::printf("[request %d] %s\n", *request_id, what); }

int main() {
  weft::run([] {
    std::vector<weft::Fiber<void>> requests;
    for (int id = 1; id <= 3; ++id) {
      requests.push_back(weft::spawn_with({.name = "request " + std::to_string(id)}, [id] {
        *request_id = id;
        log("started");
        weft::this_fiber::sleep_for(std::chrono::milliseconds(20 * id));
        log("finished");
      }));
    }
    weft::this_fiber::sleep_for(5ms);
    std::printf("%s", weft::fiber_dump().c_str());  // three fibers "blocked in sleep"
    for (auto& r : requests) r.join();
    std::printf("main's own request id is still %d\n", *request_id);
  });
}
