#!/usr/bin/env bash
# go_echo_test.sh: bench/go_echo keeps the echo server contract and echoes every byte.
#
#   tests/bench/go_echo_test.sh SOURCE_ROOT BUILD_ROOT WEFT_LOADGEN
#
# Builds the Go reference server the way echo_bench.sh does (bench/go_echo/build.sh into
# BUILD_ROOT/bench/go_echo) and checks bench/README.md's contract: the one stdout line
# "listening on ADDR:PORT" for --port 0 --address 127.0.0.1, exit status 0 on SIGTERM and on
# SIGINT (which a non-interactive shell ignores in background jobs, so the server must undo
# that), and echoes that weft-loadgen verifies byte for byte: 64-byte messages on 50
# connections, and 40,000-byte ones that take several reads of its 16 KiB buffer. Skips
# (exit 77) without a go command; no timing is checked.
set -euo pipefail

src=${1:?usage: go_echo_test.sh SOURCE_ROOT BUILD_ROOT WEFT_LOADGEN}
build=${2:?}
loadgen=${3:?}
tmp=$(mktemp -d)
pid=
cleanup() {
  [[ -z $pid ]] || kill -KILL "$pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  for f in "$tmp"/*; do [[ -f $f ]] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done
  exit 1
}

rc=0
bash "$src/bench/go_echo/build.sh" "$build" 2>"$tmp/build.err" || rc=$?
if ((rc == 3)); then
  echo "SKIP: $(cat "$tmp/build.err")"
  exit 77
fi
((rc == 0)) || fail "build.sh failed (status $rc)"
server=$build/bench/go_echo/go_echo
[[ -x $server ]] || fail "no $server after the build"

# start starts the server in the background and sets pid and port.
start() {
  "$server" --port 0 --address 127.0.0.1 >"$tmp/server.out" 2>"$tmp/server.err" &
  pid=$!
  local i
  for ((i = 0; i < 300; i++)); do
    [[ -s $tmp/server.out ]] && break
    kill -0 "$pid" 2>/dev/null || fail "go_echo exited before listening"
    sleep 0.1
  done
  sleep 0.2 # a second line, if any, would be there by now
  [[ $(wc -l <"$tmp/server.out") == 1 ]] || fail "expected one stdout line, got: $(cat "$tmp/server.out")"
  grep -qxE 'listening on 127\.0\.0\.1:[0-9]+' "$tmp/server.out" ||
    fail "not a 'listening on ADDR:PORT' line: $(cat "$tmp/server.out")"
  port=$(sed 's/.*://' "$tmp/server.out")
  ((port > 0)) || fail "port 0 in '$(cat "$tmp/server.out")'"
}
# stop SIGNAL sends the signal and checks the server exits 0 within 30 s.
stop() {
  local i status=0
  kill "-$1" "$pid"
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && fail "go_echo still runs 30 s after SIG$1"
  wait "$pid" || status=$?
  pid=
  ((status == 0)) || fail "go_echo exited with status $status after SIG$1 (expected 0)"
}
# load CONNS SIZE runs weft-loadgen against the server; it exits non-zero on any wrong byte.
load() {
  timeout --kill-after=10 120 "$loadgen" --host 127.0.0.1 --port "$port" --conns "$1" \
    --size "$2" --duration 1 --warmup 0 >"$tmp/loadgen.out" 2>"$tmp/loadgen.err" ||
    fail "weft-loadgen failed with $1 connections of $2-byte messages"
  grep -q '^RESULT .* errors=0$' "$tmp/loadgen.out" || fail "no clean RESULT line"
  awk '/^RESULT/ { for (i = 1; i <= NF; i++) if ($i ~ /^msgs=/) { sub("msgs=", "", $i); exit !($i > 0) } }' \
    "$tmp/loadgen.out" || fail "no message echoed"
}

start
load 50 64
load 4 40000
stop TERM
start
load 8 64
stop INT
echo "PASS"
