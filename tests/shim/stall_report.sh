#!/usr/bin/env bash
# stall_report.sh checks what the stall watchdog says about a carrier that sits in a system call
# the program chose (diff_stall_wait.c's `report` mode, under WEFT_STALL_MS=10): the report names
# the call, no backtrace is taken (sampling would signal the carrier and end the call), and a
# stall is reported once, however many watchdog ticks it lasts. Not differential: the report is
# weftrun's own stderr.
#
# Usage: stall_report.sh WEFTRUN CARRIERS PROGRAM
set -uo pipefail
weftrun=$1 carriers=$2 program=$3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
WEFT_STALL_MS=10 "$weftrun" --carriers "$carriers" -- "$program" report "$dir/err" \
  >"$dir/out" 2>"$dir/err"
rc=$?
fail=0
if ((rc != 0)); then
  echo "FAIL: status $rc"
  fail=1
fi
if grep -q 'FAILED line\|EINTR\|Interrupted' "$dir/out"; then
  echo "FAIL: a wait was interrupted or a check failed"
  fail=1
fi
for call in ppoll pselect6 read; do
  made=$(sed -n "s/^waits $call //p" "$dir/out")
  reports=$(grep -c "in system call $call (" "$dir/err")
  if [[ -z $made ]] || ((reports < 1)); then
    echo "FAIL: no stall report names system call $call"
    fail=1
  elif ((reports > made)); then
    echo "FAIL: $reports stall reports name $call for $made waits (one per stall expected)"
    fail=1
  else
    echo "ok: $call: $reports report(s) for $made wait(s)"
  fi
done
# A report that names a system call ends there: no backtrace (whose frames are lines
# "  #N 0xADDR ...") nor "no backtrace" note follows it. A carrier descheduled
# between two calls for longer than 10 ms is sampled, rightly: only what follows a system call's
# report counts.
if ! awk '/in system call/ { after = 1; next }
          /^weft: / { after = 0 }
          after && (/^  #[0-9]+ 0x[0-9a-f]+/ || /no backtrace/) { bad = 1 }
          END { exit bad }' "$dir/err"; then
  echo "FAIL: the watchdog sampled a carrier that sat in a system call"
  fail=1
fi
if ((fail)); then
  echo "--- stdout:"; cat "$dir/out"
  echo "--- stderr:"; head -60 "$dir/err"
  exit 1
fi
exit 0
