#!/usr/bin/env bash
# echo_bench.sh: weft's echo server against the epoll, io_uring and Go reference servers.
#
#   bench/echo_bench.sh [BUILD_DIR]          (default: build; builds only the Go server)
#
# For each connection count and each server: start the server pinned to CPU 0, drive it with
# weft-loadgen pinned to CPU 1 (one client thread: the only other core), 64-byte ping-pong
# messages, ECHO_BENCH_SECONDS measured after a 1 s warmup. Each combination runs
# ECHO_BENCH_REPS times and the medians are reported. Repetitions are interleaved (every server
# once, then every server again) so a slow spell of a shared machine hits all servers alike.
# Another process on a 2-core box skews everything, so before each run the script waits (up to
# ECHO_BENCH_QUIET_WAIT s) for the machine to be idle, and weft-loadgen measures how much CPU
# other processes took during the window; a run where they took more than ECHO_BENCH_MAX_OTHER
# percent of a core is run again, up to ECHO_BENCH_RETRIES times, then kept with a warning.
# Packets the kernel's loopback backlog dropped during a run are counted and warned about too.
#
# Writes bench/out/TAG_runs.csv (every run), bench/out/TAG.csv (medians), bench/out/TAG.md
# (the table printed at the end) and bench/out/TAG.png (msgs/s against connections); TAG is
# ECHO_BENCH_TAG, "echo" by default.
# Exits non-zero if any server fails to start or to exit 0 on SIGTERM, or any load run fails.
#
# Settings (environment): ECHO_BENCH_SECONDS (5), ECHO_BENCH_REPS (3), ECHO_BENCH_CONNS
# ("100 1000 10000"), ECHO_BENCH_SIZE (64),
# ECHO_BENCH_SERVERS ("weft epoll_echo uring_echo go_echo"),
# ECHO_BENCH_QUIET_WAIT (30), ECHO_BENCH_MAX_OTHER (10), ECHO_BENCH_RETRIES (3),
# ECHO_BENCH_PIN (1; 0 runs server and client unpinned, sharing both CPUs), ECHO_BENCH_TAG
# (echo; the prefix of the output files).
# go_echo is bench/go_echo (a goroutine per connection), which meson does not build: this script
# builds it into BUILD_DIR/bench/go_echo with bench/go_echo/build.sh before the runs, and when
# there is no `go` command (GO names another) it says "SKIP go_echo" once and runs the others.
# A server named weft-cN is weft's echo server with --carriers N (meaningful unpinned);
# weft-epoll is weft's echo server on the epoll backend (WEFT_BACKEND=epoll).
# blocking_echo is examples/blocking_echo (plain C, a pthread per connection) on native threads,
# blocking_echo-weftrun the same binary under weftrun --carriers 1 (each thread with TLS of its
# own, weftrun's default: a run where the runtime fell back to shared TLS is warned about), and
# blocking_echo-weftrun-shared under weftrun --carriers 1 --shared-tls; it has no --address (it
# listens on 127.0.0.1).
set -euo pipefail

build=${1:-build}
secs=${ECHO_BENCH_SECONDS:-5}
reps=${ECHO_BENCH_REPS:-3}
conns_list=${ECHO_BENCH_CONNS:-"100 1000 10000"}
size=${ECHO_BENCH_SIZE:-64}
servers=${ECHO_BENCH_SERVERS:-"weft epoll_echo uring_echo go_echo"}
quiet_wait=${ECHO_BENCH_QUIET_WAIT:-30}
drops=0
max_other=${ECHO_BENCH_MAX_OTHER:-10}
retries=${ECHO_BENCH_RETRIES:-3}
pin=${ECHO_BENCH_PIN:-1}
tag=${ECHO_BENCH_TAG:-echo}
warmup=1
address=127.0.0.1

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/median.sh"
out=$here/out
logs=$out/${tag}_logs

die() {
  echo "echo_bench: $*" >&2
  exit 1
}

[[ -d $build ]] || die "no build directory '$build' (build first: make, or meson setup + ninja)"
build=$(cd "$build" && pwd)
loadgen=$build/bench/weft-loadgen

server_bin() {
  case $1 in
    weft | weft-c[0-9]* | weft-epoll) echo "$build/examples/echo_server" ;;
    blocking_echo | blocking_echo-weftrun | blocking_echo-weftrun-shared)
      echo "$build/examples/blocking_echo"
      ;;
    epoll_echo) echo "$build/bench/epoll_echo" ;;
    uring_echo) echo "$build/bench/uring_echo" ;;
    go_echo) echo "$build/bench/go_echo/go_echo" ;;
    *) die "unknown server '$1'" ;;
  esac
}

[[ -x $loadgen ]] || die "missing $loadgen (is the build complete?)"
# The Go server is built here, not by meson (a machine without Go still builds weft); without a
# go command it is left out of this run, which goes on with the others.
if [[ " $servers " == *" go_echo "* ]]; then
  rc=0
  why=$(bash "$here/go_echo/build.sh" "$build" 2>&1) || rc=$?
  if ((rc == 3)); then
    echo "echo_bench: SKIP go_echo: ${why#go_echo/build.sh: }" >&2
    servers=$(for s in $servers; do [[ $s == go_echo ]] || echo "$s"; done | xargs)
    [[ -n $servers ]] || die "no server left to run"
  elif ((rc != 0)); then
    echo "$why" >&2
    die "building go_echo failed (status $rc)"
  fi
fi
weftrun=$build/shim/weftrun
for s in $servers; do
  [[ -x $(server_bin "$s") ]] || die "missing $(server_bin "$s") (is the build complete?)"
  [[ $s != *-weftrun* || -x $weftrun ]] || die "missing $weftrun (is the build complete?)"
done

# File descriptors: the biggest run needs one per connection on each side, plus a few.
max_conns=0
min_conns=
for c in $conns_list; do
  ((c > max_conns)) && max_conns=$c
  [[ -z $min_conns ]] || ((c < min_conns)) && min_conns=$c
done
need=$((max_conns + 256))
if (($(ulimit -Sn) < need)); then
  ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
  if (($(ulimit -Sn) < need)); then
    ulimit -n "$need" 2>/dev/null || die "need $need file descriptors, ulimit -n allows $(ulimit -Sn)"
  fi
fi

# server_cmd SERVER sets cmd to the command line that starts the server on a free port.
server_cmd() {
  local bin
  bin=$(server_bin "$1")
  case $1 in
    weft-c[0-9]*) cmd=("$bin" --port 0 --address "$address" --carriers "${1#weft-c}") ;;
    weft-epoll) cmd=(env WEFT_BACKEND=epoll "$bin" --port 0 --address "$address") ;;
    blocking_echo) cmd=("$bin" -p 0) ;;
    blocking_echo-weftrun) cmd=(env -u WEFT_TLS "$weftrun" --carriers 1 "$bin" -p 0) ;;
    blocking_echo-weftrun-shared) cmd=("$weftrun" --carriers 1 --shared-tls "$bin" -p 0) ;;
    *) cmd=("$bin" --port 0 --address "$address") ;;
  esac
}

# Pinning: server on CPU 0, client on CPU 1, when the machine has two CPUs and taskset.
pin_server=()
pin_client=()
placement="server on CPU 0, client on CPU 1"
if ((pin == 0)); then
  placement="server and client unpinned on $(nproc) CPUs"
elif command -v taskset >/dev/null && (($(nproc) >= 2)); then
  pin_server=(taskset -c 0)
  pin_client=(taskset -c 1)
else
  echo "echo_bench: warning: no taskset or fewer than 2 CPUs; running unpinned" >&2
fi

# busy_pct prints how much CPU (percent of one core, all CPUs summed) the machine used over
# half a second.
busy_pct() {
  local a b
  a=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat)
  sleep 0.5
  b=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat)
  echo "$a $b" | awk '{busy=$3-$1; idle=$4-$2; n=(busy+idle)>0?(busy+idle):1;
                       printf "%d", 100*busy/n*'"$(nproc)"'}'
}

# wait_quiet waits until the machine is (nearly) idle and prints the busy percentage it saw.
# Between runs only our own processes should be gone, so anything busy is someone else.
wait_quiet() {
  local deadline=$((SECONDS + quiet_wait)) pct
  pct=$(busy_pct)
  while ((pct > 15 && SECONDS < deadline)); do
    sleep 1
    pct=$(busy_pct)
  done
  if ((pct > 15)); then
    echo "echo_bench: warning: machine still ${pct}% busy before this run; results are noisy" >&2
  fi
  echo "$pct"
}

server_pid=
stop_server() {
  local pid=$1 name=$2 i rc
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    die "$name did not exit within 10 s of SIGTERM"
  fi
  rc=0
  wait "$pid" || rc=$?
  server_pid=
  ((rc == 0)) ||
    die "$name exited with status $rc after SIGTERM (expected 0); see $logs"
}
cleanup() {
  if [[ -n $server_pid ]]; then kill -KILL "$server_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

# softnet_drops prints how many packets all CPUs' input backlogs have dropped so far. Loopback
# traffic goes through that backlog; when a burst overflows it (net.core.netdev_max_backlog),
# TCP retransmits after a timeout and the run measures that, not the server.
softnet_drops() {
  local total=0 d
  while read -r _ d _; do total=$((total + 16#$d)); done </proc/net/softnet_stat
  echo "$total"
}

# attempt SERVER CONNS REP runs the server and one load run, leaving the loadgen output in
# $log.loadgen.out (log is set by run_one).
attempt() {
  local name=$1 conns=$2 rep=$3 port line rc i cmd
  wait_quiet >/dev/null
  # Old logs must go first: the server truncates its log only once it has started, and a
  # stale "listening on" line would send the client to the last run's port.
  rm -f "$log".*
  server_cmd "$name"
  "${pin_server[@]}" "${cmd[@]}" >"$log.server.out" 2>"$log.server.err" &
  server_pid=$!
  line=
  for ((i = 0; i < 100; i++)); do
    line=$(grep -m1 -o 'listening on .*' "$log.server.out" 2>/dev/null || true)
    [[ -n $line ]] && break
    kill -0 "$server_pid" 2>/dev/null || {
      cat "$log.server.err" >&2
      die "$name exited before listening"
    }
    sleep 0.1
  done
  [[ -n $line ]] || die "$name printed no 'listening on ADDR:PORT' line within 10 s"
  port=${line##*:}
  [[ $port =~ ^[0-9]+$ ]] || die "$name: cannot read the port from '$line'"

  rc=0
  drops=$(softnet_drops)
  timeout --kill-after=10 $((secs + warmup + 120)) "${pin_client[@]}" "$loadgen" \
    --host "$address" --port "$port" --conns "$conns" --size "$size" --duration "$secs" \
    --warmup "$warmup" --server-pid "$server_pid" >"$log.loadgen.out" 2>"$log.loadgen.err" ||
    rc=$?
  drops=$(($(softnet_drops) - drops))
  stop_server "$server_pid" "$name"
  # The runtime's one line when it could not give fibers TLS of their own (sched/run.cpp).
  if [[ $name == *-weftrun ]] &&
    grep -q "fibers share their carrier's thread-local storage" "$log.server.err"; then
    echo "echo_bench: warning: $name ran on shared TLS, not per-thread: $(cat "$log.server.err")" >&2
  fi
  if ((rc != 0)); then
    cat "$log.loadgen.err" >&2
    die "load run failed: $name, $conns connections, repetition $rep (loadgen status $rc)"
  fi
}

# run_one SERVER CONNS REP measures one combination, again if other processes disturbed it,
# and appends one line to echo_runs.csv.
run_one() {
  local name=$1 conns=$2 rep=$3 try result srv cli other
  log=$logs/$name-$conns-$rep
  for ((try = 1; ; try++)); do
    attempt "$name" "$conns" "$rep"
    result=$(tail -n1 "$log.loadgen.out")
    [[ $result == RESULT* ]] || die "no RESULT line from weft-loadgen ($log.loadgen.out)"
    other=$(sed -n 's/^  other processes \([0-9.]*\)%.*/\1/p' "$log.loadgen.out")
    ((${other:-0} <= max_other || try > retries)) && break
    echo "echo_bench: other processes took ${other}% of a core during $name/$conns; again" >&2
  done
  if ((${other:-0} > max_other)); then
    echo "echo_bench: warning: $name/$conns kept despite ${other}% CPU taken by other processes" >&2
  fi
  if ((drops > 0)); then
    echo "echo_bench: warning: the kernel dropped $drops loopback packets during $name/$conns" \
      "(TCP retransmits skew it; try sysctl net.core.netdev_max_backlog=65536)" >&2
  fi
  srv=$(sed -n 's/^  server CPU \([0-9.]*\)%.*/\1/p' "$log.loadgen.out")
  cli=$(sed -n 's/^  client CPU \([0-9.]*\)%.*/\1/p' "$log.loadgen.out")
  field() { echo "$result" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
  printf '%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n' "$name" "$conns" "$rep" "$(field msgs_per_s)" \
    "$(field p50_us)" "$(field p99_us)" "$(field p999_us)" "${srv:-}" "${cli:-}" "${other:-}" \
    "$try" "$drops" >>"$out/${tag}_runs.csv"
  printf 'echo_bench: %-10s conns=%-5s rep=%s  %8s msgs/s  p99 %9s us  CPU: server %s%% client %s%% other %s%%\n' \
    "$name" "$conns" "$rep" "$(field msgs_per_s)" "$(field p99_us)" "${srv:-?}" "${cli:-?}" \
    "${other:-?}" >&2
}

mkdir -p "$out" "$logs"
echo "server,conns,rep,msgs_per_s,p50_us,p99_us,p999_us,server_cpu_pct,client_cpu_pct,other_cpu_pct,attempts,backlog_drops" \
  >"$out/${tag}_runs.csv"

for ((rep = 1; rep <= reps; rep++)); do
  for conns in $conns_list; do
    for name in $servers; do
      run_one "$name" "$conns" "$rep"
    done
  done
done

# median COLUMN SERVER CONNS prints the median of one column over the repetitions.
median() {
  awk -F, -v col="$1" -v s="$2" -v c="$3" 'NR > 1 && $1 == s && $2 == c && $col != "" {print $col}' \
    "$out/${tag}_runs.csv" | median_of
}

echo "server,conns,msgs_per_s,p50_us,p99_us,p999_us,server_cpu_pct,server_us_per_msg,ratio_vs_uring,ratio_vs_epoll,ratio_vs_go" \
  >"$out/$tag.csv"
for conns in $conns_list; do
  ref_uring=$(median 4 uring_echo "$conns")
  ref_epoll=$(median 4 epoll_echo "$conns")
  ref_go=$(median 4 go_echo "$conns")
  for name in $servers; do
    rate=$(median 4 "$name" "$conns")
    cpu=$(median 8 "$name" "$conns")
    awk -v n="$name" -v c="$conns" -v r="$rate" -v p50="$(median 5 "$name" "$conns")" \
      -v p99="$(median 6 "$name" "$conns")" -v p999="$(median 7 "$name" "$conns")" -v cpu="$cpu" \
      -v ru="$ref_uring" -v re="$ref_epoll" -v rg="$ref_go" 'BEGIN {
        per = (cpu != "" && r > 0) ? sprintf("%.2f", cpu / 100 * 1e6 / r) : ""
        vu = (ru > 0) ? sprintf("%.2f", r / ru) : ""
        ve = (re > 0) ? sprintf("%.2f", r / re) : ""
        vg = (rg > 0) ? sprintf("%.2f", r / rg) : ""
        printf "%s,%s,%.0f,%s,%s,%s,%s,%s,%s,%s,%s\n", n, c, r, p50, p99, p999, cpu, per, vu, ve, vg }' \
      >>"$out/$tag.csv"
  done
done

# The "vs go_echo" column is there only when go_echo ran.
with_go=0
[[ " $servers " == *" go_echo "* ]] && with_go=1
{
  echo "### Echo: ${size}-byte ping-pong, ${secs} s x ${reps} (medians), $placement"
  echo
  if ((with_go)); then
    echo "| server | conns | msgs/s | p50 us | p99 us | p99.9 us | server CPU | server CPU us/msg | vs uring_echo | vs epoll_echo | vs go_echo |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  else
    echo "| server | conns | msgs/s | p50 us | p99 us | p99.9 us | server CPU | server CPU us/msg | vs uring_echo | vs epoll_echo |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  fi
  awk -F, -v go="$with_go" 'function x(v) { return v == "" ? "-" : v "x" }
    NR > 1 {printf "| %s | %s | %s | %s | %s | %s | %s%% | %s | %s | %s |%s\n",
            $1, $2, $3, $4, $5, $6, $7, $8, x($9), x($10), (go ? " " x($11) " |" : "")}' \
    "$out/$tag.csv"
} >"$out/$tag.md"
cat "$out/$tag.md"

if command -v gnuplot >/dev/null; then
  plot=""
  for name in $servers; do
    awk -F, -v n="$name" 'NR > 1 && $1 == n {print $2, $3}' "$out/$tag.csv" >"$out/${tag}_$name.dat"
    plot+="${plot:+, }'$out/${tag}_$name.dat' using 1:2 with linespoints lw 2 pt 7 title '$name'"
  done
  gnuplot <<EOF || echo "echo_bench: warning: gnuplot failed; no echo.png" >&2
set terminal pngcairo size 900,560 noenhanced
set output '$out/$tag.png'
set title "TCP echo, ${size}-byte ping-pong, $placement (median of ${reps})"
set xlabel 'connections'
set ylabel 'messages per second'
set logscale x
set xrange [$min_conns / 1.6 : $max_conns * 1.6]
set xtics ($(read -ra cs <<<"$conns_list" && IFS=, && echo "${cs[*]}"))
set yrange [0:*]
set format y '%.0f'
set grid
set key bottom left
plot $plot
EOF
  [[ -f $out/$tag.png ]] && echo "echo_bench: wrote $out/$tag.png" >&2
else
  echo "echo_bench: warning: gnuplot not found; no echo.png" >&2
fi
echo "echo_bench: wrote $out/$tag.csv, $out/${tag}_runs.csv, $out/$tag.md" >&2
