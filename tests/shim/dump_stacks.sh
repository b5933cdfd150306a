#!/usr/bin/env bash
# dump_stacks.sh checks the stacks of weftrun's fiber dump (dump_stacks.c): a thread parked in
# park_here_for_dump_test() shows that function, named from the program's symbol table by
# libdw (which libweft_preload.so loads with dlopen at the first report), under the thread's
# line; with WEFT_LIBDW=none, the dump says that parked fibers' stacks need libdw. Not
# differential: the dump is weftrun's own stderr.
#
# Usage: dump_stacks.sh WEFTRUN PROGRAM
set -uo pipefail
weftrun=$1 program=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail=0

WEFT_DUMP_SIGNAL=USR2 "$weftrun" --carriers 1 -- "$program" "$dir/err" \
  ' park_here_for_dump_test+0x' >"$dir/out" 2>"$dir/err"
rc=$?
# The frame line, under a "blocked in read" fiber line, with no fiber line between them.
if ((rc != 0)) || ! awk '/^  fiber .*blocked in read/ { in_parked = 1; next }
                        /^  fiber / { in_parked = 0 }
                        in_parked && /^      #[0-9]+ 0x[0-9a-f]+ park_here_for_dump_test\+0x[0-9a-f]+ .*in shim_dump_stacks$/ { found = 1 }
                        END { exit !found }' "$dir/err"; then
  echo "FAIL: status $rc; no park_here_for_dump_test frame under the parked thread:"
  head -60 "$dir/err"
  fail=1
else
  echo "ok: the parked thread's stack names park_here_for_dump_test"
fi

WEFT_LIBDW=none WEFT_DUMP_SIGNAL=USR2 "$weftrun" --carriers 1 -- "$program" "$dir/err2" \
  'unwinding them needs libdw' >"$dir/out" 2>"$dir/err2"
rc=$?
if ((rc != 0)) || ! grep -q '^  (no stacks for parked fibers: unwinding them needs libdw.so.1' "$dir/err2"; then
  echo "FAIL: status $rc; WEFT_LIBDW=none: no note about libdw:"
  head -30 "$dir/err2"
  fail=1
else
  echo "ok: WEFT_LIBDW=none says parked fibers' stacks need libdw"
fi
exit $fail
