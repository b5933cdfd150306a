// Backend choice: io_uring when the kernel allows it, epoll otherwise (proved under a seccomp
// filter that refuses io_uring_setup, as Docker's default profile does), WEFT_BACKEND to force
// one, a clear error when the forced one is refused, and the choice shown in stats and dumps.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>

#include <weft/weft.hpp>

namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

#if defined(__x86_64__)
constexpr unsigned kArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr unsigned kArch = AUDIT_ARCH_AARCH64;
#else
#error "the seccomp test knows x86_64 and aarch64"
#endif

// refuse_io_uring() installs a seccomp filter on the calling (single-threaded) process that
// makes io_uring_setup fail with EPERM, as container runtimes' default profiles do, and lets
// every other system call through. Returns false if the kernel refuses the filter.
bool refuse_io_uring() {
  sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kArch, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog prog{static_cast<unsigned short>(sizeof code / sizeof code[0]), code};
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return false;
  return ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0;
}

// Child is what a forked child printed (stdout and stderr together) and how it ended.
struct Child {
  std::string out;
  int status = -1;
};

// in_child() runs fn in a forked child with stdout and stderr captured; the child exits with
// fn's return value (or 99 on an exception, after printing it).
Child in_child(const std::function<int()>& fn) {
  int p[2];
  if (::pipe(p) != 0) throw std::runtime_error("pipe");
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(p[1], 1);
    ::dup2(p[1], 2);
    ::close(p[0]);
    ::close(p[1]);
    int code = 99;
    try {
      code = fn();
    } catch (const std::exception& e) {
      std::printf("exception: %s\n", e.what());
    }
    std::fflush(stdout);
    ::_exit(code);
  }
  ::close(p[1]);
  Child c;
  char buf[4096];
  for (ssize_t n; (n = ::read(p[0], buf, sizeof buf)) > 0;)
    c.out.append(buf, static_cast<std::size_t>(n));
  ::close(p[0]);
  ::waitpid(pid, &c.status, 0);
  return c;
}

bool exited_ok(const Child& c) {
  return WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0;
}

// echo_and_sleep() serves `clients` TCP echo connections on fibers, each sending `rounds`
// messages, sleeps 20 ms, and returns how many echoes came back intact.
int echo_and_sleep(int clients, int rounds) {
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(lfd, 128) != 0 ||
      ::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return -1;
  }
  std::atomic<int> good{0};  // clients run on both carriers
  auto server = weft::spawn([&] {
    for (int i = 0; i < clients; ++i) {
      int fd = weft::accept(lfd);
      if (fd < 0) return;
      weft::spawn([fd] {
        char buf[256];
        for (ssize_t n; (n = weft::recv(fd, buf, sizeof buf)) > 0;) {
          if (weft::write_all(fd, buf, static_cast<std::size_t>(n)) < 0) break;
        }
        weft::close(fd);
      }).detach();
    }
  });
  std::vector<weft::Fiber<void>> fibers;
  for (int i = 0; i < clients; ++i) {
    fibers.push_back(weft::spawn([&, i] {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (weft::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
      for (int r = 0; r < rounds; ++r) {
        std::string msg = "client " + std::to_string(i) + " round " + std::to_string(r);
        char back[64];
        if (weft::write_all(fd, msg.data(), msg.size()) < 0) break;
        if (weft::read_exact(fd, back, msg.size()) != static_cast<ssize_t>(msg.size())) break;
        if (std::string(back, msg.size()) == msg) ++good;
      }
      weft::close(fd);
    }));
  }
  for (auto& f : fibers) f.join();
  server.join();
  auto t0 = weft::Clock::now();
  weft::this_fiber::sleep_for(20ms);
  ::close(lfd);
  if (weft::Clock::now() - t0 < 20ms) return -2;
  return good.load();
}

weft::Config two_carriers() {
  weft::Config c;
  c.carriers = 2;
  c.stall_ms = 0;
  return c;
}

TEST(Backend, StatsAndDumpNameIt) {
  const char* forced = ::getenv("WEFT_BACKEND");
  weft::run(two_carriers(), [&] {
    weft::Backend b = weft::stats().backend;
    EXPECT_NE(b, weft::Backend::kAuto);
    if (forced != nullptr && std::string(forced) == "epoll") {
      EXPECT_EQ(b, weft::Backend::kEpoll);
    }
    EXPECT_THAT(weft::fiber_dump(), HasSubstr(std::string(", ") + weft::backend_name(b) + " I/O)"));
    EXPECT_EQ(echo_and_sleep(8, 20), 8 * 20);
  });
}

TEST(Backend, ForcedEpollServesEcho) {
  weft::Config c = two_carriers();
  c.backend = weft::Backend::kEpoll;
  weft::run(c, [] {
    EXPECT_EQ(weft::stats().backend, weft::Backend::kEpoll);
    EXPECT_EQ(weft::stats().ring_setup_flags, 0u);
    EXPECT_EQ(echo_and_sleep(16, 50), 16 * 50);
  });
}

// The proof of the fall-back: with io_uring_setup refused by seccomp, the default settings
// still run fibers doing socket echo and a sleep, on epoll, and WEFT_DEBUG says why.
TEST(BackendFallback, AutoUsesEpollWhenIoUringIsRefused) {
  Child c = in_child([] {
    ::unsetenv("WEFT_BACKEND");
    ::setenv("WEFT_DEBUG", "1", 1);
    if (!refuse_io_uring()) return 3;
    if (::syscall(__NR_io_uring_setup, 1, nullptr) != -1 || errno != EPERM) return 4;
    int good = weft::run(two_carriers(), [] {
      std::printf("backend=%s\n", weft::backend_name(weft::stats().backend));
      return echo_and_sleep(16, 50);
    });
    std::printf("echoes=%d\n", good);
    return 0;
  });
  EXPECT_TRUE(exited_ok(c)) << c.out;
  EXPECT_THAT(c.out, HasSubstr("backend=epoll"));
  EXPECT_THAT(c.out, HasSubstr("echoes=800"));
  EXPECT_THAT(c.out, HasSubstr("weft: I/O backend: epoll (auto, io_uring refused: weft: cannot "
                               "use io_uring: io_uring_setup: Operation not permitted"));
}

TEST(BackendFallback, ForcedIoUringUnderTheFilterIsAClearError) {
  Child c = in_child([] {
    if (!refuse_io_uring()) return 3;
    ::setenv("WEFT_BACKEND", "io_uring", 1);
    try {
      weft::run([] {});
      std::printf("ran on io_uring from the environment\n");
      return 1;
    } catch (const std::runtime_error& e) {
      std::printf("env: %s\n", e.what());
    }
    ::unsetenv("WEFT_BACKEND");
    weft::Config cfg = two_carriers();
    cfg.backend = weft::Backend::kIoUring;
    try {
      weft::run(cfg, [] {});
      std::printf("ran on io_uring from the Config\n");
      return 1;
    } catch (const std::runtime_error& e) {
      std::printf("config: %s\n", e.what());
    }
    return 0;
  });
  EXPECT_TRUE(exited_ok(c)) << c.out;
  const char* why = "cannot use io_uring: io_uring_setup: Operation not permitted";
  EXPECT_THAT(c.out, HasSubstr(std::string("env: weft: ") + why)) << c.out;
  EXPECT_THAT(c.out, HasSubstr(std::string("config: weft: ") + why)) << c.out;
  EXPECT_THAT(c.out, HasSubstr("seccomp"));  // the message says where io_uring is refused
}

TEST(BackendFallback, DebugLogIsSilentByDefault) {
  Child c = in_child([] {
    ::unsetenv("WEFT_DEBUG");
    weft::run(two_carriers(), [] {});
    ::setenv("WEFT_DEBUG", "0", 1);
    weft::run(two_carriers(), [] {});
    return 0;
  });
  EXPECT_TRUE(exited_ok(c)) << c.out;
  EXPECT_THAT(c.out, Not(HasSubstr("I/O backend")));
}

}  // namespace
