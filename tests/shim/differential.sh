#!/usr/bin/env bash
# differential.sh runs a program natively and under weftrun and fails unless both runs print the
# same stdout and end the same way (exit status, or the signal that killed them). Both runs
# exiting with 77 is a skip (meson's code), the program's first line saying why.
#
# Usage: differential.sh WEFTRUN [weftrun options --] PROGRAM [ARGS...]
# The weftrun options default to --carriers 1: on one carrier, a call that blocked the carrier
# instead of yielding would hang the program (meson's timeout then fails the test), so each
# differential test also shows that the blocking calls it makes never stall the other threads.
#
# WEFT_TEST_PRELOAD=LIB preloads LIB (a malloc such as jemalloc's, a path or a name to find in
# the system's library directories) in both runs: natively as LD_PRELOAD=LIB, and under weftrun
# before the shim (WEFT_TEST_PRELOAD_ORDER=before, the default: what `LD_PRELOAD=LIB weftrun`
# gives, since weftrun appends the shim) or after it (=after: LD_PRELOAD=shim:LIB). A LIB that
# is not installed skips the test (exit 77).
set -uo pipefail

weftrun=$1
shift
preload=()
if [[ -n ${WEFT_TEST_PRELOAD:-} ]]; then
  lib=$WEFT_TEST_PRELOAD
  if [[ $lib != /* ]]; then
    for dir in /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib /usr/local/lib; do
      [[ -e $dir/$lib ]] && lib=$dir/$lib && break
    done
  fi
  if [[ ! -e $lib ]]; then
    echo "SKIP: $WEFT_TEST_PRELOAD is not installed (scripts/deps.sh installs it)"
    exit 77
  fi
  shim_lib=$(dirname "$weftrun")/libweft_preload.so
  case ${WEFT_TEST_PRELOAD_ORDER:-before} in
    before) preload=(env "LD_PRELOAD=$lib") ;;
    after) preload=(env "LD_PRELOAD=$shim_lib:$lib") ;;
    *) echo "differential.sh: WEFT_TEST_PRELOAD_ORDER must be before or after" >&2; exit 2 ;;
  esac
fi
opts=(--carriers 1)
for ((i = 1; i <= $#; i++)); do
  if [[ ${!i} == -- ]]; then
    opts=("${@:1:i-1}")
    shift "$i"
    break
  fi
done

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

native=()
[[ -n ${WEFT_TEST_PRELOAD:-} ]] && native=(env "LD_PRELOAD=$lib")
"${native[@]}" "$@" >"$out/native" 2>"$out/native.err"
native_rc=$?
"${preload[@]}" "$weftrun" "${opts[@]}" -- "$@" >"$out/shim" 2>"$out/shim.err"
shim_rc=$?

# A program that cannot run its test here (a facility the system refuses) says so and exits 77,
# meson's "skipped"; it must do so under weftrun too.
if ((native_rc == 77 && shim_rc == 77)); then
  echo "skipped: $(head -1 "$out/native")"
  exit 77
fi

fail=0
# 126 and 127 are the shell's "cannot run it": a comparison of two such runs would prove nothing.
if ((native_rc == 126 || native_rc == 127)); then
  echo "FAIL: the program did not run natively (status $native_rc)"
  fail=1
fi
# Nor would two runs whose CHECKs (check.h) failed alike.
if grep -q '^FAILED line' "$out/native"; then
  echo "FAIL: a check failed in the native run"
  fail=1
fi
if ! cmp -s "$out/native" "$out/shim"; then
  echo "FAIL: stdout differs (native < > weftrun ${opts[*]}):"
  diff "$out/native" "$out/shim" | head -40
  fail=1
fi
if ((native_rc != shim_rc)); then
  echo "FAIL: native run ended with $native_rc, the weftrun run with $shim_rc"
  fail=1
fi
if ((fail)); then
  echo "--- native stderr:"; head -20 "$out/native.err"
  echo "--- weftrun stderr:"; head -40 "$out/shim.err"
  exit 1
fi
echo "ok: $(wc -l <"$out/native") lines of stdout and end status $native_rc match"
exit 0
