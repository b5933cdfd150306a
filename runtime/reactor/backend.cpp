#include "reactor/backend.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "base/sanitizer.hpp"
#include "base/sys.hpp"
#include "reactor/epoll_reactor.hpp"
#include "reactor/uring_reactor.hpp"

namespace weft::rt {
namespace {

bool debug_enabled() noexcept {
  const char* v = std::getenv("WEFT_DEBUG");
  return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
}

// log_choice() reports the first backend choice of the process when WEFT_DEBUG asks for it.
void log_choice(const char* name, const char* why) noexcept {
  static std::atomic<bool> logged{false};
  if (!debug_enabled() || logged.exchange(true, std::memory_order_relaxed)) return;
  std::string msg = std::string("weft: I/O backend: ") + name + " (" + why + ")\n";
  sys::write_stderr(msg.c_str());
}

Backend resolve(Backend configured) {
  if (configured != Backend::kAuto) return configured;
  const char* v = std::getenv("WEFT_BACKEND");
  if (v == nullptr || *v == '\0') return Backend::kAuto;
  return parse_backend("WEFT_BACKEND", v);
}

}  // namespace

std::unique_ptr<Reactor> make_reactor(const Config& config, BlockingPool* helpers) {
  switch (resolve(config.backend)) {
    case Backend::kIoUring: {
      auto r = std::make_unique<UringReactor>(config.ring_entries);
      log_choice("io_uring", "forced");
      return r;
    }
    case Backend::kEpoll: {
      auto r = std::make_unique<EpollReactor>(helpers);
      log_choice("epoll", "forced");
      return r;
    }
    case Backend::kAuto:
      break;
  }
  // Under valgrind, auto means epoll: memcheck cannot see the kernel write completions into a
  // ring's shared memory, and valgrind 3.19 hangs in a ring's first wait.
  if (san::on_valgrind()) {
    auto r = std::make_unique<EpollReactor>(helpers);
    log_choice("epoll", "auto, running under valgrind");
    return r;
  }
  try {
    auto r = std::make_unique<UringReactor>(config.ring_entries);
    log_choice("io_uring", "auto");
    return r;
  } catch (const std::runtime_error& e) {
    auto r = std::make_unique<EpollReactor>(helpers);
    std::string why = std::string("auto, io_uring refused: ") + e.what();
    log_choice("epoll", why.c_str());
    return r;
  }
}

}  // namespace weft::rt
