#!/usr/bin/env bash
# echo_test.sh: examples/blocking_echo, unmodified, under weftrun on ONE carrier, serves CONNS
# connections held open at once by a client per thread (each blocked in read on the server side),
# echoes every message, and ends with its threads counted as fibers by --stats.
# Usage: echo_test.sh WEFTRUN BLOCKING_ECHO ECHO_CLIENTS CONNS
set -uo pipefail
weftrun=$1 server=$2 clients=$3 conns=$4
msgs=20

source "$(dirname "${BASH_SOURCE[0]}")/../lib/echo_server.sh"

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# Each connection takes an fd in the clients and one in the server (separate processes), plus a
# margin for everything else; too few means this box cannot run the test: skip (77), not fail.
if (($(ulimit -n) < conns + 64)); then
  echo "SKIP: $conns connections need $((conns + 64)) fds per process, the limit is $(ulimit -n)"
  exit 77
fi
"$weftrun" --carriers 1 --stats "$server" -p 0 -n "$conns" >"$out/server.out" 2>"$out/server.err" &
server_pid=$!

await_port

"$clients" "$port" "$conns" "$msgs" || fail "clients failed"

# The server exits by itself once every connection has been served.
await_exit
created=$(sed -n 's/^weft: stats: .* \([0-9]*\) fibers\{0,1\} created.*/\1/p' "$out/server.err")
[[ -n $created ]] || fail "no stats line from --stats"
((created >= conns + 1)) || fail "only $created fibers for $conns connection threads and main"
grep -q "^weft: stats: 1 carrier," "$out/server.err" || fail "the run had more than one carrier"
echo "ok: $conns concurrent connections x $msgs messages on 1 carrier, $created fibers"
