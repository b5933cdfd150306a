#!/usr/bin/env bash
# cpython_signal.sh: CPython's own signal tests (test_signal, test_threadsignals, and
# test_subprocess for what children inherit) natively and under weftrun, compared case by case
# by cpython_diff.py: every case that passes natively must pass under weftrun, unless
# tests/shim/cpython_MODULE.expected lists it with its reason (a listed case that passes again
# fails the test too, so the list stays true). Skips (77) where
# Debian's CPython test suite (libpython3.11-testsuite) is not installed.
# The backend is whatever the environment picks (make test runs it on io_uring and epoll).
# With "faulthandler" last, the module runs with faulthandler's watchdog thread started (regrtest
# --timeout 1200, as CPython's own `make test`): a helper thread that blocks every signal.
# Usage: cpython_signal.sh WEFTRUN CARRIERS MODULE [faulthandler]
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
weftrun=$(realpath "$1")
carriers=$2
module=${3:-test_signal}
extra=()
[[ "${4:-}" == faulthandler ]] && extra=(--faulthandler-timeout 1200)
python=/usr/bin/python3
if [[ ! -x "$python" ]]; then
  echo "SKIP: no $python"
  exit 77
fi
backend=${WEFT_BACKEND:-auto}
exec "$python" "$here/cpython_diff.py" --config "c$carriers,$backend" "${extra[@]}" \
  "$module" "$here/cpython_${module#test_}.expected" -- \
  "$weftrun" --carriers "$carriers" --
