#!/usr/bin/env bash
# tool_cli.sh: the command lines of examples/echo_server and the bench tools -- getopt_long's
# --opt=value, --help that exits 0, and usage errors that name the option typed and its value,
# with status 2.
# Usage: tool_cli.sh echo_server|server|blocking_echo|loadgen|micro|cmicro BINARY
# (micro: a C++ micro benchmark, one count; cmicro: a plain C one, two counts)
set -uo pipefail
kind=$1 bin=$2
name=$(basename "$bin")
failures=0
out=$(mktemp -d)
trap 'kill "${server_pid:-}" 2>/dev/null; rm -rf "$out"' EXIT

# expect NAME STATUS PATTERN -- command...: the command ends with STATUS and its stdout+stderr
# match the extended regex PATTERN.
expect() {
  local what=$1 want=$2 pattern=$3
  shift 4
  timeout 20 "$@" </dev/null >"$out/o" 2>&1
  local rc=$?
  if ((rc != want)) || ! grep -Eq -- "$pattern" "$out/o"; then
    echo "FAIL $what: status $rc (want $want), output:"
    head -20 "$out/o"
    failures=$((failures + 1))
  else
    echo "ok   $what"
  fi
}

# serves NAME ARGS...: the server starts with ARGS, prints its listening line, and stops with
# status 0 on SIGTERM.
serves() {
  local what=$1
  shift
  "$bin" "$@" >"$out/server.out" 2>&1 &
  server_pid=$!
  local deadline=$((SECONDS + 60))
  until grep -q 'listening on' "$out/server.out"; do
    if ! kill -0 "$server_pid" 2>/dev/null || ((SECONDS > deadline)); then
      echo "FAIL $what: no listening line:"
      head -5 "$out/server.out"
      failures=$((failures + 1))
      return
    fi
    sleep 0.05
  done
  kill -TERM "$server_pid"
  wait "$server_pid"
  local rc=$?
  server_pid=
  if ((rc != 0)); then
    echo "FAIL $what: status $rc after SIGTERM"
    failures=$((failures + 1))
  else
    echo "ok   $what"
  fi
}

expect "--help" 0 "^usage: $name" -- "$bin" --help
expect "unknown option" 2 "^$name: unknown option '--bogus'" -- "$bin" --bogus
case $kind in
  echo_server | server)
    expect "bad port" 2 "^$name: -p/--port \"70000\": expected a whole number in 0\\.\\.65535" -- \
      "$bin" --port 70000
    expect "bad port, = form" 2 "^$name: -p/--port \"x\": expected" -- "$bin" --port=x
    expect "bad address" 2 "^$name: -a/--address \"1\\.2\\.3\": expected an IPv4 address" -- \
      "$bin" -a 1.2.3
    expect "missing value" 2 "^$name: option '--port' needs a value" -- "$bin" --port
    expect "stray argument" 2 "^$name: unexpected argument 'extra'" -- "$bin" --port 0 extra
    expect "help lists the options" 0 '--address A' -- "$bin" --help
    if [[ $kind == echo_server ]]; then
      expect "bad carriers" 2 "^$name: -c/--carriers \"0\": expected a whole number in 1\\.\\.128" -- \
        "$bin" -c 0
      serves "--port=0 --carriers=1 --address=127.0.0.1" --port=0 --carriers=1 --address=127.0.0.1
    else
      serves "--port=0 --address=127.0.0.1" --port=0 --address=127.0.0.1
    fi
    ;;
  blocking_echo)
    expect "bad port" 2 "^$name: -p/--port \"70000\": expected a whole number in 0\\.\\.65535" -- \
      "$bin" -p 70000
    expect "bad connections" 2 "^$name: -n/--connections \"x\": expected a whole number" -- \
      "$bin" --connections=x
    expect "missing value" 2 "^$name: option '--port' needs a value" -- "$bin" --port
    expect "stray argument" 2 "^$name: unexpected argument 'extra'" -- "$bin" -p 0 extra
    serves "--port=0" --port=0
    ;;
  loadgen)
    expect "bad conns" 2 "^$name: -c/--conns \"0\": expected a whole number in 1\\.\\." -- \
      "$bin" --port 1 --conns=0 --size 1 --duration 1
    expect "bad size" 2 "^$name: -s/--size \"1k\": expected a whole number" -- \
      "$bin" --port 1 --conns 1 --size 1k --duration 1
    expect "bad duration" 2 "^$name: -d/--duration \"-1\": expected a number of seconds above 0" -- \
      "$bin" --port 1 --conns 1 --size 1 --duration=-1
    expect "bad warmup" 2 "^$name: -w/--warmup \"soon\": expected a number of seconds, 0 or more" -- \
      "$bin" --port 1 --conns 1 --size 1 --duration 1 --warmup soon
    expect "bad port" 2 "^$name: -p/--port \"--conns\": expected a whole number in 1\\.\\.65535" -- \
      "$bin" --port --conns 1
    expect "missing --port" 2 "^$name: --port is required" -- "$bin" --conns 1 --size 1 --duration 1
    expect "missing value" 2 "^$name: option '--duration' needs a value" -- "$bin" --duration
    ;;
  micro | cmicro)
    expect "bad count" 2 "^$name: [A-Z_]+ \"many\": expected a whole number" -- "$bin" many
    expect "zero count" 2 "^$name: [A-Z_]+ \"0\": expected a whole number in 1\\.\\." -- "$bin" 0
    expect "count with a suffix" 2 "^$name: [A-Z_]+ \"12x\": expected a whole number" -- "$bin" 12x
    if [[ $kind == micro ]]; then
      expect "stray argument" 2 "^$name: unexpected argument '2'" -- "$bin" 1 2
    else
      expect "bad rounds" 2 "^$name: ROUNDS \"102\": expected a whole number in 1\\.\\.101" -- \
        "$bin" 1 102
      expect "stray argument" 2 "^$name: unexpected argument 'extra'" -- "$bin" 1 1 extra
    fi
    ;;
  *)
    echo "tool_cli.sh: unknown kind $kind" >&2
    exit 2
    ;;
esac

if ((failures)); then
  echo "$failures checks failed"
  exit 1
fi
