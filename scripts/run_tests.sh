#!/usr/bin/env bash
# run_tests.sh runs weft's whole test suite and closes with the line `N passed, N failed, N skipped`.
#
# It runs `meson test` on an already built build dir twice: once as the environment has it
# (io_uring where the kernel allows it, else the automatic fall-back to epoll), then in the
# `epoll` test setup (tests/meson.build: WEFT_BACKEND=epoll), so every test runs on both I/O
# backends. meson's own progress and the logs of failing tests show up as usual; then
# scripts/test_summary.py counts individual GoogleTest cases from both runs' testlog files (a
# non-gtest test counts as one; the epoll run's names carry "[epoll]") into one closing line.
# It exits non-zero if any test failed or none ran.
#
# Usage: scripts/run_tests.sh [BUILD_DIR] [extra meson test args, e.g. --suite unit]
# Environment:
#   WEFT_TEST_JOBS                how many test programs run at once (default: 2, or 1 on 1 CPU);
#                                 tests marked `is_parallel : false` always run alone
#   WEFT_TEST_TIMEOUT_MULTIPLIER  scales every test's timeout (default 2; meson's default
#                                 timeout is 30 s unless a test sets its own)
#   WEFT_TEST_SETUPS              the runs to make, in order (default "default epoll"; "default"
#                                 is meson's plain run)
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${1:-build}
shift || true

fail() {
  echo "run_tests.sh: $*" >&2
  echo "0 passed, 1 failed"
  exit 1
}

[[ -f "$build/build.ninja" ]] || fail "$build is not a configured meson build dir (run: make build)"

# The suite has heavy tests (100,000 fibers, many TCP loopback connections); on a small box,
# more than two at a time only makes them slower and timing-sensitive ones flaky.
cpus=$(nproc 2>/dev/null || echo 1)
jobs=${WEFT_TEST_JOBS:-$((cpus < 2 ? 1 : 2))}
multiplier=${WEFT_TEST_TIMEOUT_MULTIPLIER:-2}

py=$(command -v /usr/bin/python3 python3 | head -n 1)
[[ -n "$py" ]] || fail "python3 not found (run: make deps)"

setups=${WEFT_TEST_SETUPS:-default epoll}
meson_rc=0
testlogs=()
for setup in $setups; do
  if [[ "$setup" == default ]]; then
    testlog="$build/meson-logs/testlog.json"
    setup_args=()
  else
    testlog="$build/meson-logs/testlog-$setup.json"
    setup_args=(--setup "$setup")
  fi
  rm -f "$testlog"
  testlogs+=("$testlog")
  echo "run_tests.sh: meson test -C $build ${setup_args[*]} (jobs=$jobs, timeout x$multiplier)"
  rc=0
  meson test -C "$build" "${setup_args[@]}" --print-errorlogs --num-processes "$jobs" \
    --timeout-multiplier "$multiplier" "$@" </dev/null || rc=$?
  ((rc == 0)) || meson_rc=$rc
done

"$py" "$here/test_summary.py" "${testlogs[@]}" --meson-rc "$meson_rc"
summary_rc=$?
if ((meson_rc != 0 || summary_rc != 0)); then
  exit 1
fi
exit 0
