#!/usr/bin/env bash
# shim_bench.sh: unmodified programs under weftrun against the same programs on native threads
# (issue #3). Every comparison is between runs of this one invocation.
#
#   bench/shim_bench.sh [BUILD_DIR]          (default: build; builds nothing itself)
#
# 1. Echo: examples/blocking_echo (plain C, a pthread per connection, blocking calls) under
#    `weftrun --carriers 1` (blocking_echo-weftrun: each thread with TLS of its own, weftrun's
#    default), under `weftrun --carriers 1 --shared-tls` (blocking_echo-weftrun-shared: threads
#    on their carrier's TLS, as before issue #13) and on native threads (blocking_echo), and
#    examples/echo_server on one carrier (weft-c1), driven by echo_bench.sh: server pinned to
#    CPU 0, weft-loadgen on CPU 1, 64-byte ping-pong, at each of SHIM_BENCH_CONNS, medians of
#    its repetitions (ECHO_BENCH_SECONDS, ECHO_BENCH_REPS and its other settings apply).
#    Output: bench/out/shim_echo.{csv,md,png}, shim_echo_runs.csv.
# 2. Pass-through: passthrough_bench (1-byte reads on a thread a constructor made, which under
#    the shim is no fiber, and on main, which is) natively and under weftrun --carriers 1; the
#    cost of a read is the CPU time of the thread making it (see passthrough_bench.c).
# 3. Sleepers: sleepers_rss (SHIM_BENCH_SLEEPERS threads with default attributes asleep at
#    once) natively, under weftrun --carriers 1 (per-thread TLS) and under weftrun --carriers 1
#    --shared-tls; peak RSS from GNU time (%M), and the program's own VmRSS growth per parked
#    thread and glibc's static TLS size (what each thread's TLS block holds).
# 4. Thread spawn+join: thread_spawn_bench (pthread_create + pthread_join, one thread at a time)
#    natively, under weftrun --carriers 1 and under weftrun --carriers 1 --shared-tls.
# 2 to 4 run SHIM_BENCH_REPS times each, the modes alternating, and report medians; every run
# is in bench/out/shim_runs.csv.
#
# The last stdout line is one RESULT line (bench/run.sh reads it):
#   RESULT conns_hi=N conns_lo=M
#     be_weftrun_hi= be_native_hi= ratio_native_hi= p99_weftrun_hi= p99_native_hi=
#                                               (msgs/s and p99 us at N connections)
#     be_weftrun_lo= echo_server_lo= ratio_echo_server_lo=        (msgs/s at M connections)
#     be_shared_hi= be_shared_lo= ratio_tls_shared_hi= ratio_tls_shared_lo=
#                                               (--shared-tls; ratios per-thread TLS / shared)
#     cpu_shared_hi= cpu_shared_lo=
#     cpu_weftrun_hi= cpu_native_hi= cpu_weftrun_lo= cpu_echo_server_lo=
#                                               (server CPU us per message: steadier under load)
#     pt_native_ns= pt_shim_ns= pt_ratio=       (/dev/zero, plain thread: the pass-through)
#     pt_pipe_native_ns= pt_pipe_shim_ns= pt_pipe_ratio=          (a pipe, plain thread)
#     fiber_native_ns= fiber_shim_ns= fiber_ratio=                (a pipe, main: a fiber)
#                                               (CPU ns per read)
#     sleepers=K rss_native_kib= rss_shim_kib= rss_shared_kib=    (peak RSS)
#     kpt_native= kpt_shim= kpt_shared=         (VmRSS KiB per parked thread)
#     static_tls_native= static_tls_shim=       (bytes per thread block, from glibc)
#     spawn_native_ns= spawn_shim_ns= spawn_shared_ns= spawn_ratio= spawn_shared_ratio=
#     spawn_native_cpu_ns= spawn_shim_cpu_ns= spawn_shared_cpu_ns= spawn_cpu_ratio=
#     spawn_shared_cpu_ratio= spawn_tls_shared_cpu_ratio=
#                                               (ns per pthread_create+join; ratios to native,
#                                                the last per-thread TLS / shared)
# Exits non-zero if any server, load run or program fails (crash, lost or corrupted echo).
# Needs no terminal and reads no input (CI=true safe).
#
# Settings (environment): SHIM_BENCH_CONNS ("1000 10000": the ratio to echo_server is read at
# the smallest, the ratio to native threads at the largest), SHIM_BENCH_REPS (5),
# SHIM_BENCH_READS (200000 reads per round; 11 rounds), SHIM_BENCH_SLEEPERS (10000),
# SHIM_BENCH_SPAWNS (5000 threads per round; 7 rounds), and echo_bench.sh's ECHO_BENCH_* settings.
# WEFT_TLS is unset: the weftrun runs measure weftrun's default, --shared-tls its own runs.
set -euo pipefail

build=${1:-build}
conns_list=${SHIM_BENCH_CONNS:-"1000 10000"}
reps=${SHIM_BENCH_REPS:-5}
reads=${SHIM_BENCH_READS:-200000}
sleepers=${SHIM_BENCH_SLEEPERS:-10000}
spawns=${SHIM_BENCH_SPAWNS:-5000}
unset WEFT_TLS

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/median.sh"
out=$here/out

die() {
  echo "shim_bench: $*" >&2
  exit 1
}

[[ -d $build ]] || die "no build directory '$build' (build first: make, or meson setup + ninja)"
build=$(cd "$build" && pwd)
weftrun=$build/shim/weftrun
passthrough=$build/bench/passthrough_bench
sleepers_rss=$build/bench/sleepers_rss
thread_spawn=$build/bench/thread_spawn_bench
gnu_time=/usr/bin/time
for f in "$weftrun" "$passthrough" "$sleepers_rss" "$thread_spawn" \
  "$build/examples/blocking_echo"; do
  [[ -x $f ]] || die "missing $f (is the build complete, with -Dbench=enabled?)"
done
[[ -x $gnu_time ]] || die "missing $gnu_time (Debian package 'time'; run scripts/deps.sh)"

# Native threads: one fd per connection, and a thread's stack is two mappings, within
# vm.max_map_count's 65,530 for 10,000 threads; say so early if a limit is lower.
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
maps=$(cat /proc/sys/vm/max_map_count 2>/dev/null || echo 65530)
for c in $conns_list "$sleepers"; do
  ((2 * c + 1000 < maps)) || echo "shim_bench: warning: vm.max_map_count $maps may be too low" \
    "for $c native threads" >&2
done

min_conns=
max_conns=0
for c in $conns_list; do
  ((c > max_conns)) && max_conns=$c
  [[ -z $min_conns ]] || ((c < min_conns)) && min_conns=$c
done

mkdir -p "$out"
echo "== shim_bench: echo (blocking_echo under weftrun and natively, echo_server)"
ECHO_BENCH_TAG=shim_echo ECHO_BENCH_CONNS="$conns_list" \
  ECHO_BENCH_SERVERS="blocking_echo-weftrun blocking_echo-weftrun-shared blocking_echo weft-c1" \
  bash "$here/echo_bench.sh" "$build" || die "the echo runs failed (see above)"

runs=$out/shim_runs.csv
# The *_zero_ns and *_pipe_ns columns are CPU ns per read, the *_wall ones elapsed ns per read;
# kib_per_thread and static_tls_bytes are sleepers_rss's, the spawn_join ones thread_spawn_bench's.
header=what,mode,rep,plain_zero_ns,plain_pipe_ns,main_zero_ns,main_pipe_ns,peak_rss_kib
header+=,plain_zero_wall_ns,plain_pipe_wall_ns,main_zero_wall_ns,main_pipe_wall_ns
echo "$header,kib_per_thread,static_tls_bytes,spawn_join_ns,spawn_join_cpu_ns,own_tls" >"$runs"
log=$out/shim_logs
mkdir -p "$log"

# launch MODE sets prefix to what runs a program in MODE: nothing natively (native), weftrun
# with its default per-thread TLS (weftrun), or weftrun --shared-tls (weftrun-shared).
launch() {
  case $1 in
    native) prefix=() ;;
    weftrun) prefix=("$weftrun" --carriers 1 --) ;;
    weftrun-shared) prefix=("$weftrun" --carriers 1 --shared-tls --) ;;
  esac
}

# field LINE KEY prints KEY's value from a RESULT line.
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

echo "== shim_bench: pass-through (1-byte reads), $reps x native and weftrun"
for ((rep = 1; rep <= reps; rep++)); do
  for mode in native weftrun; do
    f=$log/passthrough-$mode-$rep
    launch "$mode"
    timeout --kill-after=10 300 "${prefix[@]}" "$passthrough" "$reads" 11 >"$f.out" 2>"$f.err" ||
      { cat "$f.err" >&2; die "passthrough_bench failed ($mode, repetition $rep)"; }
    r=$(grep '^RESULT ' "$f.out" | tail -n1)
    [[ -n $r ]] || die "no RESULT line from passthrough_bench ($f.out)"
    cols=passthrough,$mode,$rep
    for k in plain_zero_ns plain_pipe_ns main_zero_ns main_pipe_ns peak_rss_kib \
      plain_zero_wall_ns plain_pipe_wall_ns main_zero_wall_ns main_pipe_wall_ns; do
      cols+=,$(field "$r" "$k")
    done
    echo "$cols,,,,," >>"$runs"
    echo "shim_bench: passthrough $mode rep $rep: ${r#RESULT }" >&2
  done
done

echo "== shim_bench: $sleepers sleeping threads, $reps x native, weftrun and weftrun --shared-tls"
for ((rep = 1; rep <= reps; rep++)); do
  for mode in native weftrun weftrun-shared; do
    f=$log/sleepers-$mode-$rep
    launch "$mode"
    timeout --kill-after=10 300 "$gnu_time" -f %M -o "$f.rss" "${prefix[@]}" "$sleepers_rss" \
      "$sleepers" >"$f.out" 2>"$f.err" ||
      { cat "$f.err" >&2; die "sleepers_rss failed ($mode, repetition $rep)"; }
    rss=$(tail -n1 "$f.rss")
    [[ $rss =~ ^[0-9]+$ ]] || die "no peak RSS from GNU time ($f.rss)"
    r=$(grep '^RESULT ' "$f.out" | tail -n1)
    [[ -n $r ]] || die "no RESULT line from sleepers_rss ($f.out)"
    kpt=$(field "$r" kib_per_thread) stls=$(field "$r" static_tls_bytes)
    echo "sleepers,$mode,$rep,,,,,$rss,,,,,$kpt,$stls,,," >>"$runs"
    echo "shim_bench: sleepers $mode rep $rep: peak RSS $rss KiB; ${r#RESULT }" >&2
  done
done

echo "== shim_bench: thread spawn+join, $reps x native, weftrun and weftrun --shared-tls"
for ((rep = 1; rep <= reps; rep++)); do
  for mode in native weftrun weftrun-shared; do
    f=$log/spawn-$mode-$rep
    launch "$mode"
    timeout --kill-after=10 300 "${prefix[@]}" "$thread_spawn" "$spawns" 7 >"$f.out" \
      2>"$f.err" || { cat "$f.err" >&2; die "thread_spawn_bench failed ($mode, repetition $rep)"; }
    r=$(grep '^RESULT ' "$f.out" | tail -n1)
    [[ -n $r ]] || die "no RESULT line from thread_spawn_bench ($f.out)"
    # Per-thread TLS is what the weftrun mode measures; a fallback to shared must not pass for it.
    own=$(field "$r" own_tls)
    if [[ $mode != weftrun-shared && $own != 1 ]]; then
      echo "shim_bench: warning: threads shared TLS in the $mode run: $(cat "$f.err")" >&2
    fi
    ns=$(field "$r" spawn_join_ns) cpu=$(field "$r" spawn_join_cpu_ns)
    echo "spawn,$mode,$rep,,,,,,,,,,,,$ns,$cpu,$own" >>"$runs"
    echo "shim_bench: spawn $mode rep $rep: ${r#RESULT }" >&2
  done
done

# median WHAT MODE COLUMN prints the median of one column of shim_runs.csv.
median() {
  awk -F, -v w="$1" -v m="$2" -v col="$3" '$1 == w && $2 == m && $col != "" {print $col}' \
    "$runs" | median_of
}
# echo_col SERVER CONNS COLUMN prints a median from echo_bench.sh's shim_echo.csv.
echo_col() {
  awk -F, -v s="$1" -v c="$2" -v col="$3" 'NR > 1 && $1 == s && $2 == c {print $col}' \
    "$out/shim_echo.csv"
}
# ratio A B prints A/B to two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "" }'; }

wr_hi=$(echo_col blocking_echo-weftrun "$max_conns" 3)
nat_hi=$(echo_col blocking_echo "$max_conns" 3)
wr_lo=$(echo_col blocking_echo-weftrun "$min_conns" 3)
es_lo=$(echo_col weft-c1 "$min_conns" 3)
pt_nat=$(median passthrough native 4) pt_shim=$(median passthrough weftrun 4)
pp_nat=$(median passthrough native 5) pp_shim=$(median passthrough weftrun 5)
fb_nat=$(median passthrough native 7) fb_shim=$(median passthrough weftrun 7)
rss_nat=$(median sleepers native 8) rss_shim=$(median sleepers weftrun 8)
rss_shared=$(median sleepers weftrun-shared 8)
kpt_nat=$(median sleepers native 13) kpt_shim=$(median sleepers weftrun 13)
kpt_shared=$(median sleepers weftrun-shared 13)
stls_nat=$(median sleepers native 14) stls_shim=$(median sleepers weftrun 14)
sp_nat=$(median spawn native 15) sp_shim=$(median spawn weftrun 15)
sp_shared=$(median spawn weftrun-shared 15)
spc_nat=$(median spawn native 16) spc_shim=$(median spawn weftrun 16)
spc_shared=$(median spawn weftrun-shared 16)
sh_hi=$(echo_col blocking_echo-weftrun-shared "$max_conns" 3)
sh_lo=$(echo_col blocking_echo-weftrun-shared "$min_conns" 3)

echo
echo "shim_bench: blocking_echo at $max_conns conns: weftrun $wr_hi msgs/s, native $nat_hi msgs/s"
echo "shim_bench: blocking_echo (weftrun) vs echo_server at $min_conns conns: $wr_lo vs $es_lo msgs/s"
echo "shim_bench: 1-byte read on a plain thread, CPU ns: /dev/zero $pt_shim (shim) vs $pt_nat;" \
  "pipe $pp_shim vs $pp_nat (elapsed ns: /dev/zero $(median passthrough weftrun 9) vs" \
  "$(median passthrough native 9))"
echo "shim_bench: 1-byte pipe read on main (a fiber under the shim), CPU ns: $fb_shim vs $fb_nat" \
  "(elapsed ns: $(median passthrough weftrun 12) vs $(median passthrough native 12))"
echo "shim_bench: blocking_echo under weftrun, per-thread TLS vs --shared-tls: $wr_hi vs $sh_hi" \
  "msgs/s at $max_conns conns, $wr_lo vs $sh_lo at $min_conns"
echo "shim_bench: $sleepers sleeping threads, peak RSS: weftrun $rss_shim KiB," \
  "weftrun --shared-tls $rss_shared KiB, native $rss_nat KiB"
echo "shim_bench: VmRSS per parked thread: weftrun $kpt_shim KiB, weftrun --shared-tls" \
  "$kpt_shared KiB, native $kpt_nat KiB; glibc's static TLS per thread $stls_shim bytes under" \
  "weftrun, $stls_nat natively"
echo "shim_bench: pthread_create+join: weftrun $sp_shim ns ($spc_shim CPU ns), weftrun" \
  "--shared-tls $sp_shared ns ($spc_shared CPU ns), native $sp_nat ns ($spc_nat CPU ns)"
echo "RESULT conns_hi=$max_conns conns_lo=$min_conns be_weftrun_hi=$wr_hi be_native_hi=$nat_hi" \
  "ratio_native_hi=$(ratio "$wr_hi" "$nat_hi")" \
  "p99_weftrun_hi=$(echo_col blocking_echo-weftrun "$max_conns" 5)" \
  "p99_native_hi=$(echo_col blocking_echo "$max_conns" 5)" \
  "be_weftrun_lo=$wr_lo echo_server_lo=$es_lo ratio_echo_server_lo=$(ratio "$wr_lo" "$es_lo")" \
  "cpu_weftrun_hi=$(echo_col blocking_echo-weftrun "$max_conns" 8)" \
  "cpu_native_hi=$(echo_col blocking_echo "$max_conns" 8)" \
  "cpu_weftrun_lo=$(echo_col blocking_echo-weftrun "$min_conns" 8)" \
  "cpu_echo_server_lo=$(echo_col weft-c1 "$min_conns" 8)" \
  "pt_native_ns=$pt_nat pt_shim_ns=$pt_shim pt_ratio=$(ratio "$pt_shim" "$pt_nat")" \
  "pt_pipe_native_ns=$pp_nat pt_pipe_shim_ns=$pp_shim pt_pipe_ratio=$(ratio "$pp_shim" "$pp_nat")" \
  "fiber_native_ns=$fb_nat fiber_shim_ns=$fb_shim fiber_ratio=$(ratio "$fb_shim" "$fb_nat")" \
  "be_shared_hi=$sh_hi be_shared_lo=$sh_lo ratio_tls_shared_hi=$(ratio "$wr_hi" "$sh_hi")" \
  "ratio_tls_shared_lo=$(ratio "$wr_lo" "$sh_lo")" \
  "cpu_shared_hi=$(echo_col blocking_echo-weftrun-shared "$max_conns" 8)" \
  "cpu_shared_lo=$(echo_col blocking_echo-weftrun-shared "$min_conns" 8)" \
  "sleepers=$sleepers rss_native_kib=$rss_nat rss_shim_kib=$rss_shim rss_shared_kib=$rss_shared" \
  "kpt_native=$kpt_nat kpt_shim=$kpt_shim kpt_shared=$kpt_shared" \
  "static_tls_native=$stls_nat static_tls_shim=$stls_shim" \
  "spawn_native_ns=$sp_nat spawn_shim_ns=$sp_shim spawn_shared_ns=$sp_shared" \
  "spawn_ratio=$(ratio "$sp_shim" "$sp_nat") spawn_shared_ratio=$(ratio "$sp_shared" "$sp_nat")" \
  "spawn_native_cpu_ns=$spc_nat spawn_shim_cpu_ns=$spc_shim spawn_shared_cpu_ns=$spc_shared" \
  "spawn_cpu_ratio=$(ratio "$spc_shim" "$spc_nat")" \
  "spawn_shared_cpu_ratio=$(ratio "$spc_shared" "$spc_nat")" \
  "spawn_tls_shared_cpu_ratio=$(ratio "$spc_shim" "$spc_shared")"
