#!/usr/bin/env bash
# syscall_bench.sh: what the shim's syscall(3) hook costs, natively against weftrun --carriers 1.
#
#   bench/syscall_bench.sh [BUILD_DIR]          (default: build; builds nothing itself)
#
# Runs bench/syscall_bench (see syscall_bench.c) SYSCALL_BENCH_REPS times (default 5), native and
# weftrun alternating, and prints the medians: CPU ns per getppid() through libc (the kernel's
# cost, untouched by the shim), per syscall(SYS_getppid) (a number the hook passes straight to
# the kernel), per private futex wake with nobody waiting, and elapsed ns per futex ping-pong
# round trip between two threads. The last stdout line is
#   RESULT libc_native_ns= libc_shim_ns= syscall_native_ns= syscall_shim_ns= syscall_ratio=
#          wake_native_ns= wake_shim_ns= wake_ratio= pingpong_native_ns= pingpong_shim_ns=
set -euo pipefail

build=${1:-build}
reps=${SYSCALL_BENCH_REPS:-5}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/median.sh"

die() {
  echo "syscall_bench: $*" >&2
  exit 1
}

weftrun=$build/shim/weftrun
bench=$build/bench/syscall_bench
for f in "$weftrun" "$bench"; do
  [[ -x $f ]] || die "missing $f (is the build complete, with -Dbench=enabled?)"
done

results=$(mktemp)
trap 'rm -f "$results"' EXIT
for ((rep = 1; rep <= reps; rep++)); do
  for mode in native weftrun; do
    prefix=()
    [[ $mode == weftrun ]] && prefix=("$weftrun" --carriers 1 --)
    r=$(timeout --kill-after=10 300 "${prefix[@]}" "$bench" | grep '^RESULT ' | tail -n1) ||
      die "syscall_bench failed ($mode, repetition $rep)"
    [[ -n $r ]] || die "no RESULT line ($mode, repetition $rep)"
    echo "$mode ${r#RESULT }" >>"$results"
    echo "syscall_bench: $mode rep $rep: ${r#RESULT }" >&2
  done
done

# med MODE KEY prints the median of KEY over MODE's runs.
med() {
  grep "^$1 " "$results" | tr ' ' '\n' | sed -n "s/^$2=//p" | median_of
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "" }'; }

ln=$(med native libc_getppid_ns) ls=$(med weftrun libc_getppid_ns)
sn=$(med native syscall_getppid_ns) ss=$(med weftrun syscall_getppid_ns)
wn=$(med native futex_wake_ns) ws=$(med weftrun futex_wake_ns)
pn=$(med native pingpong_ns) ps=$(med weftrun pingpong_ns)
echo "syscall_bench: medians of $reps runs, CPU ns per call (weftrun vs native):"
echo "  getppid() through libc:       $ls vs $ln"
echo "  syscall(SYS_getppid):         $ss vs $sn ($(ratio "$ss" "$sn")x)"
echo "  futex wake, nobody waiting:   $ws vs $wn ($(ratio "$ws" "$wn")x)"
echo "  futex ping-pong, ns per round trip: $ps (two fibers of one carrier) vs $pn (two threads)"
echo "RESULT libc_native_ns=$ln libc_shim_ns=$ls syscall_native_ns=$sn syscall_shim_ns=$ss" \
  "syscall_ratio=$(ratio "$ss" "$sn") wake_native_ns=$wn wake_shim_ns=$ws" \
  "wake_ratio=$(ratio "$ws" "$wn") pingpong_native_ns=$pn pingpong_shim_ns=$ps"
