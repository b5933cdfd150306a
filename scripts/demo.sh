#!/usr/bin/env bash
# demo.sh shows weft at work: echo servers under 1,000 and 10,000 connections.
#
# It runs three servers in turn: build/examples/echo_server (written on weft's API), and the plain
# C thread-per-connection build/examples/blocking_echo natively and then unmodified under
# build/shim/weftrun. Each starts on a free loopback port, is driven by build/bench/weft-loadgen
# (64-byte messages, a few seconds per run), is stopped with SIGTERM and must exit with status 0;
# a table compares them at the end. With two or more CPUs the
# server is pinned to one CPU and the load generator to another, so they do not compete.
#
# Usage: scripts/demo.sh [BUILD_DIR]
# Environment: WEFT_DEMO_SECONDS (default 3) is how long each run lasts;
#              WEFT_DEMO_CONNS (default "1000 10000") are the connection counts to run.
# Exits non-zero if the server or a run failed, or if any message was lost or wrong.
set -euo pipefail

build=${1:-build}
seconds=${WEFT_DEMO_SECONDS:-3}
read -r -a wanted <<<"${WEFT_DEMO_CONNS:-1000 10000}"
size=64
host=127.0.0.1
server_bin=$build/examples/echo_server
loadgen_bin=$build/bench/weft-loadgen
blocking_bin=$build/examples/blocking_echo
weftrun_bin=$build/shim/weftrun

die() {
  echo "demo: $*" >&2
  exit 1
}

for bin in "$server_bin" "$loadgen_bin" "$blocking_bin" "$weftrun_bin"; do
  [[ -x "$bin" ]] || die "$bin not found; build first (make build)"
done

# --- file descriptors: each connection takes one fd in the server and one in the client ---
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fd_limit=$(ulimit -n)
kSpareFds=128  # listener, io_uring, stdio, and whatever the libraries open
counts=()
note=
for n in "${wanted[@]}"; do
  if [[ "$fd_limit" != unlimited ]] && ((n + kSpareFds > fd_limit)); then
    fit=$(((fd_limit - kSpareFds) / 100 * 100))
    ((fit > 0)) || die "the open-file limit ($fd_limit, ulimit -Hn) is too low for any run"
    note="NOTE: $n connections need about $((n + kSpareFds)) open files in each process, but the"
    note+=" hard limit here is $fd_limit (ulimit -Hn), so this ran $fit connections instead; to"
    note+=" run $n, raise the limit (as root: ulimit -Hn $((n + 1024)), or LimitNOFILE=)."
    echo "demo: $note"
    n=$fit
  fi
  [[ " ${counts[*]} " == *" $n "* ]] || counts+=("$n")
done

# --- CPUs: server on the first CPU we may use, load generator on the second ---
# allowed_cpus prints the CPUs this process may run on, one per line.
allowed_cpus() {
  local list part
  list=$(awk '/^Cpus_allowed_list:/ { print $2 }' /proc/self/status 2>/dev/null)
  IFS=, read -r -a parts <<<"${list:-0}"
  for part in "${parts[@]}"; do
    if [[ "$part" == *-* ]]; then seq "${part%-*}" "${part#*-}"; else echo "$part"; fi
  done
}
mapfile -t cpus < <(allowed_cpus)
server_pin=() client_pin=() placement="sharing the CPUs"
if ((${#cpus[@]} >= 2)) && command -v taskset >/dev/null 2>&1; then
  server_pin=(taskset -c "${cpus[0]}")
  client_pin=(taskset -c "${cpus[1]}")
  placement="server on CPU ${cpus[0]}, load generator on CPU ${cpus[1]}"
fi

work=$(mktemp -d)
server_pid=
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# round prints a number rounded to an integer, or its argument unchanged if it is not a number.
round() {
  if [[ "$1" =~ ^[0-9]+(\.[0-9]*)?$ ]]; then printf '%.0f' "$1"; else printf '%s' "$1"; fi
}

failed=0
rows=()

# serve LABEL CMD... starts one echo server (CMD must print "listening on ADDR:PORT"), drives it at every connection count, stops it with SIGTERM and adds its rows.
serve() {
  local label=$1
  shift
  "${server_pin[@]}" "$@" >"$work/server.out" 2>"$work/server.err" </dev/null &
  server_pid=$!
  local port= line
  for _ in $(seq 100); do  # up to 10 s
    line=$(grep -m1 -o 'listening on .*' "$work/server.out" || true)
    if [[ -n "$line" ]]; then
      port=${line##*:}
      break
    fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [[ ! "$port" =~ ^[0-9]+$ ]]; then
    cat "$work/server.out" "$work/server.err" >&2
    die "$label did not report 'listening on ADDR:PORT' within 10 s"
  fi
  echo "demo: $label (pid $server_pid) listening on $host:$port; $placement"

  local n rc result kv
  for n in "${counts[@]}"; do
    echo "demo: $label, $n connections, $size-byte messages, ${seconds} s ..."
    rc=0
    timeout --kill-after=10 $((seconds + 120)) "${client_pin[@]}" "$loadgen_bin" \
      --host "$host" --port "$port" --conns "$n" --size "$size" --duration "$seconds" \
      >"$work/loadgen.out" 2>"$work/loadgen.err" </dev/null || rc=$?
    result=$(grep '^RESULT ' "$work/loadgen.out" | tail -n 1 || true)
    declare -A r=([msgs_per_s]=? [p50_us]=? [p99_us]=? [errors]=?)
    for kv in $result; do
      [[ "$kv" == *=* ]] && r[${kv%%=*}]=${kv#*=}
    done
    if ((rc != 0)) || [[ -z "$result" ]] || [[ "${r[errors]}" != 0 ]]; then
      failed=1
      echo "demo: the load generator failed against $label at $n connections (exit status $rc):" >&2
      tail -n 20 "$work/loadgen.out" "$work/loadgen.err" >&2
    fi
    rows+=("$(printf '%-28s %11s  %12s  %8s  %8s  %6s' "$label" "$n" \
      "$(round "${r[msgs_per_s]}")" "$(round "${r[p50_us]}")" "$(round "${r[p99_us]}")" \
      "${r[errors]}")")
    unset r
    if ! kill -0 "$server_pid" 2>/dev/null; then
      failed=1
      echo "demo: $label died during the run" >&2
      break
    fi
  done

  # Stop it: on SIGTERM every server must exit with status 0.
  local server_rc=0
  if kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"
    for _ in $(seq 100); do  # up to 10 s
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$server_pid" 2>/dev/null; then
      echo "demo: $label did not exit within 10 s of SIGTERM; killing it" >&2
      kill -KILL "$server_pid" 2>/dev/null || true
      failed=1
    fi
  fi
  wait "$server_pid" || server_rc=$?
  server_pid=
  if ((server_rc != 0)); then
    failed=1
    echo "demo: $label exited with status $server_rc (expected 0):" >&2
    tail -n 20 "$work/server.err" >&2
  fi
}

serve "echo_server (weft API)" "$server_bin" --carriers 1 --address "$host" --port 0
serve "blocking_echo, native" "$blocking_bin" -p 0
serve "blocking_echo under weftrun" "$weftrun_bin" --carriers 1 -- "$blocking_bin" -p 0

echo
# (µs is two bytes but one column, hence one more byte of width in those two headers)
printf '%-28s %11s  %12s  %9s  %9s  %6s\n' server connections messages/s "p50 µs" "p99 µs" errors
printf '%s\n' "${rows[@]}"
echo
echo "echo_server is written on weft's API; blocking_echo is plain C with a blocking thread per" \
     "connection, run first on native threads and then unmodified under weftrun on one carrier," \
     "where each thread is a fiber." \
     "In each weft server every connection is a fiber on one carrier; the load generator keeps one" \
     "$size-byte message in flight on every connection (it waits for the echo before sending the next)," \
     "so messages/s counts round trips per second over all connections, and p50/p99 are the" \
     "round-trip times that half and 99% of messages beat (in microseconds); with every" \
     "connection waiting for its echo, latency grows with the connection count (roughly" \
     "connections / messages/s)."
[[ -z "$note" ]] || echo "$note"
if ((failed)); then
  echo "demo: FAILED (see the messages above)" >&2
  exit 1
fi
echo "demo: OK (every server stopped cleanly on SIGTERM)"
