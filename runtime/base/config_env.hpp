// config_env: the runtime's side of the settings parser (config_env.cpp); the parsers
// themselves are public (include/weft/config.hpp).
#pragma once

namespace weft {

// signal_setting_refusal() says why sig cannot be a signal setting (Config::dump_signal,
// WEFT_DUMP_SIGNAL, WEFT_STATS_SIGNAL), or is nullptr when it can: SIGKILL and SIGSTOP cannot
// be caught, SIGURG is the watchdog's backtrace signal (sched/watchdog.cpp), SIGSEGV and SIGBUS
// carry stack overflow reports (sched/overflow.cpp), the other fault signals and SIGABRT must
// keep their own action, SIGTERM/SIGINT/SIGHUP end the program (with a stats report), the
// signals the kernel sends by itself (SIGCHLD, SIGPIPE, timers, terminals) are the program's,
// 32 and 33 are glibc's own, and a number outside 1..SIGRTMAX is no signal. That leaves SIGQUIT,
// SIGUSR1, SIGUSR2, SIGSTKFLT, SIGPWR and the real-time signals. Run's Config check and the
// parser both ask it.
const char* signal_setting_refusal(int sig) noexcept;

}  // namespace weft
