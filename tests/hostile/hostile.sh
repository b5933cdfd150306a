#!/usr/bin/env bash
# hostile.sh runs one hostile-peer case (hostile.c) against one echo server, then checks that the
# server is still alive, has as many fds open as before the case, and exits with status 0 on
# SIGTERM.
#
# Usage: hostile.sh SERVER HOSTILE CASE
#   SERVER: "echo_server BIN" or "blocking_echo WEFTRUN BIN" (one word per argument, see meson)
#   CASE:   garbage | reset | idle | noread | fds | signals (needs ECHO_CHECK: the last argument)
# The fds case runs the server with 64 open files at most; idle needs about 10,100 fds on each
# side and is skipped (77) where the limit is lower.
set -uo pipefail

kind=$1
shift
case $kind in
  echo_server) server=(env WEFT_STALL_MS=0 "$1" --carriers 1 --port 0); shift ;;
  blocking_echo) server=(env WEFT_STALL_MS=0 "$1" --carriers 1 -- "$2" -p 0); shift 2 ;;
  *) echo "hostile.sh: unknown server kind $kind" >&2; exit 2 ;;
esac
hostile=$1 case_=$2 check=${3:-}
# ThreadSanitizer gives up beyond about 8,000 threads, and counts fibers as threads.
idle=${HOSTILE_IDLE:-10000}

source "$(dirname "${BASH_SOURCE[0]}")/../lib/echo_server.sh"

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [[ $case_ == idle ]] && (($(ulimit -n) < idle + 300)); then
  echo "SKIP: $idle idle connections need about $((idle + 300)) fds per process, the limit is $(ulimit -n)"
  exit 77
fi
nofile=$(ulimit -n)
[[ $case_ == fds ]] && nofile=64
(ulimit -n "$nofile" && exec "${server[@]}") >"$out/server.out" 2>"$out/server.err" </dev/null &
server_pid=$!

await_port
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$server_pid/status"; }
fds_before=$(fd_count)
rss_before=$(rss_kib)

case $case_ in
  garbage) "$hostile" garbage "$port" || fail "garbage" ;;
  reset) "$hostile" reset "$port" 200 || fail "reset" ;;
  idle) "$hostile" idle "$port" "$idle" 100 1000 || fail "idle" ;;
  noread)
    "$hostile" noread "$port" 256 || fail "noread"
    grown=$(($(rss_kib) - rss_before))
    echo "server RSS grew by $grown KiB while a peer never read"
    ((grown < 32 * 1024)) || fail "the server's memory grew by $grown KiB: it buffers instead of pushing back"
    ;;
  fds)
    "$hostile" fds "$port" 100 || fail "fds"
    n=$(grep -c -i -E 'out of file descriptors|too many open files' "$out/server.err")
    ((n == 1)) || fail "the server reported running out of fds $n times (expected once)"
    ;;
  signals)
    [[ -x $check ]] || fail "the signals case needs echo_check"
    "$check" "$port" 16 20 >"$out/check.out" 2>&1 &
    check_pid=$!
    "$hostile" signals "$server_pid" 10000 || fail "sending signals"
    wait "$check_pid" || { cat "$out/check.out"; fail "echo_check failed during the signal storm"; }
    cat "$out/check.out"
    ;;
  *) fail "unknown case $case_" ;;
esac

kill -0 "$server_pid" 2>/dev/null || fail "the server died"
await_fds "$fds_before"

kill -TERM "$server_pid"
await_exit
if [[ $case_ == signals ]]; then
  grep -q 'stopped ([1-9][0-9]* SIGUSR1 received)' "$out/server.out" "$out/server.err" ||
    fail "the server's SIGUSR1 handler never ran"
fi
echo "ok: $kind survived '$case_'; fds $fds_before before and after; exit status 0 on SIGTERM"
