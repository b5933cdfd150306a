#!/usr/bin/env bash
# routed.sh shows that a program's calls really went through weft: it runs the program under
# `weftrun --carriers 1 --stats` and fails unless each named symbol was called on a fiber (a
# non-zero "via weft" count) and never passed through. A differential test alone cannot tell
# this apart from calls that silently passed through to libc and behaved natively.
#
# A symbol written SYMBOL/REASON[+REASON...] may also have passed through, but only for the
# reasons named, each at least once: nowait ("no wait": its arguments said it does not wait) or
# nonblock (the program's O_NONBLOCK). waitpid/nowait, say: some waitpid calls went through weft,
# the others (WNOHANG) were counted as "no wait", none as O_NONBLOCK or off a fiber.
#
# Usage: routed.sh WEFTRUN PROGRAM SYMBOL[/REASON[+REASON...]]...
set -uo pipefail

weftrun=$1 program=$2
shift 2
err=$(mktemp)
trap 'rm -f "$err"' EXIT

"$weftrun" --carriers 1 --stats -- "$program" >/dev/null 2>"$err" &
pid=$!
wait "$pid"
rc=$?
if ((rc == 77)); then
  echo "SKIP: $program skipped itself"
  exit 77
fi
if ((rc != 0)); then
  echo "FAIL: $program exited with status $rc under weftrun"
  cat "$err"
  exit 1
fi

# Forked children that end with _exit write reports of their own: keep the program's, the one
# whose header names its pid (weftrun execs it, so it is weftrun's).
awk -v pid="$pid" '/^weft: stats: / { mine = index($0, "; pid " pid ",") > 0 } mine' "$err" >"$err.own"
mv "$err.own" "$err"

# reason_count LINE WORDS prints the count the report gives before WORDS ("no wait").
reason_count() {
  sed -E "s/.*[(,] *([0-9]+) $2[,)].*/\1/" <<<"$1"
}

fail=0
for spec in "$@"; do
  sym=${spec%%/*}
  reasons=
  [[ $spec == */* ]] && reasons=${spec#*/}
  line=$(grep -E "^weft:   $sym +[0-9]+ via weft" "$err")
  via=$(sed -E 's/^weft:   [^ ]+ +([0-9]+) via weft.*/\1/' <<<"$line")
  passed=$(sed -E 's/.*via weft, +([0-9]+) passed through.*/\1/' <<<"$line")
  allowed=0
  missing=
  for reason in ${reasons//+/ }; do
    case $reason in
      nowait) n=$(reason_count "$line" "no wait") ;;
      nonblock) n=$(reason_count "$line" "O_NONBLOCK") ;;
      *) echo "FAIL: $spec: unknown reason '$reason'"; exit 1 ;;
    esac
    if [[ -z $line || ! $n =~ ^[0-9]+$ || $n -eq 0 ]]; then
      missing+=" $reason"
    else
      allowed=$((allowed + n))
    fi
  done
  if [[ -z $line || $via -eq 0 || $passed -ne $allowed || -n $missing ]]; then
    echo "FAIL: $spec: ${line:-never called}${missing:+ (no pass-through counted as:$missing)}"
    fail=1
  else
    echo "ok: $sym: $via calls via weft${reasons:+, $passed passed through ($reasons)}"
  fi
done
exit "$fail"
