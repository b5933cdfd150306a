#!/usr/bin/env bash
# cpython_sendfile.sh: CPython's own socket.sendfile tests (test_socket -m '*Sendfile*') pass
# under weftrun on one carrier. Each test sends a file into a socket with os.sendfile while a
# second thread of the same process reads the other end: before the shim ran sendfile on a
# helper thread, the sending fiber held the only carrier and the reader never ran (issue #11).
# Skips (77) where Debian's CPython test suite (libpython3.11-testsuite) is not installed, or the
# tests fail natively.
# Usage: cpython_sendfile.sh WEFTRUN
set -uo pipefail
weftrun=$(realpath "$1")
python=/usr/bin/python3
tests=(-m test -v test_socket -m '*Sendfile*')
if ! "$python" -c 'import test.test_socket' 2>/dev/null; then
  echo "SKIP: $python has no test.test_socket (libpython3.11-testsuite)"
  exit 77
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cd "$out" || exit 1
if ! "$python" "${tests[@]}" >native.log 2>&1; then
  echo "SKIP: the tests fail natively here:"
  tail -20 native.log
  exit 77
fi
if "$weftrun" --carriers 1 -- "$python" "${tests[@]}" >shim.log 2>&1; then
  echo "ok: $(grep -E '^Ran [0-9]+ tests' shim.log) under weftrun --carriers 1"
  exit 0
fi
echo "FAIL: test_socket's sendfile tests under weftrun --carriers 1:"
tail -40 shim.log
exit 1
