#!/usr/bin/env bash
# memcheck.sh runs one example under valgrind's memcheck and fails on any error it reports, on a
# definite leak, and on "client switching stacks?" (which would mean valgrind was not told about
# the fiber stacks, runtime/base/sanitizer.hpp). Skips (77) where valgrind is not installed.
#
# The backend is left on auto, which picks epoll under valgrind (memcheck cannot see the kernel
# write completions into an io_uring's shared memory, and valgrind 3.19 hangs in a ring's first
# wait); the run checks that it did.
#
# Usage: memcheck.sh PROGRAM [ARGS...]
set -uo pipefail
command -v valgrind >/dev/null || { echo "SKIP: valgrind is not installed"; exit 77; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
WEFT_BACKEND=auto WEFT_DEBUG=1 valgrind -q --error-exitcode=99 --leak-check=full \
  --errors-for-leak-kinds=definite "$@" >/dev/null 2>"$log"
rc=$?
if ((rc != 0)) || grep -q "switching stacks" "$log" ||
  ! grep -q "I/O backend: epoll (auto, running under valgrind)" "$log"; then
  echo "FAIL: valgrind exit status $rc"
  cat "$log"
  exit 1
fi
echo "ok: memcheck clean for $1"
