#!/usr/bin/env bash
# expect_stderr.sh runs PROGRAM under `weftrun --carriers 1` and fails unless it ends with
# STATUS (as the shell reports it: 128+N for signal N) and its stderr matches REGEX.
#
# Usage: expect_stderr.sh WEFTRUN STATUS REGEX PROGRAM [ARGS...]
set -uo pipefail
weftrun=$1 want=$2 regex=$3
shift 3
err=$(mktemp)
trap 'rm -f "$err"' EXIT
"$weftrun" --carriers 1 -- "$@" >/dev/null 2>"$err"
rc=$?
if ((rc != want)); then
  echo "FAIL: status $rc, expected $want"
  cat "$err"
  exit 1
fi
if ! grep -Eq -- "$regex" "$err"; then
  echo "FAIL: stderr does not match /$regex/:"
  cat "$err"
  exit 1
fi
echo "ok: status $rc; stderr matches /$regex/"
