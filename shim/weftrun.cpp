// weftrun: run an unmodified program with its threads as weft fibers.
//
// weftrun turns its options into WEFT_* environment variables, checks them the way the shim
// will (weft::config_from_env, so a bad value fails here, before the program starts), puts
// libweft_preload.so in LD_PRELOAD and execs the program. Because it execs, the program keeps
// weftrun's pid, and its exit status and the signal that kills it reach the caller unchanged.
// LD_PRELOAD is inherited, so the program's children run under the shim too.
//
// The library is looked for next to weftrun (the build tree), then at the path from bindir to
// libdir (WEFT_BINDIR_TO_LIBDIR, set at configure time) from weftrun's own directory, so an
// installed tree can be moved to another prefix.
#include <getopt.h>
#include <unistd.h>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include <weft/config.hpp>

#ifndef WEFT_BINDIR_TO_LIBDIR
#error "WEFT_BINDIR_TO_LIBDIR must be the relative path from bindir to libdir (shim/meson.build)"
#endif

namespace {

constexpr const char* kLibName = "libweft_preload.so";

constexpr const char* kUsage =
    "usage: weftrun [options] [--] program [args...]\n"
    "\n"
    "Runs program with every thread it creates (main included) as a weft fiber: blocking\n"
    "calls (read, write, accept, connect, poll, sleep, pthread_join, ...) suspend only the\n"
    "calling thread's fiber, and a few OS threads (carriers) run them all on io_uring.\n"
    "weftrun sets LD_PRELOAD and the settings below, then execs program: its exit status and\n"
    "signals pass through unchanged. Each setting can also be given as the environment\n"
    "variable shown; an option overrides the variable.\n"
    "\n"
    "options:\n"
    "  -c, --carriers N          OS threads running fibers (0 = one per CPU the process may\n"
    "                            use; default 0; at most 128)                 WEFT_CARRIERS\n"
    "  -s, --stack-size S        stack of each thread that did not choose its own, in bytes,\n"
    "                            with an optional k, m or g suffix (16k..1g; default 256k;\n"
    "                            main gets RLIMIT_STACK)                       WEFT_STACK_SIZE\n"
    "      --stats               print at exit: fibers created, switches, and per interposed\n"
    "                            call how many went through weft or passed through, and why\n"
    "                                                                          WEFT_STATS=1\n"
    "      --stall-ms MS         report a carrier held by one thread for MS milliseconds on\n"
    "                            stderr and move waiting threads off it (0 = off; default 100)\n"
    "                                                                          WEFT_STALL_MS\n"
    "      --dump-signal SIG     a signal (name or number) that prints every fiber to stderr\n"
    "                            (default: none)                               WEFT_DUMP_SIGNAL\n"
    "      --blocking-threads N  helper threads for calls that cannot yield (1..4096; default\n"
    "                            64)                                           "
    "WEFT_BLOCKING_THREADS\n"
    "      --backend B           I/O backend: auto (io_uring where the kernel allows it, else\n"
    "                            epoll), io_uring or epoll (default auto)      WEFT_BACKEND\n"
    "      --shared-tls          threads share their carrier's thread-local storage (__thread,\n"
    "                            thread_local, pthread_self) instead of each having its own\n"
    "                            glibc thread as natively (default: their own) WEFT_TLS=shared\n"
    "      --faults SEED:RATE    for testing: give each blocking call, with probability RATE\n"
    "                            (0..1), a fault it could have natively: a short count, EINTR,\n"
    "                            a spurious wakeup, a reset connection (default: off)\n"
    "                                                                          WEFT_FAULTS\n"
    "  -h, --help                show this help and exit\n"
    "\n"
    "WEFT_DEBUG=1 in the environment logs the backend chosen, and why, once to stderr.\n"
    "\n"
    "Limits: statically linked and setuid programs ignore LD_PRELOAD and run natively;\n"
    "see docs/shim.md for what is interposed and what is not.\n";

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "weftrun: %s\nTry 'weftrun --help' for more information.\n", msg.c_str());
  std::exit(2);
}

// bytes() parses a size with an optional k/m/g suffix (powers of 1024) into decimal bytes.
std::string bytes(const char* opt, const char* value) {
  char* end = nullptr;
  errno = 0;
  unsigned long long n = std::strtoull(value, &end, 10);
  if (*value < '0' || *value > '9' || errno != 0 || end == value) {
    usage_error(std::string(opt) + ": not a size: '" + value + "'");
  }
  unsigned shift = 0;
  if (*end != '\0') {
    switch (*end) {
      case 'k':
      case 'K':
        shift = 10;
        break;
      case 'm':
      case 'M':
        shift = 20;
        break;
      case 'g':
      case 'G':
        shift = 30;
        break;
      default:
        usage_error(std::string(opt) + ": unknown size suffix in '" + value + "'");
    }
    if (end[1] != '\0') usage_error(std::string(opt) + ": not a size: '" + value + "'");
  }
  if (n > (~0ull >> shift)) usage_error(std::string(opt) + ": too large: '" + value + "'");
  return std::to_string(n << shift);
}

// preload_library() finds libweft_preload.so relative to this executable, never at a path fixed
// at build time: beside weftrun (the build tree), then WEFT_BINDIR_TO_LIBDIR from weftrun's
// directory (an installed tree, wherever it was installed or moved to). An absolute fallback
// to the configured prefix was rejected: it is reached only when the tree is incomplete or
// weftrun was copied away alone, and then it would quietly pair this weftrun with whatever
// library (maybe another version, or a removed install's leftover) sits at the old prefix.
// /proc/self/exe names the real file, symlinks to weftrun resolved. The error lists each place.
std::string preload_library() {
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) {
    std::fprintf(stderr, "weftrun: cannot find %s: reading /proc/self/exe (where weftrun is): %s\n",
                 kLibName, std::strerror(n < 0 ? errno : ENOENT));
    std::exit(127);
  }
  self[n] = '\0';
  std::string dir(self, std::string(self).rfind('/') + 1);
  const std::string candidates[] = {dir + kLibName, dir + WEFT_BINDIR_TO_LIBDIR + "/" + kLibName};
  std::string tried;
  for (const std::string& path : candidates) {
    if (char* real = ::realpath(path.c_str(), nullptr)) {
      std::string found(real);
      std::free(real);
      if (::access(found.c_str(), R_OK) == 0) return found;
    }
    tried += "\n  " + path + ": " + std::strerror(errno);
  }
  std::fprintf(stderr, "weftrun: cannot find %s; looked at:%s\n", kLibName, tried.c_str());
  std::exit(127);
}

void set(const char* name, const std::string& value) {
  if (::setenv(name, value.c_str(), 1) != 0) {
    std::fprintf(stderr, "weftrun: cannot set %s: %s\n", name, std::strerror(errno));
    std::exit(127);
  }
}

}  // namespace

int main(int argc, char** argv) {
  enum { kStats = 256, kStall, kDump, kBlocking, kFaults, kBackend, kSharedTls };
  static const option kOptions[] = {
      {"carriers", required_argument, nullptr, 'c'},
      {"stack-size", required_argument, nullptr, 's'},
      {"stats", no_argument, nullptr, kStats},
      {"stall-ms", required_argument, nullptr, kStall},
      {"dump-signal", required_argument, nullptr, kDump},
      {"blocking-threads", required_argument, nullptr, kBlocking},
      {"faults", required_argument, nullptr, kFaults},
      {"backend", required_argument, nullptr, kBackend},
      {"shared-tls", no_argument, nullptr, kSharedTls},
      {"help", no_argument, nullptr, 'h'},
      {nullptr, 0, nullptr, 0},
  };
  opterr = 0;
  // '+': options end at the program's name, whose own options are its business.
  for (int c; (c = getopt_long(argc, argv, "+:c:s:h", kOptions, nullptr)) != -1;) {
    switch (c) {
      case 'c':
        set("WEFT_CARRIERS", optarg);
        break;
      case 's':
        set("WEFT_STACK_SIZE", bytes("--stack-size", optarg));
        break;
      case kStats:
        set("WEFT_STATS", "1");
        break;
      case kStall:
        set("WEFT_STALL_MS", optarg);
        break;
      case kDump:
        set("WEFT_DUMP_SIGNAL", optarg);
        break;
      case kBlocking:
        set("WEFT_BLOCKING_THREADS", optarg);
        break;
      case kFaults:
        set("WEFT_FAULTS", optarg);
        break;
      case kBackend:
        set("WEFT_BACKEND", optarg);
        break;
      case kSharedTls:
        set("WEFT_TLS", "shared");
        break;
      case 'h':
        std::fputs(kUsage, stdout);
        return 0;
      case ':':
        usage_error(std::string("option '") + argv[optind - 1] + "' needs a value");
      default:
        usage_error(std::string("unknown option '") + argv[optind - 1] + "'");
    }
  }
  if (optind >= argc) usage_error("no program to run");
  // The settings as the shim will read them: a bad one is reported here, naming the variable.
  try {
    (void)weft::config_from_env();
  } catch (const std::exception& e) {
    usage_error(e.what());
  }
  if (const char* s = std::getenv("WEFT_STATS");
      s != nullptr && *s != '\0' && std::strcmp(s, "1") && std::strcmp(s, "0")) {
    usage_error(std::string("WEFT_STATS=\"") + s + "\": expected 1 or 0");
  }
  std::string lib = preload_library();
  if (lib.find_first_of(": ") != std::string::npos) {
    std::fprintf(stderr, "weftrun: LD_PRELOAD cannot hold a path with ':' or ' ': %s\n",
                 lib.c_str());
    return 127;
  }
  // The program's own preloads keep their place in front; they reach libc through weft's.
  const char* old = std::getenv("LD_PRELOAD");
  set("LD_PRELOAD", old != nullptr && *old != '\0' ? std::string(old) + ":" + lib : lib);
  ::execvp(argv[optind], argv + optind);
  int err = errno;
  std::fprintf(stderr, "weftrun: cannot run %s: %s\n", argv[optind], std::strerror(err));
  return err == ENOENT ? 127 : 126;
}
