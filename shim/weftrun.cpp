// weftrun: run an unmodified program with its threads as weft fibers.
//
// weftrun turns its options into WEFT_* environment variables, checks them the way the shim
// will (weft::config_from_env, so a bad value fails here, before the program starts, and the
// error names the option the user typed), puts libweft_preload.so in LD_PRELOAD and execs the
// program. Because it execs, the program keeps weftrun's pid, and its exit status and the signal
// that kills it reach the caller unchanged. LD_PRELOAD is inherited, so the program's children
// run under the shim too.
//
// No silent fallbacks: a program LD_PRELOAD cannot reach (static, set-user-ID, ...;
// weftrun_program.hpp) is named on stderr before it runs natively, and under --strict
// (WEFT_STRICT=1) it is not run at all: status 126.
//
// The library is looked for next to weftrun (the build tree), then at the path from bindir to
// libdir (WEFT_BINDIR_TO_LIBDIR, set at configure time) from weftrun's own directory, so an
// installed tree can be moved to another prefix.
#include <getopt.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include <weft/config.hpp>

#include "base/report.hpp"
#include "weftrun_program.hpp"

#ifndef WEFT_BINDIR_TO_LIBDIR
#error "WEFT_BINDIR_TO_LIBDIR must be the relative path from bindir to libdir (shim/meson.build)"
#endif
#ifndef WEFT_VERSION
#error "WEFT_VERSION must be the project's version"
#endif

namespace {

constexpr const char* kLibName = "libweft_preload.so";

// kStrictRefused is the exit status of a program --strict refuses to run natively; the shim
// exits 127 when the runtime cannot start under WEFT_STRICT=1 (shim/start.cpp).
constexpr int kStrictRefused = 126;

constexpr const char* kUsage =
    "usage: weftrun [options] [--] program [args...]\n"
    "\n"
    "Runs program with every thread it creates (main included) as a weft fiber: blocking\n"
    "calls (read, write, accept, connect, poll, sleep, pthread_join, ...) suspend only the\n"
    "calling thread's fiber, and a few OS threads (carriers) run them all on io_uring.\n"
    "weftrun sets LD_PRELOAD and the settings below, then execs program: its exit status and\n"
    "signals pass through unchanged. Each setting can also be given as the environment\n"
    "variable shown; an option overrides the variable. A value follows its option as the next\n"
    "argument or after '=' (--carriers 2, --carriers=2).\n"
    "\n"
    "options:\n"
    "  -c, --carriers N          OS threads running fibers (0 = one per CPU the process may\n"
    "                            use; default 0; at most 128)                 WEFT_CARRIERS\n"
    "  -s, --stack-size S        stack of each thread that did not choose its own, in bytes,\n"
    "                            with an optional k, m or g suffix (16k..1g; default 256k;\n"
    "                            main gets RLIMIT_STACK)                       WEFT_STACK_SIZE\n"
    "      --stall-ms MS         report (with its stack) a thread that holds its carrier for MS\n"
    "                            milliseconds, and where; meanwhile new threads and the\n"
    "                            carrier's threads that have not started yet run on other\n"
    "                            carriers (started ones cannot move) (0 = off; default 100)\n"
    "                                                                          WEFT_STALL_MS\n"
    "      --dump-signal SIG     a signal that writes every fiber and its stack (default: none)\n"
    "                                                                          WEFT_DUMP_SIGNAL\n"
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
    "      --stats[=1|0]         write at exit (and when SIGTERM, SIGINT or SIGHUP ends the\n"
    "                            program): fibers created, switches, and per interposed call\n"
    "                            how many went through weft, how long they waited (total,\n"
    "                            p50, p99, max), and how many passed through, and why\n"
    "                                                                          WEFT_STATS=1\n"
    "      --stats-file PATH     write the stats to PATH instead of the log (%p becomes the\n"
    "                            pid); implies --stats                         WEFT_STATS_FILE\n"
    "      --stats-format F      stats as text (a table, the default) or json (JSON lines)\n"
    "                                                                          "
    "WEFT_STATS_FORMAT\n"
    "      --stats-signal SIG    a signal that writes the stats at once; implies --stats\n"
    "                                                                          "
    "WEFT_STATS_SIGNAL\n"
    "      --log PATH            write every weft report (stalls, overflows, dumps, errors)\n"
    "                            to PATH instead of stderr (%p becomes the pid)\n"
    "                                                                          WEFT_LOG\n"
    "      --strict              no native fallback: refuse a program LD_PRELOAD cannot reach\n"
    "                            (static, set-user-ID, ...; status 126), and end the program\n"
    "                            with status 127 if weft's runtime cannot start in it\n"
    "                                                                          WEFT_STRICT=1\n"
    "      --version             print weftrun's version and exit\n"
    "  -h, --help                show this help and exit\n"
    "\n"
    "SIG is a name, with or without SIG, in any case (QUIT, SIGUSR1, usr2), SIGRTMIN+N,\n"
    "SIGRTMAX-N or a number: QUIT, USR1, USR2, STKFLT, PWR or a real-time signal. The others\n"
    "are refused: KILL and STOP cannot be caught, URG is the stall watchdog's, SEGV, BUS and\n"
    "the other fault signals and ABRT keep their own action, TERM, INT and HUP end the program,\n"
    "the kernel sends CHLD, PIPE, the timers' and the terminal's on its own, 32 and 33 are\n"
    "glibc's; and one signal cannot be both --dump-signal and --stats-signal. A --log or\n"
    "--stats-file directory must exist and be writable; a relative name is taken from\n"
    "weftrun's directory.\n"
    "\n"
    "WEFT_DEBUG=1 in the environment logs the backend chosen, and why, once to stderr.\n"
    "\n"
    "Limits: statically linked and set-user-ID programs ignore LD_PRELOAD: weftrun says so\n"
    "and runs them natively (--strict: refuses). See docs/shim.md for what is interposed.\n"
    "\n"
    "Exit status: the program's; 2 for a bad option or setting; 126 when program cannot be\n"
    "executed or --strict refuses it; 127 when it is not found, libweft_preload.so is\n"
    "missing, or under --strict weft's runtime cannot start in it.\n";

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "weftrun: %s\nTry 'weftrun --help' for more information.\n", msg.c_str());
  std::exit(2);
}

// kLabels maps each variable an option set to the option, so errors name what was typed.
struct Label {
  const char* variable;
  const char* option;
  bool given;
};
Label kLabels[] = {
    {"WEFT_CARRIERS", "-c/--carriers", false},
    {"WEFT_STACK_SIZE", "-s/--stack-size", false},
    {"WEFT_STALL_MS", "--stall-ms", false},
    {"WEFT_DUMP_SIGNAL", "--dump-signal", false},
    {"WEFT_BLOCKING_THREADS", "--blocking-threads", false},
    {"WEFT_BACKEND", "--backend", false},
    {"WEFT_TLS", "--shared-tls", false},
    {"WEFT_FAULTS", "--faults", false},
    {"WEFT_STATS", "--stats", false},
    {"WEFT_STATS_FILE", "--stats-file", false},
    {"WEFT_STATS_FORMAT", "--stats-format", false},
    {"WEFT_STATS_SIGNAL", "--stats-signal", false},
    {"WEFT_LOG", "--log", false},
    {"WEFT_STRICT", "--strict", false},
};

// label_of() is the option that set variable, or the variable when none did.
const char* label_of(const char* variable) {
  for (const Label& l : kLabels) {
    if (l.given && std::strcmp(l.variable, variable) == 0) return l.option;
  }
  return variable;
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

// set_option() sets variable from an option and remembers that the option named it.
void set_option(const char* variable, const std::string& value) {
  for (Label& l : kLabels) {
    if (std::strcmp(l.variable, variable) == 0) l.given = true;
  }
  set(variable, value);
}

// check_path() refuses a WEFT_LOG or WEFT_STATS_FILE the program could not create: its
// directory must exist and be writable, and the file, if there, be a writable non-directory.
// The program keeps weftrun's pid, so %p is checked as the pid it will become.
void check_path(const char* variable) {
  const char* value = std::getenv(variable);
  if (value == nullptr) return;
  const char* label = label_of(variable);
  std::string shown = std::string(label) + (*label == '-' ? " \"" : "=\"") + value + "\"";
  if (*value == '\0') {
    if (*label == '-') usage_error(shown + ": expected a file path");
    return;  // an empty variable is an unset one
  }
  char expanded[4096];
  if (!weft::sys::report_log_path(value, static_cast<int>(::getpid()), expanded, sizeof expanded)) {
    usage_error(shown +
                ": expected a file name, with %p for the pid and %% for a % (no other % sequence)");
  }
  std::string path = expanded;
  std::size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    usage_error(shown + ": directory " + dir +
                (errno == ENOENT ? " does not exist" : ": " + std::string(std::strerror(errno))));
  }
  if (!S_ISDIR(st.st_mode)) usage_error(shown + ": " + dir + " is not a directory");
  if (::access(dir.c_str(), W_OK | X_OK) != 0 && ::access(path.c_str(), F_OK) != 0) {
    usage_error(shown + ": directory " + dir + " is not writable");
  }
  if (::stat(path.c_str(), &st) == 0 &&
      (S_ISDIR(st.st_mode) || ::access(path.c_str(), W_OK) != 0)) {
    usage_error(shown + ": " + path +
                (S_ISDIR(st.st_mode) ? " is a directory" : " is not writable"));
  }
  // A relative name would be opened from each process's own directory: the program's children
  // (make -C sub), or the program after a chdir. Every process of the tree gets the name from
  // weftrun's directory instead.
  if (*value != '/') {
    char cwd[4096];
    if (::getcwd(cwd, sizeof cwd) == nullptr) {
      usage_error(shown + ": a relative name, and the current directory cannot be read: " +
                  std::strerror(errno));
    }
    set(variable, std::string(cwd) + "/" + value);
  }
}

}  // namespace

int main(int argc, char** argv) {
  enum {
    kStats = 256,
    kStall,
    kDump,
    kBlocking,
    kFaults,
    kBackend,
    kSharedTls,
    kStatsFile,
    kStatsFormat,
    kStatsSignal,
    kLog,
    kStrict,
    kVersion,
  };
  static const option kOptions[] = {
      {"carriers", required_argument, nullptr, 'c'},
      {"stack-size", required_argument, nullptr, 's'},
      {"stats", optional_argument, nullptr, kStats},
      {"stall-ms", required_argument, nullptr, kStall},
      {"dump-signal", required_argument, nullptr, kDump},
      {"blocking-threads", required_argument, nullptr, kBlocking},
      {"faults", required_argument, nullptr, kFaults},
      {"backend", required_argument, nullptr, kBackend},
      {"shared-tls", no_argument, nullptr, kSharedTls},
      {"stats-file", required_argument, nullptr, kStatsFile},
      {"stats-format", required_argument, nullptr, kStatsFormat},
      {"stats-signal", required_argument, nullptr, kStatsSignal},
      {"log", required_argument, nullptr, kLog},
      {"strict", no_argument, nullptr, kStrict},
      {"version", no_argument, nullptr, kVersion},
      {"help", no_argument, nullptr, 'h'},
      {nullptr, 0, nullptr, 0},
  };
  opterr = 0;
  // '+': options end at the program's name, whose own options are its business.
  for (int c; (c = getopt_long(argc, argv, "+:c:s:h", kOptions, nullptr)) != -1;) {
    switch (c) {
      case 'c':
        set_option("WEFT_CARRIERS", optarg);
        break;
      case 's':
        set_option("WEFT_STACK_SIZE", optarg);
        break;
      case kStats:
        set_option("WEFT_STATS", optarg != nullptr ? optarg : "1");
        break;
      case kStall:
        set_option("WEFT_STALL_MS", optarg);
        break;
      case kDump:
        set_option("WEFT_DUMP_SIGNAL", optarg);
        break;
      case kBlocking:
        set_option("WEFT_BLOCKING_THREADS", optarg);
        break;
      case kFaults:
        set_option("WEFT_FAULTS", optarg);
        break;
      case kBackend:
        set_option("WEFT_BACKEND", optarg);
        break;
      case kSharedTls:
        set_option("WEFT_TLS", "shared");
        break;
      case kStatsFile:
        set_option("WEFT_STATS_FILE", optarg);
        break;
      case kStatsFormat:
        set_option("WEFT_STATS_FORMAT", optarg);
        break;
      case kStatsSignal:
        set_option("WEFT_STATS_SIGNAL", optarg);
        break;
      case kLog:
        set_option("WEFT_LOG", optarg);
        break;
      case kStrict:
        set_option("WEFT_STRICT", "1");
        break;
      case kVersion:
        std::printf("weftrun (weft) %s\n", WEFT_VERSION);
        return 0;
      case 'h':
        std::fputs(kUsage, stdout);
        return 0;
      case ':':
        usage_error(std::string("option '") + argv[optind - 1] + "' needs a value");
      default:
        // optopt is set for a short option, or for a long option that takes no value but got
        // one (--strict=1); argv[optind - 1] is the word typed either way.
        if (optopt != 0 && std::strncmp(argv[optind - 1], "--", 2) == 0) {
          usage_error(std::string("option '") + argv[optind - 1] + "' takes no value");
        }
        usage_error(std::string("unknown option '") + argv[optind - 1] + "'");
    }
  }
  if (optind >= argc) usage_error("no program to run");
  // The settings as the shim will read them: a bad one is reported here, naming the option
  // typed or, for one set in the environment, the variable.
  try {
    (void)weft::config_from_env(&label_of);
  } catch (const std::exception& e) {
    usage_error(e.what());
  }
  check_path("WEFT_LOG");
  check_path("WEFT_STATS_FILE");
  const char* strict = std::getenv("WEFT_STRICT");
  bool is_strict = strict != nullptr && std::strcmp(strict, "1") == 0;
  if (std::string why = weft::launcher::unreachable_reason(argv[optind]); !why.empty()) {
    if (is_strict) {
      std::fprintf(
          stderr, "weftrun: %s; not running it (%s)\n", why.c_str(),
          std::strcmp(label_of("WEFT_STRICT"), "--strict") == 0 ? "--strict" : "WEFT_STRICT=1");
      return kStrictRefused;
    }
    std::fprintf(stderr,
                 "weftrun: %s, so it runs on native threads with no weft settings (--stats, "
                 "--dump-signal, ...) in effect\n",
                 why.c_str());
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
