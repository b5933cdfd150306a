// config_from_env(): the WEFT_* variables, their ranges and spellings, loud errors for bad
// values, and weft::run(f) honouring them while an explicit Config is used as given.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <stdexcept>
#include <string>
#include <utility>

#include <weft/weft.hpp>

namespace {

// Env sets one variable for the test's duration and restores what was there before.
class Env {
 public:
  Env(const char* name, const char* value) : name_(name) {
    if (const char* old = ::getenv(name)) {
      had_ = true;
      old_ = old;
    }
    ::setenv(name, value, 1);
  }
  ~Env() {
    if (had_) {
      ::setenv(name_, old_.c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;

 private:
  const char* name_;
  bool had_ = false;
  std::string old_;
};

// error_of() is the message config_from_env() throws, or "" if it does not throw.
std::string error_of() {
  try {
    weft::config_from_env();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(ConfigEnv, UnsetOrEmptyKeepsTheDefaults) {
  Env a("WEFT_CARRIERS", "");
  ::unsetenv("WEFT_STALL_MS");
  weft::Config c = weft::config_from_env();
  weft::Config d;
  EXPECT_EQ(c.carriers, d.carriers);
  EXPECT_EQ(c.stall_ms, d.stall_ms);
  EXPECT_EQ(c.dump_signal, d.dump_signal);
  EXPECT_EQ(c.blocking_threads, d.blocking_threads);
  EXPECT_EQ(c.stack_size, d.stack_size);
  EXPECT_EQ(c.fault_rate, 0.0);
}

TEST(ConfigEnv, ReadsEveryVariable) {
  Env a("WEFT_CARRIERS", "3");
  Env b("WEFT_STALL_MS", "0");
  Env c("WEFT_DUMP_SIGNAL", "10");
  Env d("WEFT_BLOCKING_THREADS", "7");
  Env e("WEFT_STACK_SIZE", "131072");
  Env f("WEFT_FAULTS", "42:0.25");
  Env g("WEFT_BACKEND", "epoll");
  weft::Config cfg = weft::config_from_env();
  EXPECT_EQ(cfg.fault_seed, 42u);
  EXPECT_EQ(cfg.fault_rate, 0.25);
  EXPECT_EQ(cfg.carriers, 3u);
  EXPECT_EQ(cfg.stall_ms, 0u);
  EXPECT_EQ(cfg.dump_signal, 10);
  EXPECT_EQ(cfg.blocking_threads, 7u);
  EXPECT_EQ(cfg.stack_size, 131072u);
  EXPECT_EQ(cfg.backend, weft::Backend::kEpoll);
}

TEST(ConfigEnv, BackendsByName) {
  for (weft::Backend b : {weft::Backend::kAuto, weft::Backend::kIoUring, weft::Backend::kEpoll}) {
    Env a("WEFT_BACKEND", weft::backend_name(b));
    EXPECT_EQ(weft::config_from_env().backend, b) << weft::backend_name(b);
  }
  ::unsetenv("WEFT_BACKEND");
  EXPECT_EQ(weft::config_from_env().backend, weft::Backend::kAuto);
}

TEST(ConfigEnv, TlsByName) {
  {
    Env a("WEFT_TLS", "fiber");
    EXPECT_EQ(weft::config_from_env().tls, weft::Tls::kPerFiber);
  }
  {
    Env a("WEFT_TLS", "shared");
    EXPECT_EQ(weft::config_from_env().tls, weft::Tls::kShared);
  }
  ::unsetenv("WEFT_TLS");
  EXPECT_EQ(weft::config_from_env().tls, weft::Tls::kShared);
}

TEST(ConfigEnv, SignalsByName) {
  {
    Env a("WEFT_DUMP_SIGNAL", "SIGQUIT");
    EXPECT_EQ(weft::config_from_env().dump_signal, SIGQUIT);
  }
  {
    Env a("WEFT_DUMP_SIGNAL", "USR2");
    EXPECT_EQ(weft::config_from_env().dump_signal, SIGUSR2);
  }
  {
    Env a("WEFT_DUMP_SIGNAL", "0");
    EXPECT_EQ(weft::config_from_env().dump_signal, 0);
  }
}

TEST(ConfigEnv, BadValuesNameTheVariable) {
  const char* cases[][2] = {
      {"WEFT_CARRIERS", "two"},
      {"WEFT_CARRIERS", "-1"},
      {"WEFT_CARRIERS", "129"},
      {"WEFT_CARRIERS", "4 "},
      {"WEFT_CARRIERS", "99999999999999999999999"},
      {"WEFT_STALL_MS", "100ms"},
      {"WEFT_STALL_MS", "3600001"},
      {"WEFT_DUMP_SIGNAL", "SIGNOPE"},
      {"WEFT_DUMP_SIGNAL", "999"},
      {"WEFT_BLOCKING_THREADS", "0"},
      {"WEFT_BLOCKING_THREADS", "4097"},
      {"WEFT_STACK_SIZE", "1024"},
      {"WEFT_STACK_SIZE", "8"},
      {"WEFT_STACK_SIZE", "64q"},
      {"WEFT_STACK_SIZE", "64kb"},
      {"WEFT_STACK_SIZE", "2g"},
      {"WEFT_STACK_SIZE", "-64k"},
      {"WEFT_STACK_SIZE", "k"},
      {"WEFT_STACK_SIZE", "99999999999999999999g"},
      {"WEFT_DUMP_SIGNAL", "SIGRTMIN+99"},
      {"WEFT_DUMP_SIGNAL", "RTMAX+1"},
      {"WEFT_DUMP_SIGNAL", "65"},
      {"WEFT_STATS", "yes"},
      {"WEFT_STATS_FORMAT", "xml"},
      {"WEFT_STATS_SIGNAL", "NOPE"},
      {"WEFT_STRICT", "true"},
      {"WEFT_FAULTS", "42"},
      {"WEFT_FAULTS", ":0.1"},
      {"WEFT_FAULTS", "42:"},
      {"WEFT_FAULTS", "x:0.1"},
      {"WEFT_FAULTS", "42:1.5"},
      {"WEFT_FAULTS", "42:-0.1"},
      {"WEFT_FAULTS", "42:0.1x"},
      {"WEFT_FAULTS", "42:nan"},
      {"WEFT_FAULTS", "99999999999999999999999:0.1"},
      {"WEFT_BACKEND", "uring"},
      {"WEFT_BACKEND", "EPOLL"},
      {"WEFT_TLS", "thread"},
      {"WEFT_TLS", "Shared"},
  };
  for (auto& c : cases) {
    Env e(c[0], c[1]);
    std::string msg = error_of();
    EXPECT_NE(msg.find(std::string(c[0]) + "=\"" + c[1] + "\""), std::string::npos)
        << c[0] << "=" << c[1] << " gave: " << msg;
    EXPECT_NE(msg.find("expected"), std::string::npos) << msg;
  }
}

// One size parser for WEFT_STACK_SIZE and weftrun's --stack-size: k, m and g suffixes (powers of
// 1024, either case), and errors that say the unit and the range.
TEST(ConfigEnv, StackSizeTakesSuffixes) {
  const std::pair<const char*, std::size_t> cases[] = {
      {"256k", 256 * 1024}, {"256K", 256 * 1024}, {"1m", 1 << 20},
      {"1G", 1 << 30},      {"16k", 16 * 1024},   {"131072", 131072},
  };
  for (auto& [text, bytes] : cases) {
    Env e("WEFT_STACK_SIZE", text);
    EXPECT_EQ(weft::config_from_env().stack_size, bytes) << text;
  }
  Env e("WEFT_STACK_SIZE", "8");
  EXPECT_NE(error_of().find("a size in bytes with an optional k, m or g suffix"), std::string::npos)
      << error_of();
  EXPECT_NE(error_of().find("16k..1g"), std::string::npos) << error_of();
}

// Signals in any case, with or without SIG, SIGRTMIN+N and SIGRTMAX-N forms, and numbers.
TEST(ConfigEnv, SignalForms) {
  const std::pair<const char*, int> cases[] = {
      {"sigusr1", SIGUSR1},
      {"Quit", SIGQUIT},
      {"SIGRTMIN", SIGRTMIN},
      {"SIGRTMIN+3", SIGRTMIN + 3},
      {"rtmax-2", SIGRTMAX - 2},
      {"34", 34},
      {"64", 64},
      {"SIGRTMAX", SIGRTMAX},
      {"0", 0},
  };
  for (auto& [text, sig] : cases) {
    Env e("WEFT_DUMP_SIGNAL", text);
    EXPECT_EQ(weft::config_from_env().dump_signal, sig) << text;
  }
}

// Signals weft cannot use are refused with the reason: they cannot be caught, or weft uses them.
TEST(ConfigEnv, RefusesSignalsWeftCannotUse) {
  const std::pair<const char*, const char*> cases[] = {
      {"KILL", "cannot be caught"},
      {"9", "cannot be caught"},
      {"sigstop", "cannot be caught"},
      {"URG", "watchdog"},
      {"23", "watchdog"},
      {"SEGV", "stack overflow"},
      {"SIGBUS", "stack overflow"},
      {"32", "glibc"},
      {"33", "glibc"},
      {"ILL", "fault signal"},
      {"fpe", "fault signal"},
      {"ABRT", "abort()"},
      {"TERM", "ends the program"},
      {"HUP", "ends the program"},
      {"CHLD", "kernel sends"},
      {"ALRM", "kernel sends"},
      {"PIPE", "kernel sends"},
  };
  for (auto& [text, why] : cases) {
    for (const char* var : {"WEFT_DUMP_SIGNAL", "WEFT_STATS_SIGNAL"}) {
      Env e(var, text);
      std::string msg = error_of();
      EXPECT_NE(msg.find(std::string(var) + "=\"" + text + "\": "), std::string::npos) << msg;
      EXPECT_NE(msg.find(why), std::string::npos) << text << ": " << msg;
    }
  }
}

TEST(ConfigEnv, DumpAndStatsSignalsDiffer) {
  Env a("WEFT_DUMP_SIGNAL", "USR1");
  Env b("WEFT_STATS_SIGNAL", "10");
  std::string msg = error_of();
  EXPECT_NE(msg.find("WEFT_STATS_SIGNAL=\"10\" and WEFT_DUMP_SIGNAL=\"USR1\" name the same signal"),
            std::string::npos)
      << msg;
  Env c("WEFT_STATS_SIGNAL", "USR2");
  EXPECT_EQ(error_of(), "");
}

// label_of names the setting in errors as the caller knows it: weftrun passes its options.
TEST(ConfigEnv, ErrorsUseTheLabelGiven) {
  Env a("WEFT_STACK_SIZE", "8");
  try {
    weft::config_from_env([](const char* var) {
      return std::string(var) == "WEFT_STACK_SIZE" ? "-s/--stack-size" : var;
    });
    ADD_FAILURE() << "WEFT_STACK_SIZE=8 was accepted";
  } catch (const std::invalid_argument& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.rfind("-s/--stack-size \"8\": expected", 0), 0u) << msg;
    EXPECT_EQ(msg.find("WEFT_STACK_SIZE"), std::string::npos) << msg;
  }
}

TEST(ConfigEnv, PublicParsers) {
  EXPECT_EQ(weft::parse_size("--x", "3m", 0, 1ull << 40), 3u << 20);
  EXPECT_EQ(weft::parse_number("--x", "42", 0, 100), 42u);
  EXPECT_EQ(weft::parse_signal("--x", "pwr"), SIGPWR);
  EXPECT_THROW(weft::parse_number("--x", "101", 0, 100), std::invalid_argument);
  EXPECT_THROW(weft::parse_size("--x", "1k", 0, 1000), std::invalid_argument);
  EXPECT_THROW(weft::parse_signal("--x", "kill"), std::invalid_argument);
}

// A library user's Config is checked the same way when the run starts.
TEST(ConfigEnv, RunRefusesADumpSignalItCannotUse) {
  for (int sig : {SIGKILL, SIGSTOP, SIGURG, SIGSEGV, SIGBUS, 32, 33, 65, -1}) {
    weft::Config c;
    c.carriers = 1;
    c.dump_signal = sig;
    try {
      weft::run(c, [] {});
      ADD_FAILURE() << "dump_signal " << sig << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(
          std::string(e.what()).find("weft::Config::dump_signal cannot be " + std::to_string(sig)),
          std::string::npos)
          << e.what();
    }
  }
  weft::Config ok;
  ok.carriers = 1;
  ok.dump_signal = SIGUSR2;
  weft::run(ok, [] {});
}

TEST(ConfigEnv, RunWithoutConfigHonoursThem) {
  {
    Env a("WEFT_CARRIERS", "3");
    weft::run([] {});
    EXPECT_EQ(weft::last_run_stats().carriers, 3u);
    // An explicit Config is used as given.
    weft::Config one;
    one.carriers = 1;
    weft::run(one, [] {});
    EXPECT_EQ(weft::last_run_stats().carriers, 1u);
  }
  Env bad("WEFT_CARRIERS", "lots");
  EXPECT_THROW(weft::run([] {}), std::invalid_argument);
}

// Config::backend's default (auto) reads WEFT_BACKEND when the run starts, even in an explicit
// Config, so a bad value fails that run too; a backend the Config names ignores the variable.
TEST(ConfigEnv, AutoBackendHonoursTheVariableInAnExplicitConfig) {
  weft::Config c;
  c.carriers = 1;
  {
    Env a("WEFT_BACKEND", "epoll");
    weft::run(c, [] { EXPECT_EQ(weft::stats().backend, weft::Backend::kEpoll); });
    EXPECT_EQ(weft::last_run_stats().backend, weft::Backend::kEpoll);
  }
  Env bad("WEFT_BACKEND", "kqueue");
  try {
    weft::run(c, [] {});
    ADD_FAILURE() << "a bad WEFT_BACKEND was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("WEFT_BACKEND=\"kqueue\""), std::string::npos) << e.what();
  }
  weft::Config forced = c;
  forced.backend = weft::Backend::kEpoll;
  weft::run(forced, [] { EXPECT_EQ(weft::stats().backend, weft::Backend::kEpoll); });
}

}  // namespace
