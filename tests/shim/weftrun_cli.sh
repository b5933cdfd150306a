#!/usr/bin/env bash
# weftrun_cli.sh: weftrun's options, errors, environment and exit-status pass-through.
# Usage: weftrun_cli.sh WEFTRUN PRELOAD_LIB
set -uo pipefail
weftrun=$1 lib=$2
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
expect "bad carriers" 2 'WEFT_CARRIERS="many"' -- "$weftrun" --carriers many true
expect "bad carriers from env" 2 'WEFT_CARRIERS="-1"' -- env WEFT_CARRIERS=-1 "$weftrun" true
expect "bad stack size" 2 'unknown size suffix' -- "$weftrun" --stack-size 5q true
expect "stack size too small" 2 'WEFT_STACK_SIZE' -- "$weftrun" --stack-size 1k true
expect "bad signal" 2 'WEFT_DUMP_SIGNAL' -- "$weftrun" --dump-signal SIGNOPE true
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
expect "settings reach the program" 0 '^3 65536 1$' -- \
  "$weftrun" -c 3 -s 64k --stats sh -c 'echo "$WEFT_CARRIERS $WEFT_STACK_SIZE $WEFT_STATS"'
expect "--stats reports" 0 'weft: stats: 2 carriers, [0-9]+ fibers created' -- \
  "$weftrun" -c 2 --stats true
expect "--faults reaches the program" 0 '^7:0.5$' -- "$weftrun" --faults 7:0.5 sh -c 'echo "$WEFT_FAULTS"'
expect "bad --faults" 2 'WEFT_FAULTS="7"' -- "$weftrun" --faults 7 true
expect "--backend epoll runs on epoll" 0 'weft: stats: .*epoll' -- "$weftrun" --backend epoll --stats true
expect "bad --backend" 2 'WEFT_BACKEND="uring"' -- "$weftrun" --backend uring true
expect "--shared-tls reaches the program" 0 '^shared$' -- "$weftrun" --shared-tls sh -c 'echo "$WEFT_TLS"'
expect "bad WEFT_TLS" 2 'WEFT_TLS="carrier"' -- env WEFT_TLS=carrier "$weftrun" true
# Without weftrun: the shim itself refuses a bad setting before the program runs.
expect "shim refuses a bad setting" 127 'weft: WEFT_CARRIERS="x"' -- \
  env LD_PRELOAD="$lib" WEFT_CARRIERS=x sh -c 'echo ran'

if ((failures)); then
  echo "$failures checks failed"
  exit 1
fi
