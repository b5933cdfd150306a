#!/usr/bin/env bash
# idle_bench.sh: do 10,000 idle connections slow down the busy ones? (issue #5: "10,000 idle
# connections held open while 100 active ones are served at full speed").
#
#   bench/idle_bench.sh [BUILD_DIR]          (default: build)
#
# For examples/echo_server (1 carrier) and examples/blocking_echo under `weftrun --carriers 1`:
# tests/hostile/hostile's `idle` mode makes 100 connections do IDLE_BENCH_ROUNDS (2000) 64-byte
# round trips each, once with no other connection open and once with 10,000 idle ones held open,
# IDLE_BENCH_REPS (3) times alternating; server pinned to CPU 0 and client to CPU 1 where there
# are two CPUs. Prints medians and, last, one line:
#   RESULT weft_quiet= weft_idle= weft_ratio= shim_quiet= shim_idle= shim_ratio=   (msgs/s)
set -uo pipefail

build=${1:-build}
rounds=${IDLE_BENCH_ROUNDS:-2000}
reps=${IDLE_BENCH_REPS:-3}
hostile=$build/tests/hostile/hostile
for b in "$hostile" "$build/examples/echo_server" "$build/examples/blocking_echo" \
  "$build/shim/weftrun"; do
  [[ -x $b ]] || { echo "idle_bench: missing $b" >&2; exit 1; }
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (($(ulimit -n) < 10300)); then
  echo "idle_bench: 10,000 idle connections need about 10,300 fds per process; the limit is" \
    "$(ulimit -n)" >&2
  exit 1
fi
pin_server=() pin_client=()
if (($(nproc) >= 2)) && command -v taskset >/dev/null; then
  pin_server=(taskset -c 0) pin_client=(taskset -c 1)
fi

work=$(mktemp -d)
server_pid=
trap '[[ -n $server_pid ]] && kill -KILL "$server_pid" 2>/dev/null; rm -rf "$work"' EXIT

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# measure NAME CMD... prints "quiet idle" medians for one server.
measure() {
  local name=$1
  shift
  WEFT_STALL_MS=0 "${pin_server[@]}" "$@" >"$work/$name.out" 2>&1 </dev/null &
  server_pid=$!
  local port=
  for _ in $(seq 1 200); do
    port=$(grep -o 'listening on [0-9.]*:[0-9]*' "$work/$name.out" | sed 's/.*://')
    [[ -n $port ]] && break
    sleep 0.05
  done
  [[ -n $port ]] || { echo "idle_bench: $name did not start" >&2; exit 1; }
  : >"$work/$name.quiet"
  : >"$work/$name.idle"
  for ((r = 0; r < reps; r++)); do
    for idle in 0 10000; do
      line=$("${pin_client[@]}" "$hostile" idle "$port" "$idle" 100 "$rounds") ||
        { echo "idle_bench: $name with $idle idle connections failed: $line" >&2; exit 1; }
      v=$(sed -n 's/.*msgs_per_s=\([0-9]*\).*/\1/p' <<<"$line")
      echo "$name: $idle idle: $v msgs/s"
      if ((idle == 0)); then echo "$v" >>"$work/$name.quiet"; else echo "$v" >>"$work/$name.idle"; fi
    done
  done
  kill -TERM "$server_pid"
  wait "$server_pid" 2>/dev/null
  server_pid=
  echo "$(median <"$work/$name.quiet") $(median <"$work/$name.idle")" >"$work/$name.result"
}

measure weft "$build/examples/echo_server" --carriers 1 --port 0
measure shim "$build/shim/weftrun" --carriers 1 -- "$build/examples/blocking_echo" -p 0
read -r wq wi <"$work/weft.result"
read -r sq si <"$work/shim.result"
ratio() { awk "BEGIN { printf \"%.2f\", $2 / $1 }"; }
echo "RESULT weft_quiet=$wq weft_idle=$wi weft_ratio=$(ratio "$wq" "$wi")" \
  "shim_quiet=$sq shim_idle=$si shim_ratio=$(ratio "$sq" "$si")"
