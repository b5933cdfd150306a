#!/usr/bin/env bash
# fault_echo.sh: an echo server under fault injection (WEFT_FAULTS) moves 100 MB with every byte
# checked (tests/faults/echo_check.c), does not hang, and ends with as many fds as it started
# with; every connection that ended early is accounted for by a reset the runtime injected.
#
# Usage: fault_echo.sh echo_server ECHO_SERVER ECHO_CHECK CARRIERS
#        fault_echo.sh blocking_echo WEFTRUN BLOCKING_ECHO ECHO_CHECK
# Environment: FAULT_ECHO_FAULTS (seed:rate, default 20261122:0.003), FAULT_ECHO_CONNS (16),
#              FAULT_ECHO_MB (100).
set -uo pipefail

mode=$1
faults=${FAULT_ECHO_FAULTS:-20261122:0.003}
conns=${FAULT_ECHO_CONNS:-16}
mb=${FAULT_ECHO_MB:-100}

source "$(dirname "${BASH_SOURCE[0]}")/../lib/echo_server.sh"

# No stall watchdog: on a loaded box the OS may preempt a carrier for 100 ms, and the spare
# carrier the watchdog then starts has fds of its own (its ring and eventfd).
export WEFT_STALL_MS=0

case $mode in
  echo_server)
    server=$2 check=$3 carriers=$4
    WEFT_FAULTS=$faults "$server" --carriers "$carriers" --port 0 \
      >"$out/server.out" 2>"$out/server.err" </dev/null &
    ;;
  blocking_echo)
    weftrun=$2 server=$3 check=$4
    # -n: it exits (printing --stats) once this many connections were served, the last being
    # the one this script makes after the fd check.
    WEFT_FAULTS=$faults "$weftrun" --carriers 1 --stats -- "$server" -p 0 -n $((conns + 1)) \
      >"$out/server.out" 2>"$out/server.err" </dev/null &
    ;;
  *)
    echo "usage: fault_echo.sh echo_server|blocking_echo ..." >&2
    exit 2
    ;;
esac
server_pid=$!

await_port

fds_before=$(fd_count)
"$check" "$port" "$conns" "$mb" >"$out/check.out" 2>&1
check_rc=$?
cat "$out/check.out"
((check_rc == 0)) || fail "echo_check failed (status $check_rc)"

await_fds "$fds_before"

if [[ $mode == echo_server ]]; then
  kill -TERM "$server_pid"
else
  # One more connection, closed at once, is the one that makes blocking_echo exit.
  exec 3<>"/dev/tcp/127.0.0.1/$port" && exec 3>&-
fi
await_exit

line=$(grep -o 'faults injected: .*' "$out/server.err")
[[ -n $line ]] || fail "the server reported no injected faults"
read -r _ _ short _ eintr _ _ _ _ resets _ <<<"$line"
ended_early=$(sed -n 's/.* complete, \([0-9]*\) reset,.*/\1/p' "$out/check.out")
((short > 0 && eintr > 0)) || fail "too few faults injected: $line"
((ended_early <= resets)) || fail "$ended_early connections ended early, only $resets resets injected"
echo "ok: $mode under WEFT_FAULTS=$faults: $line; fds $fds_before before and after"
