#!/usr/bin/env bash
# man_test.sh checks docs/weftrun.1 against the weftrun it documents.
#
#   1. the page renders with groff's man macros with every warning on (-ww) and none printed;
#   2. every long option that `weftrun --help` lists (read from the help text itself, so an
#      option added to weftrun.cpp without a word in the page fails here) appears in the page.
#
# Usage: man_test.sh SOURCE_DIR WEFTRUN
# Exits 0 on success, 77 (meson's "skipped") if groff is missing.
set -euo pipefail

source=${1:?usage: man_test.sh SOURCE_DIR WEFTRUN}
weftrun=${2:?usage: man_test.sh SOURCE_DIR WEFTRUN}
page=$source/docs/weftrun.1

fail() {
  echo "man_test: FAIL: $*" >&2
  exit 1
}

[[ -f $page ]] || fail "$page is missing"

# --- 2 first: it needs nothing but weftrun ---
help=$("$weftrun" --help) || fail "weftrun --help failed"
# Option lines start with spaces and a dash: "  -c, --carriers N", "      --stats[=1|0]".
mapfile -t options < <(grep -E '^ +-' <<<"$help" | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u)
((${#options[@]} >= 5)) || fail "found only ${#options[@]} long options in weftrun --help:" \
  "has its layout changed? (option lines start with spaces and '-')"
# In roff a dash is written \-; the page's text with plain dashes:
text=$(sed 's/\\-/-/g' "$page")
missing=()
for opt in "${options[@]}"; do
  grep -qE -- "(^|[^a-z0-9-])${opt}([^a-z0-9-]|$)" <<<"$text" || missing+=("$opt")
done
((${#missing[@]} == 0)) ||
  fail "weftrun --help lists ${missing[*]}, which docs/weftrun.1 does not describe"
echo "man_test: all ${#options[@]} long options of weftrun --help are in docs/weftrun.1"

# --- 1. renders without warnings ---
if ! command -v groff >/dev/null 2>&1; then
  echo "man_test: SKIP: groff not found (Debian: groff-base), the page's rendering is not checked"
  exit 77
fi
warnings=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$page" 2>&1) || fail "groff failed: $warnings"
[[ -z $warnings ]] || fail "groff warns about docs/weftrun.1:"$'\n'"$warnings"
echo "man_test: docs/weftrun.1 renders without warnings"
echo "man_test: PASS"
