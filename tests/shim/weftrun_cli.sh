#!/usr/bin/env bash
# weftrun_cli.sh: weftrun's options, errors, environment and exit-status pass-through.
# Usage: weftrun_cli.sh WEFTRUN PRELOAD_LIB REFUSE_IO_URING [STATIC_PROGRAM]
# REFUSE_IO_URING runs a command with io_uring_setup refused (a runtime that cannot start);
# STATIC_PROGRAM, a statically linked program, is absent where no static libc is installed.
set -uo pipefail
weftrun=$1 lib=$2 refuse_io_uring=$3 static_prog=${4:-}
failures=0
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# expect NAME STATUS PATTERN -- command...: the command ends with STATUS and its stdout+stderr
# match the extended regex PATTERN (an empty PATTERN checks the status only).
expect() {
  local name=$1 want=$2 pattern=$3
  shift 4
  "$@" >"$out/o" 2>&1
  local rc=$?
  if ((rc != want)) || { [[ -n $pattern ]] && ! grep -Eq -- "$pattern" "$out/o"; }; then
    echo "FAIL $name: status $rc (want $want), output:"
    head -20 "$out/o"
    failures=$((failures + 1))
  else
    echo "ok   $name"
  fi
}

expect help 0 'usage: weftrun' -- "$weftrun" --help
for var in WEFT_CARRIERS WEFT_STACK_SIZE WEFT_STATS WEFT_STALL_MS WEFT_DUMP_SIGNAL \
           WEFT_BLOCKING_THREADS WEFT_TLS; do
  expect "help names $var" 0 "$var" -- "$weftrun" --help
done
expect "no program" 2 'no program to run' -- "$weftrun"
expect "unknown option" 2 "unknown option '--bogus'" -- "$weftrun" --bogus true
expect "missing value" 2 "needs a value" -- "$weftrun" --carriers
expect "bad carriers" 2 '-c/--carriers "many"' -- "$weftrun" --carriers many true
expect "bad carriers from env" 2 'WEFT_CARRIERS="-1"' -- env WEFT_CARRIERS=-1 "$weftrun" true
expect "bad stack size" 2 '-s/--stack-size "5q": expected a size in bytes with an optional k, m or g' -- \
  "$weftrun" --stack-size 5q true
expect "stack size too small" 2 '-s/--stack-size "1k": expected .* in 16k\.\.1g' -- \
  "$weftrun" --stack-size 1k true
expect "bad signal" 2 '--dump-signal "SIGNOPE": expected a signal name' -- \
  "$weftrun" --dump-signal SIGNOPE true
expect "no such program" 127 'cannot run' -- "$weftrun" /nonexistent/program
printf 'not a program\n' >"$out/data"
chmod 644 "$out/data"
expect "not executable" 126 'cannot run' -- "$weftrun" "$out/data"
expect "exit status 0" 0 '' -- "$weftrun" true
expect "exit status 1" 1 '' -- "$weftrun" false
expect "exit status 7" 7 '' -- "$weftrun" sh -c 'exit 7'
expect "killed by SIGTERM" 143 '' -- "$weftrun" sh -c 'kill -TERM $$'
expect "program options are the program's" 0 '^--carriers 3$' -- "$weftrun" echo --carriers 3
expect "options after --" 0 '^-c$' -- "$weftrun" -c 1 -- echo -c
expect "LD_PRELOAD set" 0 "libweft_preload\\.so" -- "$weftrun" sh -c 'echo "$LD_PRELOAD"'
expect "LD_PRELOAD kept" 0 "^/lib/x86_64-linux-gnu/libc\\.so\\.6:.*libweft_preload\\.so$" -- \
  env LD_PRELOAD=/lib/x86_64-linux-gnu/libc.so.6 "$weftrun" sh -c 'echo "$LD_PRELOAD"'
expect "settings reach the program" 0 '^3 64k 1$' -- \
  "$weftrun" -c 3 -s 64k --stats sh -c 'echo "$WEFT_CARRIERS $WEFT_STACK_SIZE $WEFT_STATS"'
expect "--stats reports" 0 'weft: stats: 2 carriers, [0-9]+ fibers? created' -- \
  "$weftrun" -c 2 --stats true
expect "--faults reaches the program" 0 '^7:0.5$' -- "$weftrun" --faults 7:0.5 sh -c 'echo "$WEFT_FAULTS"'
expect "bad --faults" 2 '--faults "7"' -- "$weftrun" --faults 7 true
expect "--backend epoll runs on epoll" 0 'weft: stats: .*epoll' -- "$weftrun" --backend epoll --stats true
expect "bad --backend" 2 '--backend "uring"' -- "$weftrun" --backend uring true
expect "--shared-tls reaches the program" 0 '^shared$' -- "$weftrun" --shared-tls sh -c 'echo "$WEFT_TLS"'
expect "bad WEFT_TLS" 2 'WEFT_TLS="carrier"' -- env WEFT_TLS=carrier "$weftrun" true
# Without weftrun: the shim itself refuses a bad setting before the program runs.
expect "shim refuses a bad setting" 127 'weft: WEFT_CARRIERS="x"' -- \
  env LD_PRELOAD="$lib" WEFT_CARRIERS=x sh -c 'echo ran'


# --opt=value and --opt value are one option; --stats takes an optional =1|0.
expect "--carriers=3" 0 '^3 5$' -- "$weftrun" --carriers=3 --stall-ms=5 \
  sh -c 'echo "$WEFT_CARRIERS $WEFT_STALL_MS"'
expect "--stats=1" 0 'weft: stats: ' -- "$weftrun" --stats=1 true
expect "--stats=0" 0 '^0$' -- "$weftrun" --stats=0 sh -c 'echo "$WEFT_STATS"'
expect "--stats=yes" 2 '--stats "yes": expected 1 or 0' -- "$weftrun" --stats=yes true
expect "--strict=1" 2 "option '--strict=1' takes no value" -- "$weftrun" --strict=1 true
expect "--version" 0 '^weftrun \(weft\) [0-9]+\.[0-9]+\.[0-9]+$' -- "$weftrun" --version
for opt in --stats-file --stats-format --stats-signal --log --strict --version '%p' \
           WEFT_STATS_FILE WEFT_STATS_FORMAT WEFT_STATS_SIGNAL WEFT_LOG WEFT_STRICT; do
  expect "help names $opt" 0 "$opt" -- "$weftrun" --help
done
# The watchdog moves only unstarted threads off a stalled carrier (runtime/sched/watchdog.hpp).
if "$weftrun" --help | grep -q 'move waiting threads'; then
  echo "FAIL help: says the watchdog moves waiting threads"
  failures=$((failures + 1))
fi

# Errors name what the user typed: the option for an option, the variable for a variable.
expect "-s 8 names the option" 2 '^weftrun: -s/--stack-size "8": expected' -- "$weftrun" -s 8 true
if "$weftrun" -s 8 true 2>&1 | grep -q WEFT_STACK_SIZE; then
  echo "FAIL -s 8: the error names WEFT_STACK_SIZE"
  failures=$((failures + 1))
fi
expect "WEFT_STACK_SIZE=8 names the variable" 2 'WEFT_STACK_SIZE="8": expected' -- \
  env WEFT_STACK_SIZE=8 "$weftrun" true
expect "WEFT_STACK_SIZE=256k accepted" 0 '^ran$' -- env WEFT_STACK_SIZE=256k "$weftrun" echo ran
expect "WEFT_STACK_SIZE=1M accepted by the shim" 0 '^ran$' -- \
  env LD_PRELOAD="$lib" WEFT_STACK_SIZE=1M sh -c 'echo ran'

# Signals weft cannot take are refused before the program runs (they used to pass, and the
# program then ran natively).
for sig in KILL SIGSTOP urg 9 SEGV BUS 32 33 65; do
  expect "--dump-signal $sig refused" 2 "--dump-signal \"$sig\": " -- "$weftrun" --dump-signal "$sig" true
done
expect "--stats-signal KILL refused" 2 '--stats-signal "KILL": SIGKILL' -- \
  "$weftrun" --stats-signal KILL true
for sig in usr1 SIGQUIT SIGRTMIN+2 rtmax-1 34 0; do
  expect "--dump-signal $sig accepted" 0 '^ran$' -- "$weftrun" --dump-signal "$sig" echo ran
done
expect "dump and stats on one signal" 2 'name the same signal' -- \
  "$weftrun" --dump-signal USR1 --stats-signal SIGUSR1 true
expect "dump and stats on one signal (variables)" 2 \
  'WEFT_STATS_SIGNAL="10" and WEFT_DUMP_SIGNAL="usr1" name the same signal' -- \
  env WEFT_DUMP_SIGNAL=usr1 WEFT_STATS_SIGNAL=10 "$weftrun" true
expect "shim refuses WEFT_DUMP_SIGNAL=KILL" 127 'weft: WEFT_DUMP_SIGNAL="KILL": SIGKILL' -- \
  env LD_PRELOAD="$lib" WEFT_DUMP_SIGNAL=KILL sh -c 'echo ran'

# --log and --stats-file: the directory must exist and be writable; %p is the pid.
expect "--log in a missing directory" 2 '--log "/nonexistent/weft/x.log": directory /nonexistent/weft does not exist' -- \
  "$weftrun" --log /nonexistent/weft/x.log true
expect "--stats-file is a directory" 2 "--stats-file \"$out\": .* is a directory" -- \
  "$weftrun" --stats-file "$out" true
expect "--log under a file" 2 "--log \"$out/data/x\": $out/data is not a directory" -- \
  "$weftrun" --log "$out/data/x" true
expect "WEFT_LOG in a missing directory" 2 'WEFT_LOG="/nonexistent/x": directory' -- \
  env WEFT_LOG=/nonexistent/x "$weftrun" true
expect "--log=PATH with %p" 0 "^$out/weft-%p\\.log\$" -- "$weftrun" --log="$out/weft-%p.log" \
  sh -c 'echo "$WEFT_LOG"'

# No silent fallbacks: a static program is named, and refused under --strict.
if [[ -n $static_prog ]]; then
  expect "static program: warned" 0 "weftrun: $static_prog is statically linked: LD_PRELOAD cannot reach it, so it runs on native threads" -- \
    "$weftrun" "$static_prog"
  expect "static program: still runs" 0 '^static program ran$' -- "$weftrun" "$static_prog"
  expect "static program: --strict refuses" 126 'statically linked: LD_PRELOAD cannot reach it; not running it \(--strict\)' -- \
    "$weftrun" --strict "$static_prog"
  expect "static program: WEFT_STRICT=1 refuses" 126 'not running it \(WEFT_STRICT=1\)' -- \
    env WEFT_STRICT=1 "$weftrun" "$static_prog"
  if "$weftrun" --strict "$static_prog" 2>&1 | grep -q 'static program ran'; then
    echo "FAIL static program: --strict ran it"
    failures=$((failures + 1))
  fi
  printf '#!%s\n' "$static_prog" >"$out/static_script"
  chmod 755 "$out/static_script"
  expect "script with a static interpreter" 126 "static_script is a script run by $static_prog, which is statically linked" -- \
    "$weftrun" --strict "$out/static_script"
else
  echo "skip static program checks: no static libc to build one"
fi
expect "a dynamic program is not warned about" 0 '^ran$' -- "$weftrun" --strict echo ran

# A set-user-ID program owned by another user runs in secure-execution mode: run weftrun as
# daemon on a copy of echo owned by nobody.
setuid_dir=$out/setuid
mkdir -p "$setuid_dir"
chmod 755 "$out" "$setuid_dir"
if ((EUID != 0)) || ! command -v setpriv >/dev/null; then
  echo "skip setuid checks: needs root and setpriv"
elif findmnt -n -o OPTIONS -T "$setuid_dir" | grep -qw nosuid; then
  echo "skip setuid checks: $setuid_dir is on a nosuid mount"
elif ! setpriv --reuid=daemon --regid=daemon --clear-groups test -x "$weftrun"; then
  echo "skip setuid checks: user daemon cannot run $weftrun"
else
  cp "$(type -P echo)" "$setuid_dir/echo"
  chown nobody "$setuid_dir/echo"
  chmod 4755 "$setuid_dir/echo"
  as_daemon=(setpriv --reuid=daemon --regid=daemon --clear-groups)
  expect "setuid program: warned" 0 "echo is set-user-ID to uid [0-9]+: the loader ignores LD_PRELOAD" -- \
    "${as_daemon[@]}" "$weftrun" "$setuid_dir/echo" ran
  expect "setuid program: still runs" 0 '^ran$' -- "${as_daemon[@]}" "$weftrun" "$setuid_dir/echo" ran
  expect "setuid program: --strict refuses" 126 'set-user-ID .*not running it \(--strict\)' -- \
    "${as_daemon[@]}" "$weftrun" --strict "$setuid_dir/echo" ran
  expect "setuid program of the caller's own: no warning" 0 '^ran$' -- \
    setpriv --reuid=nobody --regid=nogroup --clear-groups "$weftrun" --strict "$setuid_dir/echo" ran
  # A --log directory the caller cannot write (root could write anywhere).
  expect "--log in a directory not writable" 2 "--log \"$setuid_dir/x.log\": directory $setuid_dir is not writable" -- \
    "${as_daemon[@]}" "$weftrun" --log "$setuid_dir/x.log" true
  expect "--stats-file=PATH, file not writable" 2 "--stats-file \"$setuid_dir/echo\": $setuid_dir/echo is not writable" -- \
    "${as_daemon[@]}" "$weftrun" --stats-file="$setuid_dir/echo" true
fi

# A runtime that cannot start (io_uring refused, and forced): natively with a message, or with
# WEFT_STRICT=1 status 127 and the program does not run.
"$refuse_io_uring" true
if (($? == 77)); then
  echo "skip runtime-cannot-start checks: no seccomp filter"
else
  expect "runtime cannot start: native" 0 'weft: running natively, the runtime could not start' -- \
    "$refuse_io_uring" "$weftrun" --backend io_uring echo ran
  expect "runtime cannot start: --strict" 127 'weft: the runtime could not start: .*not running the program natively \(WEFT_STRICT=1\)' -- \
    "$refuse_io_uring" "$weftrun" --strict --backend io_uring echo ran
  if "$refuse_io_uring" "$weftrun" --strict --backend io_uring echo ran 2>&1 | grep -q '^ran$'; then
    echo "FAIL runtime cannot start: --strict ran the program"
    failures=$((failures + 1))
  fi
  expect "runtime cannot start: WEFT_STRICT=1 in the shim" 127 'could not start' -- \
    env LD_PRELOAD="$lib" WEFT_STRICT=1 WEFT_BACKEND=io_uring "$refuse_io_uring" echo ran
fi

if ((failures)); then
  echo "$failures checks failed"
  exit 1
fi
