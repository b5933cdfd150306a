# echo_server.sh: what the scripts that test an echo server from outside share (sourced, not
# run): a scratch dir $out holding the server's stdout and stderr, the server's pid in
# $server_pid (killed on exit), and waits for its port, its fd count and its exit.
#
#   fail MESSAGE        prints MESSAGE and the server's output, exits 1
#   await_port          sets port from the server's "listening on ADDR:PORT" line
#   fd_count            prints how many fds the server has open
#   await_fds N         waits for the server to have N fds open again
#   await_exit          waits for the server to exit; fails unless it exits 0
#
# The waits poll an observable state against a wall-clock deadline of $ECHO_SERVER_WAIT seconds
# (default 120), not a count of fixed sleeps: these scripts run on a shared 2-CPU box, also in
# TSan builds 5-15x slower, where a server that closes 10,000 connections or tears down its run
# can take far longer than the usual fraction of a second. A leak or a hang still fails, only
# later; meson's own timeout for these tests (300 s and more) stays the outer bound.

out=$(mktemp -d)
server_pid=
cleanup() {
  [[ -n $server_pid ]] && kill -KILL "$server_pid" 2>/dev/null
  rm -rf "$out"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*"
  echo "--- server stdout:"; cat "$out/server.out"
  echo "--- server stderr:"; head -40 "$out/server.err"
  exit 1
}

wait_limit=${ECHO_SERVER_WAIT:-120}

# The server prints its line once it serves (examples/echo_server.cpp: from inside its run, so
# the runtime's own fds are all open by then and fd_count right after it is the idle count).
await_port() {
  port=
  local deadline=$((SECONDS + wait_limit))
  while ((SECONDS < deadline)); do
    port=$(grep -o 'listening on [0-9.]*:[0-9]*' "$out/server.out" | sed 's/.*://')
    [[ -n $port ]] && return
    kill -0 "$server_pid" 2>/dev/null || fail "the server exited before listening"
    sleep 0.05
  done
  fail "the server did not start listening within $wait_limit s"
}

fd_count() { ls "/proc/$server_pid/fd" | wc -l; }

# A server closes each connection after its last echo, once it has seen the peer's close: wait
# for it to get there (after 10,000 idle connections, under TSan, that can take many seconds).
await_fds() {
  local n deadline=$((SECONDS + wait_limit))
  while :; do
    n=$(fd_count)
    ((n == $1)) && return
    ((SECONDS < deadline)) || break
    sleep 0.05
  done
  fail "the server has $n fds open, $1 before (waited $wait_limit s)"
}

await_exit() {
  local deadline=$((SECONDS + wait_limit))
  while kill -0 "$server_pid" 2>/dev/null && ((SECONDS < deadline)); do
    sleep 0.05
  done
  kill -0 "$server_pid" 2>/dev/null && fail "the server did not exit within $wait_limit s"
  local rc=0
  wait "$server_pid" || rc=$?
  server_pid=
  ((rc == 0)) || fail "the server exited with status $rc"
}
