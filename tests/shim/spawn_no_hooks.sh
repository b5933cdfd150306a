#!/usr/bin/env bash
# spawn_no_hooks.sh runs spawn_files under weftrun --stats and fails if its posix_spawn and
# system() children ran a hook: the program itself calls neither dup2 nor close, so --stats must
# count none (a child made with CLONE_VM would count in the parent's memory).
# Usage: spawn_no_hooks.sh WEFTRUN SPAWN_FILES
set -uo pipefail
err=$(mktemp)
trap 'rm -f "$err"' EXIT
"$1" --carriers 1 --stats "$2" 2>"$err"
rc=$?
if ((rc != 0)); then
  echo "FAIL: spawn_files exited $rc"; cat "$err"; exit 1
fi
if ! grep -q 'weft: stats:' "$err"; then
  echo "FAIL: no --stats report"; cat "$err"; exit 1
fi
if grep -Eq 'weft: +(dup2|dup3|close|vfork) ' "$err"; then
  echo "FAIL: a hook ran in a posix_spawn or system() child:"; cat "$err"; exit 1
fi
echo "ok: the children of posix_spawn and system() ran no hook"
