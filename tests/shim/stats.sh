#!/usr/bin/env bash
# stats.sh checks weftrun's stats and its report sink through the WEFT_* variables:
#   - `cat FILE` and `sleep 1` (which close stderr before exit handlers run) and `sh -c 'exit 3'`
#     (dash ends with _exit, which runs no exit handler) still print the
#     report, whose header names the pid and the carriers ("1 carrier");
#   - weft's own calls are not counted (no pthread_once, no sleep, with the watchdog on);
#   - SIGTERM's default action writes the report and the process still dies of SIGTERM, with the
#     status a native run gets; WEFT_STATS_SIGNAL writes it while the program runs;
#   - WEFT_STATS_FILE with %p: a parent and its forked child each get their own file;
#     waitpid(WNOHANG) is counted as "no wait";
#   - WEFT_STATS_FORMAT=json: JSON lines that agree with the table; a 200 ms sleep on a fiber
#     shows at least 200 ms of waiting;
#   - a stall report written while the program has closed fd 2 reaches the duplicate of stderr,
#     or WEFT_LOG's file (%p), and a forked child's reports go to its own WEFT_LOG file;
#   - a forked child that daemonizes does not hold its starter's stderr pipe open.
# Readiness is observed, never slept for: a signal is sent once /proc says weft handles it.
#
# Usage: stats.sh WEFTRUN CARRIERS STATS_PROG
set -uo pipefail
weftrun=$1 carriers=$2 prog=$3
# Absolute: some cases run the program from another directory.
weftrun=$(cd "$(dirname "$weftrun")" && pwd)/$(basename "$weftrun")
prog=$(cd "$(dirname "$prog")" && pwd)/$(basename "$prog")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export WEFT_CARRIERS=$carriers
fail=0
bad() {
  echo "FAIL: $*"
  fail=1
}
plural=$([[ $carriers == 1 ]] && echo "1 carrier," || echo "$carriers carriers,")
printf 'one\ntwo\n' >"$dir/file"

# caught PID SIG NAME waits (up to 30 s) until the process runs NAME (weftrun exec's it) and
# handles SIG (its bit in SigCgt).
caught() {
  local pid=$1 sig=$2 name=$3 i mask
  for ((i = 0; i < 3000; i++)); do
    mask=$(sed -n 's/^SigCgt:\t*//p' "/proc/$pid/status" 2>/dev/null) || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" && -n $mask ]] &&
      (((16#$mask >> (sig - 1)) & 1)) && return 0
    sleep 0.01
  done
  return 1
}

# has FILE REGEX waits (up to 30 s) until FILE has a line matching REGEX.
has() {
  local i
  for ((i = 0; i < 3000; i++)); do
    grep -Eq "$2" "$1" 2>/dev/null && return 0
    sleep 0.01
  done
  return 1
}

# 1. Programs that close stderr before exit: the report still comes, with the pid.
WEFT_STATS=1 WEFT_STALL_MS=20 "$weftrun" -- cat "$dir/file" >/dev/null 2>"$dir/cat.err" &
pid=$!
wait "$pid" || bad "cat under weftrun failed"
grep -Eq "^weft: stats: $plural .*; pid $pid, .* wall time, at exit$" "$dir/cat.err" ||
  bad "cat: no report naming pid $pid and '$plural': $(cat "$dir/cat.err")"
grep -Eq '^weft:   read +[1-9][0-9]* via weft' "$dir/cat.err" || bad "cat: no read via weft"
# Weft's own calls (its start-up's pthread_once, the watchdog's sleeps) are not counted.
grep -Eq '^weft:   (pthread_once|nanosleep|clock_nanosleep) ' "$dir/cat.err" &&
  bad "cat: weft's own calls counted: $(cat "$dir/cat.err")"
WEFT_STATS=1 "$weftrun" -- sleep 1 2>"$dir/sleep.err" || bad "sleep 1 under weftrun failed"
grep -Eq '^weft:   (nanosleep|clock_nanosleep) +1 via weft.*; waited' "$dir/sleep.err" ||
  bad "sleep 1: no report of its sleep: $(cat "$dir/sleep.err")"

# A program that ends with _exit (dash's exit builtin does) runs no atexit handler: the _exit hook
# writes the report.
WEFT_STATS=1 "$weftrun" -- sh -c 'exit 3' 2>"$dir/exit.err"
rc=$?
((rc == 3)) || bad "sh -c 'exit 3': status $rc"
[[ $(grep -c '^weft: stats: .* at exit$' "$dir/exit.err") == 1 ]] ||
  bad "sh -c 'exit 3' (_exit): not one report: $(cat "$dir/exit.err")"

# 2. SIGTERM's default action: the report, then death by SIGTERM as natively.
sleep 30 &
npid=$!
# Killed before its exec, the forked shell would run this script's EXIT trap.
for ((i = 0; i < 3000; i++)); do
  [[ $(cat "/proc/$npid/comm" 2>/dev/null) == sleep ]] && break
  sleep 0.01
done
kill -TERM "$npid"
wait "$npid"
native=$?
WEFT_STATS=1 "$weftrun" -- sleep 30 2>"$dir/term.err" &
pid=$!
caught "$pid" 15 sleep || bad "SIGTERM: weft never handled it"
kill -TERM "$pid"
wait "$pid"
shimmed=$?
((shimmed == native)) || bad "SIGTERM: status $shimmed under weftrun, $native natively"
grep -Eq "^weft: stats: .*; pid $pid, .* at SIGTERM$" "$dir/term.err" ||
  bad "SIGTERM: no report: $(cat "$dir/term.err")"

# 3. The stats signal: a report while the program runs, and the program goes on.
WEFT_STATS_SIGNAL=USR1 "$weftrun" -- sleep 30 2>"$dir/sig.err" &
pid=$!
caught "$pid" 10 sleep || bad "WEFT_STATS_SIGNAL: weft never handled SIGUSR1"
kill -USR1 "$pid"
has "$dir/sig.err" "^weft: stats: .*; pid $pid, .* at WEFT_STATS_SIGNAL$" ||
  bad "WEFT_STATS_SIGNAL: no report: $(cat "$dir/sig.err")"
kill -0 "$pid" 2>/dev/null || bad "WEFT_STATS_SIGNAL: the program died"
kill -TERM "$pid"
wait "$pid"

# 4. WEFT_STATS_FILE with %p: the parent's file and its forked child's; WNOHANG is "no wait".
WEFT_STATS_FILE="$dir/st.%p" "$weftrun" -- "$prog" fork 2>"$dir/fork.err" &
pid=$!
wait "$pid" || bad "fork: status $?"
files=("$dir"/st.*)
((${#files[@]} == 2)) || bad "fork: ${#files[@]} stats files, not 2: ${files[*]}"
for f in "${files[@]}"; do
  p=${f##*.}
  grep -Eq "^weft: stats: .*; pid $p, " "$f" || bad "fork: $f does not name pid $p: $(cat "$f")"
done
grep -Eq '^weft:   waitpid +1 via weft, +1 passed through \(1 no wait\)' "$dir/st.$pid" ||
  bad "fork: waitpid not 1 via weft and 1 'no wait': $(cat "$dir/st.$pid" 2>&1)"

# 5. JSON lines: they parse, and agree with the table of the same program.
WEFT_STATS=1 "$weftrun" -- cat "$dir/file" >/dev/null 2>"$dir/table.err"
WEFT_STATS=1 WEFT_STATS_FORMAT=json "$weftrun" -- cat "$dir/file" >/dev/null 2>"$dir/json.err"
WEFT_STATS_FORMAT=json WEFT_STATS_FILE="$dir/sleep.json" "$weftrun" -- "$prog" sleep ||
  bad "sleep: status $?"
python3 - "$dir/table.err" "$dir/json.err" "$dir/sleep.json" "$carriers" <<'PY' || fail=1
import json, re, sys
table, js, sleep, carriers = sys.argv[1:]
keys = {"off a fiber": "off_fiber", "O_NONBLOCK": "nonblocking", "no wait": "no_wait",
        "real thread": "foreign_thread", "libc object": "libc_object",
        "kernel only": "kernel_only", "malloc's own": "allocator"}
rows = {}
for line in open(table):
    m = re.match(r"weft:   (\S+) +(\d+) via weft, +(\d+) passed through(?: \(([^)]*)\))?", line)
    if m:
        reasons = {}
        for part in filter(None, (m.group(4) or "").split(", ")):
            n, text = part.split(" ", 1)
            reasons[keys[text]] = int(n)
        rows[m.group(1)] = (int(m.group(2)), reasons)
objs = [json.loads(l) for l in open(js)]
head = objs[0]
ok = True
if head["type"] != "header" or head["carriers"] != int(carriers) or head["wall_ns"] <= 0:
    print("FAIL: json header:", head); ok = False
calls = {o["name"]: (o["via_weft"], o["passed_through"]) for o in objs[1:]}
if calls != rows:
    print("FAIL: json and table differ:\n  json ", calls, "\n  table", rows); ok = False
sl = [json.loads(l) for l in open(sleep)]
ns = [o for o in sl if o.get("name") == "nanosleep"]
if not ns or ns[0]["via_weft"] != 1 or ns[0]["wait_ns_total"] < 200_000_000 \
        or ns[0]["max_ns"] < 200_000_000 or sum(c for _, c in ns[0]["histogram"]) != ns[0]["timed_calls"]:
    print("FAIL: a 200 ms sleep on a fiber:", ns); ok = False
sys.exit(0 if ok else 1)
PY

# 6. The sink: a stall report while the program has closed fd 2 reaches the duplicate of
# stderr, or WEFT_LOG's file; a forked child's reports go to its own WEFT_LOG file.
WEFT_STALL_MS=20 "$weftrun" -- "$prog" stall "$dir/stall.err" 2>"$dir/stall.err" ||
  bad "no stall report reached stderr's duplicate after fd 2 was closed: $(cat "$dir/stall.err")"
WEFT_LOG="$dir/log.%p" WEFT_STALL_MS=20 "$weftrun" -- "$prog" stall "$dir/log.%p" \
  2>"$dir/log.err" &
pid=$!
wait "$pid" || bad "no stall report reached WEFT_LOG's file $dir/log.$pid"
grep -q stall "$dir/log.err" && bad "the stall report went to stderr despite WEFT_LOG"
WEFT_LOG="$dir/flog.%%.%p" WEFT_STATS=1 "$weftrun" -- "$prog" fork 2>"$dir/flog.err" &
pid=$!
wait "$pid" || bad "fork with WEFT_LOG: status $?"
logs=("$dir"/flog.%.*)
((${#logs[@]} == 2)) || bad "fork with WEFT_LOG: ${#logs[@]} log files, not 2: ${logs[*]}"
for f in "${logs[@]}"; do
  p=${f##*.}
  grep -Eq "^weft: stats: .*; pid $p, " "$f" || bad "fork with WEFT_LOG: $f has no report of pid $p"
done
[[ -s $dir/flog.err ]] && bad "fork with WEFT_LOG: reports on stderr: $(cat "$dir/flog.err")"

# 7. Bad settings are errors at start, naming the variable: weftrun refuses them before the
# program runs (status 2), and the shim itself, preloaded without weftrun, before main (127).
preload=$(dirname "$weftrun")/libweft_preload.so
for setting in WEFT_STATS_FORMAT=xml WEFT_STATS_SIGNAL=KILL WEFT_STATS_SIGNAL=NOPE \
  WEFT_STATS_FILE=/nonexistent/dir/x WEFT_LOG=/nonexistent/dir/x; do
  env "$setting" "$weftrun" -- true 2>"$dir/bad.err"
  rc=$?
  ((rc == 2)) && grep -q "^weftrun: ${setting%%=*}=" "$dir/bad.err" ||
    bad "weftrun, $setting: status $rc, $(cat "$dir/bad.err")"
  env "$setting" LD_PRELOAD="$preload" true 2>"$dir/bad.err"
  rc=$?
  ((rc == 127)) && grep -q "^weft: ${setting%%=*}=" "$dir/bad.err" ||
    bad "preloaded, $setting: status $rc, $(cat "$dir/bad.err")"
done

# 7b. A relative --stats-file is weftrun's directory's, also for a program that changes its own;
# a name with a % sequence the sink would not expand is refused up front.
(cd "$dir" && "$weftrun" --stats-file rel.%p -- sh -c 'cd / && exit 0') ||
  bad "relative --stats-file: status $?"
rel=("$dir"/rel.*)
[[ -s ${rel[0]} ]] || bad "relative --stats-file: no report in weftrun's directory: $(ls "$dir")"
"$weftrun" --log "$dir/x.%q" -- true 2>"$dir/bad.err" && bad "--log x.%q was accepted"
grep -q '^weftrun: --log ".*x.%q": expected a file name, with %p' "$dir/bad.err" ||
  bad "--log x.%q: $(cat "$dir/bad.err")"

# 8. A forked child that daemonizes (closes 0, 1 and 2) does not keep the duplicate of its
# starter's stderr: a command substitution reading it ends when the parent exits, as natively,
# not when the daemon does (21.5 s later). The daemon is a forked shell that does not exec (an
# exec would close the duplicate, which is FD_CLOEXEC).
start=$SECONDS
out=$("$weftrun" -- sh -c '(exec 0<&- 1>&- 2>&-; i=0; while [ $i -lt 43 ]; do sleep 0.5; i=$((i + 1)); done) & echo $!' 2>&1)
elapsed=$((SECONDS - start))
kill "${out##*$'\n'}" 2>/dev/null
((elapsed < 15)) || bad "a daemonized child kept weftrun's stderr pipe open for $elapsed s"

((fail == 0)) && echo "ok: stats and report sink on $carriers carrier(s)"
exit "$fail"
