#!/usr/bin/env bash
# soak.sh: both echo servers under load and fault injection for a given number of minutes; fails
# if either keeps growing (memory or fds) after warm-up, loses a byte, hangs or dies.
#
#   bench/soak.sh [MINUTES] [BUILD_DIR]      (defaults: 10, build)
#
# Servers: examples/echo_server (weft API) and examples/blocking_echo under weftrun, each on one
# carrier with WEFT_FAULTS=${SOAK_FAULTS:-4242:0.003}. Load, on each server in a loop until time
# is up: tests/faults/echo_check (16 connections moving 50 MB, every byte checked; connections
# come and go, so fd numbers are reused all the time) and, every tenth round, tests/hostile's
# `reset` (50 peers resetting mid-message).
# Every 5 s it samples each server's RSS and open fds into bench/out/soak.csv, and after every
# round it notes the server's fds once its connections have closed (bench/out/soak_fds_*.txt).
# The first quarter of either series is warm-up; of the rest, the last third must not exceed the
# first third: fds between rounds not at all, RSS (most seen) by at most 10% + 2 MiB.
# Prints RESULT lines and exits non-zero on any failure. Needs no terminal (CI=true safe).
set -uo pipefail

minutes=${1:-10}
build=${2:-build}
faults=${SOAK_FAULTS:-4242:0.003}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$here/out
mkdir -p "$out"
csv=$out/soak.csv

die() {
  echo "soak: $*" >&2
  exit 1
}
[[ $minutes =~ ^[0-9]+$ ]] && ((minutes > 0)) || die "MINUTES must be a whole number above 0"
for b in examples/echo_server examples/blocking_echo shim/weftrun tests/faults/fault_echo_check \
  tests/hostile/hostile; do
  [[ -x $build/$b ]] || die "missing $build/$b (build with tests: make build)"
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

# start NAME CMD... starts a server (a child of this shell, so it can be waited for) and sets
# started_pid and started_port.
start() {
  local name=$1
  shift
  WEFT_FAULTS=$faults WEFT_STALL_MS=0 "$@" >"$work/$name.out" 2>"$work/$name.err" </dev/null &
  local pid=$! port=
  for _ in $(seq 1 600); do
    port=$(grep -o 'listening on [0-9.]*:[0-9]*' "$work/$name.out" | sed 's/.*://')
    [[ -n $port ]] && break
    kill -0 "$pid" 2>/dev/null || die "$name exited before listening: $(cat "$work/$name.err")"
    sleep 0.05
  done
  [[ -n $port ]] || die "$name did not start listening"
  started_pid=$pid started_port=$port
}

start echo_server "$build/examples/echo_server" --carriers 1 --port 0
weft_pid=$started_pid weft_port=$started_port
pids+=("$weft_pid")
start blocking_echo "$build/shim/weftrun" --carriers 1 --stats -- "$build/examples/blocking_echo" -p 0
shim_pid=$started_pid shim_port=$started_port
pids+=("$shim_pid")
echo "soak: $minutes min, WEFT_FAULTS=$faults; echo_server pid $weft_pid port $weft_port," \
  "blocking_echo under weftrun pid $shim_pid port $shim_port"

end=$((SECONDS + minutes * 60))
fds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }

# load NAME PORT PID loops the load on one server until time is up; failures go to
# $work/NAME.fail, the fds the server has once a round's connections are gone to
# $out/soak_fds_NAME.txt.
load() {
  local name=$1 port=$2 pid=$3 round=0 base n
  base=$(fds "$pid")
  : >"$out/soak_fds_$name.txt"
  while ((SECONDS < end)); do
    round=$((round + 1))
    if ! timeout 300 "$build/tests/faults/fault_echo_check" "$port" 16 50 >>"$work/$name.load" 2>&1; then
      echo "round $round: echo_check failed" >>"$work/$name.fail"
    fi
    # The server closes a connection after its last echo: wait (up to 5 s) for it to get there.
    for _ in $(seq 1 100); do
      n=$(fds "$pid")
      ((n <= base)) && break
      sleep 0.05
    done
    echo "$n" >>"$out/soak_fds_$name.txt"
    if ((round % 10 == 0)) && ! timeout 120 "$build/tests/hostile/hostile" reset "$port" 50 \
      >>"$work/$name.load" 2>&1; then
      echo "round $round: hostile reset failed" >>"$work/$name.fail"
    fi
  done
  echo "$round" >"$work/$name.rounds"
}
load echo_server "$weft_port" "$weft_pid" &
load_a=$!
load blocking_echo "$shim_port" "$shim_pid" &
load_b=$!

echo "seconds,rss_kib_weft,fds_weft,rss_kib_shim,fds_shim" >"$csv"
sample() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
start_s=$SECONDS
while ((SECONDS < end)); do
  for p in "$weft_pid" "$shim_pid"; do kill -0 "$p" 2>/dev/null || die "server $p died"; done
  echo "$((SECONDS - start_s)),$(sample "$weft_pid"),$(fds "$weft_pid"),$(sample "$shim_pid"),$(fds "$shim_pid")" >>"$csv"
  sleep 5
done
wait "$load_a" "$load_b"

failed=0
for name in echo_server blocking_echo; do
  if [[ -s $work/$name.fail ]]; then
    echo "soak: $name: $(wc -l <"$work/$name.fail") failed rounds:" >&2
    head -5 "$work/$name.fail" >&2
    tail -5 "$work/$name.load" >&2
    failed=1
  fi
done

# verdict FILE COLUMN checks one column of a CSV (header skipped) or of a one-column file, after
# warm-up: the most seen in the last third against the most seen in the first.
verdict() {
  awk -F, -v col="$2" -v skip="$3" 'NR > skip { v[++n] = $col }
    END {
      w = int(n / 4); m = n - w; third = int(m / 3)
      if (third < 1) { print "too-short"; exit }
      a = ""; b = ""
      for (i = w + 1; i <= w + third; ++i) if (a == "" || v[i] > a) a = v[i]
      for (i = n - third + 1; i <= n; ++i) if (b == "" || v[i] > b) b = v[i]
      ok = col == 1 ? (b <= a) : (b <= a * 1.10 + 2048)
      printf "%s %s %s\n", a, b, ok ? "ok" : "GROWING"
    }' "$1"
}
for spec in "$csv 2 1 rss_weft" "$out/soak_fds_echo_server.txt 1 0 fds_weft" \
  "$csv 4 1 rss_shim" "$out/soak_fds_blocking_echo.txt 1 0 fds_shim"; do
  read -r file col skip name <<<"$spec"
  read -r early late state <<<"$(verdict "$file" "$col" "$skip")"
  echo "RESULT soak_$name early=$early late=$late state=$state"
  [[ $state == ok || $state == too-short ]] || failed=1
  [[ $state == too-short ]] && echo "soak: run too short to judge growth (need a minute or more)"
done
for name in echo_server blocking_echo; do
  echo "RESULT soak_rounds_$name rounds=$(cat "$work/$name.rounds" 2>/dev/null || echo 0)"
done
# Stop both: each must exit 0 on SIGTERM (blocking_echo through EINTR in its accept).
for p in "$weft_pid" "$shim_pid"; do kill -TERM "$p"; done
for p in "$weft_pid" "$shim_pid"; do
  rc=0
  for _ in $(seq 1 200); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$p" 2>/dev/null; then
    failed=1
    echo "soak: server $p did not stop within 20 s of SIGTERM" >&2
    kill -KILL "$p"
  fi
  wait "$p" || rc=$?
  ((rc == 0)) || { failed=1; echo "soak: server $p exited with $rc" >&2; }
done
pids=()
grep -h 'faults injected' "$work"/*.err "$work"/*.out 2>/dev/null | sed 's/^/soak: /'
((failed == 0)) || die "FAILED"
echo "soak: OK ($minutes min; samples in $csv)"
