#!/usr/bin/env bash
# routed.sh shows that a program's calls really went through weft: it runs the program under
# `weftrun --carriers 1 --stats` and fails unless each named symbol was called on a fiber (a
# non-zero "via weft" count) and never passed through. A differential test alone cannot tell
# this apart from calls that silently passed through to libc and behaved natively.
#
# Usage: routed.sh WEFTRUN PROGRAM SYMBOL...
set -uo pipefail

weftrun=$1 program=$2
shift 2
err=$(mktemp)
trap 'rm -f "$err"' EXIT

"$weftrun" --carriers 1 --stats -- "$program" >/dev/null 2>"$err"
rc=$?
if ((rc != 0)); then
  echo "FAIL: $program exited with status $rc under weftrun"
  cat "$err"
  exit 1
fi
fail=0
for sym in "$@"; do
  line=$(grep -E "^weft:   $sym +[0-9]+ via weft" "$err")
  via=$(sed -E 's/^weft:   [^ ]+ +([0-9]+) via weft.*/\1/' <<<"$line")
  passed=$(sed -E 's/.*via weft, +([0-9]+) passed through.*/\1/' <<<"$line")
  if [[ -z $line || $via -eq 0 || $passed -ne 0 ]]; then
    echo "FAIL: $sym: ${line:-never called}"
    fail=1
  else
    echo "ok: $sym: $via calls via weft"
  fi
done
exit "$fail"
