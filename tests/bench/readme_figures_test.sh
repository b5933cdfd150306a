#!/usr/bin/env bash
# readme_figures_test.sh: scripts/update_readme_figures.py on a copy of the README.
#
#   tests/bench/readme_figures_test.sh SOURCE_ROOT PYTHON
#
# Runs the script on a copy of the tree's README.md with the fixed run in tests/bench/fixture
# (a summary.md, echo.csv and echo.png as bench/run.sh and echo_bench.sh write them) and checks
# that the three marked blocks now hold that run's figures, that every line outside them is as
# it was, that the plot was copied, that a second run changes nothing, that a README missing a
# marker is refused and left alone, that the CPU model falls back to lscpu when the summary
# does not name one, and that a run without the Go server gives an echo table without its column.
set -euo pipefail

src=${1:?usage: readme_figures_test.sh SOURCE_ROOT PYTHON}
py=${2:-python3}
script=$src/scripts/update_readme_figures.py
fixture=$src/tests/bench/fixture
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
# outside FILE prints FILE without what stands between the bench markers (markers kept).
outside() { awk '/<!-- bench:[a-z]+:end -->/ {skip = 0} !skip {print} /<!-- bench:[a-z]+:begin -->/ {skip = 1}' "$1"; }
# block NAME FILE prints what stands between NAME's markers, joined into one line.
block() { awk -v n="$1" '$0 ~ "<!-- bench:" n ":end -->" {skip = 0} skip {print} $0 ~ "<!-- bench:" n ":begin -->" {skip = 1}' "$2" | tr '\n' ' '; }
has() { [[ $(block "$1" "$3") == *"$2"* ]] || fail "the $1 block lacks: $2"; }
lacks() { [[ $(block "$1" "$3") != *"$2"* ]] || fail "the $1 block still has: $2"; }

cp "$src/README.md" "$tmp/README.md"
"$py" "$script" --out "$fixture" --readme "$tmp/README.md" --img "$tmp/img/echo.png" >/dev/null ||
  fail "the script failed on the fixture"

# The rest of the README is untouched, byte for byte.
diff <(outside "$src/README.md") <(outside "$tmp/README.md") >&2 ||
  fail "lines outside the bench markers changed"
! cmp -s "$src/README.md" "$tmp/README.md" || fail "the README did not change at all"

has machine "on Test CPU Model @ 1.00GHz, 2 CPUs, Linux 6.1.0-test, 2026-12-01." "$tmp/README.md"
has machine "only the ratios carry from one machine to another" "$tmp/README.md"
r=$tmp/README.md
has summary "| what | weft | reference, same run | ratio | target | met? |" "$r"
has summary "| fiber switch (yield ping-pong) | 20.5 ns | 3.6 ns (boost::context::fiber) | 5.73x | <= 3.0x | no |" "$r"
has summary "| spawn+join, batches of 100 | 239.6 ns | 2,973.7 ns (Boost.Fiber) | 12.41x faster | >= 2.0x faster | yes |" "$r"
has summary "| echo, 10,000 conns | 112,000 msgs/s | 90,000 msgs/s (go_echo) | 1.24x | >= 1.2x | yes |" "$r"
has summary "| echo, 1,000 conns | 230,000 msgs/s | 200,000 msgs/s (epoll_echo) | 1.15x | >= 1.1x | yes |" "$r"
has summary "| echo scaling, msgs/s at 10,000 conns / at 100 conns | 0.350 (112,000 / 320,000 msgs/s) |" "$r"
has summary "| blocking_echo under weftrun, 1,000 conns | 153,659 msgs/s | 153,105 msgs/s (examples/echo_server, 1 carrier) | 1.00x | >= 0.95x | yes |" "$r"
lacks summary "(same binary, native threads)" "$r"
lacks summary "Tls::kPerFiber" "$r"
lacks summary "yield, two fibers ping-pong" "$r"
has echo "Echo: 64-byte ping-pong, 5 s x 3 (medians), server on CPU 0, client on CPU 1." "$r"
has echo "| connections | weft | plain epoll server | plain liburing server | Go, a goroutine per connection | weft / epoll_echo | weft / uring_echo | weft / go_echo |" "$r"
has echo "| 10,000 | 112,000 | 167,000 | 176,000 | 90,000 | 0.67x | 0.64x | 1.24x |" "$r"
lacks echo "149,054" "$r"
cmp -s "$fixture/echo.png" "$tmp/img/echo.png" || fail "echo.png was not copied"

# A second run from the same figures changes nothing.
cp "$r" "$tmp/first.md"
"$py" "$script" --out "$fixture" --readme "$r" --img "$tmp/img/echo.png" >/dev/null
cmp -s "$tmp/first.md" "$r" || fail "a second run changed the README"

# A README that lost a marker is refused, and nothing is written.
grep -v '<!-- bench:echo:end -->' "$src/README.md" >"$tmp/broken.md"
cp "$tmp/broken.md" "$tmp/broken.orig"
if "$py" "$script" --out "$fixture" --readme "$tmp/broken.md" --img "$tmp/img2/echo.png" \
  2>"$tmp/err"; then
  fail "a README without bench:echo:end was accepted"
fi
grep -q "bench:echo:end" "$tmp/err" || fail "the refusal does not name the marker: $(cat "$tmp/err")"
cmp -s "$tmp/broken.md" "$tmp/broken.orig" || fail "the refused README was written"
[[ ! -e $tmp/img2/echo.png ]] || fail "the plot was copied for a refused README"

# No "CPU:" line in the summary (an older run): the CPU model comes from lscpu.
mkdir -p "$tmp/out" "$tmp/bin"
grep -v '^CPU: ' "$fixture/summary.md" >"$tmp/out/summary.md"
cp "$fixture/echo.png" "$tmp/out/echo.png"
# Without the Go server (no go command): no Go column.
grep -v '^go_echo,' "$fixture/echo.csv" >"$tmp/out/echo.csv"
printf '#!/bin/sh\necho "Architecture: x86_64"\necho "Model name:   Stub CPU from lscpu"\n' \
  >"$tmp/bin/lscpu"
chmod +x "$tmp/bin/lscpu"
cp "$src/README.md" "$tmp/README2.md"
PATH=$tmp/bin:$PATH "$py" "$script" --out "$tmp/out" --readme "$tmp/README2.md" \
  --img "$tmp/img/echo.png" >/dev/null || fail "the script failed without a CPU line"
has machine "on Stub CPU from lscpu, 2 CPUs" "$tmp/README2.md"
has echo "| 10,000 | 112,000 | 167,000 | 176,000 | 0.67x | 0.64x |" "$tmp/README2.md"
lacks echo "Go, a goroutine" "$tmp/README2.md"
echo "PASS"
