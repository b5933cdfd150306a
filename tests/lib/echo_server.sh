# echo_server.sh: what the scripts that test an echo server from outside share (sourced, not
# run): a scratch dir $out holding the server's stdout and stderr, the server's pid in
# $server_pid (killed on exit), and waits for its port, its fd count and its exit.
#
#   fail MESSAGE        prints MESSAGE and the server's output, exits 1
#   await_port          sets port from the server's "listening on ADDR:PORT" line
#   fd_count            prints how many fds the server has open
#   await_fds N         waits up to 10 s for the server to have N fds open again
#   await_exit          waits up to 10 s for the server to exit; fails unless it exits 0

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

await_port() {
  port=
  for _ in $(seq 1 600); do
    port=$(grep -o 'listening on [0-9.]*:[0-9]*' "$out/server.out" | sed 's/.*://')
    [[ -n $port ]] && return
    kill -0 "$server_pid" 2>/dev/null || fail "the server exited before listening"
    sleep 0.05
  done
  fail "the server did not start listening within 30 s"
}

fd_count() { ls "/proc/$server_pid/fd" | wc -l; }

# A server closes each connection after its last echo: give it a moment to get there.
await_fds() {
  local n
  for _ in $(seq 1 200); do
    n=$(fd_count)
    ((n == $1)) && return
    sleep 0.05
  done
  fail "the server has $n fds open, $1 before"
}

await_exit() {
  for _ in $(seq 1 200); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -0 "$server_pid" 2>/dev/null && fail "the server did not exit within 10 s"
  local rc=0
  wait "$server_pid" || rc=$?
  server_pid=
  ((rc == 0)) || fail "the server exited with status $rc"
}
