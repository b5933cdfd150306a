#!/usr/bin/env bash
# real_programs.sh: unmodified programs from Debian's packages under weftrun on one carrier give
# the same output as natively: GNU sort with 4 threads (coreutils, threads on mutexes and
# condition variables), sha256sum, and CPython's threaded http.server answering curl (a
# threaded server and a client, both under weftrun). Skips (77) if a program is missing.
# Usage: real_programs.sh WEFTRUN DIFFERENTIAL_SH
set -uo pipefail
weftrun=$(realpath "$1") differential=$(realpath "$2")
for p in /usr/bin/sort /usr/bin/sha256sum /usr/bin/python3 /usr/bin/curl; do
  if [[ ! -x $p ]]; then
    echo "SKIP: $p is not installed"
    exit 77
  fi
done

out=$(mktemp -d)
server_pid=
cleanup() {
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null
  rm -rf "$out"
}
trap cleanup EXIT
failures=0

# A fixed pseudo-random permutation of 300,000 numbers: big enough for sort to use its threads.
awk 'BEGIN { x = 12345; for (i = 0; i < 300000; i++) { x = (x * 1103515245 + 12345) % 2147483648; print x } }' \
  >"$out/numbers"
bash "$differential" "$weftrun" /usr/bin/sort -n --parallel=4 -S 64M "$out/numbers" || failures=$((failures + 1))
bash "$differential" "$weftrun" /usr/bin/sha256sum "$out/numbers" || failures=$((failures + 1))

# serve RUNNER...: starts http.server on a free port (RUNNER may be empty or weftrun -c 1), sets
# server_pid and port.
serve() {
  (cd "$out" && exec "$@" /usr/bin/python3 -u -m http.server --bind 127.0.0.1 0 \
     >"$out/server.out" 2>"$out/server.err") &
  server_pid=$!
  port=
  for _ in $(seq 1 600); do
    port=$(sed -n 's/^Serving HTTP on 127.0.0.1 port \([0-9]*\) .*/\1/p' "$out/server.out")
    [[ -n $port ]] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "FAIL: http.server did not start ($*)"
  cat "$out/server.err"
  return 1
}

# fetch RUNNER...: what curl sees of a file, a missing page and a directory listing.
fetch() {
  "$@" /usr/bin/curl -s "http://127.0.0.1:$port/numbers" | sha256sum
  "$@" /usr/bin/curl -s -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$port/missing"
  # Eight at once: the server answers each on its own thread.
  local pids=()
  for i in 1 2 3 4 5 6 7 8; do
    "$@" /usr/bin/curl -s "http://127.0.0.1:$port/numbers" | sha256sum >"$out/par.$i" &
    pids+=($!)
  done
  wait "${pids[@]}"
  cat "$out"/par.* | sort | uniq -c
}

serve env || exit 1
fetch env >"$out/native"
kill "$server_pid"; wait "$server_pid" 2>/dev/null; server_pid=
serve "$weftrun" -c 1 || exit 1
fetch "$weftrun" -c 1 >"$out/shim"
kill "$server_pid"; wait "$server_pid" 2>/dev/null; server_pid=
if cmp -s "$out/native" "$out/shim"; then
  echo "ok: http.server + curl under weftrun answer as natively ($(wc -l <"$out/native") lines)"
else
  echo "FAIL: http.server + curl differ (native < > weftrun):"
  diff "$out/native" "$out/shim"
  echo "--- server stderr:"; head -20 "$out/server.err"
  failures=$((failures + 1))
fi
((failures == 0))
