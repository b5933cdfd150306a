#!/usr/bin/env bash
# gdb_install.sh checks that `meson install` puts weft-gdb.py where gdb auto-loads it.
#
# gdb's rule (auto-load.c): for an objfile it reads, gdb resolves the file's real path (symlinks
# followed: libweft.so.0 -> libweft.so.0.1.0) and looks for that path + "-gdb.py" under each
# directory of `set auto-load scripts-directory` (by default $debugdir and gdb's own
# $datadir/auto-load, which is /usr/share/gdb/auto-load). So the install must put the script at
# $datadir/gdb/auto-load/$prefix/$libdir/<the library's real file name>-gdb.py, for libweft.so
# and for libweft_preload.so, and a copy at $datadir/weft/weft-gdb.py for `source`. This stages
# the install in a temporary DESTDIR, follows the staged libraries' symlinks to their real names
# and checks each file is there and is the build's script. (gdb_test.py checks that gdb loads a
# script placed by that rule.)
#
# Usage: gdb_install.sh BUILD_DIR. Exits 77 if the build has no shim (sanitizer builds).
set -euo pipefail

build=$(cd "${1:?usage: gdb_install.sh BUILD_DIR}" && pwd)
fail() {
  echo "gdb_install: FAIL: $*" >&2
  exit 1
}

option() {
  meson introspect "$build" --buildoptions |
    python3 -c 'import json, sys
print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == sys.argv[1]))' "$1"
}
prefix=$(option prefix)
libdir=$(option libdir)
datadir=$(option datadir)
[[ "$libdir" == /* ]] || libdir=$prefix/$libdir
[[ "$datadir" == /* ]] || datadir=$prefix/$datadir

tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-gdb-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
stage=$tmp/stage
if ! meson install -C "$build" --destdir "$stage" --no-rebuild --quiet >"$tmp/log" 2>&1; then
  cat "$tmp/log" >&2
  fail "meson install failed"
fi

script=$build/runtime/weft-gdb.py
[[ -f "$script" ]] || fail "no $script in the build tree"
check() {
  [[ -f "$1" ]] || fail "$2: $1 was not installed"
  cmp -s "$1" "$script" || fail "$1 differs from the build's weft-gdb.py"
  echo "gdb_install: $2: ${1#"$stage"}"
}
check "$stage$datadir/weft/weft-gdb.py" "for source"
for lib in libweft.so libweft_preload.so; do
  staged=$stage$libdir/$lib
  [[ -e "$staged" ]] || fail "$lib is not installed in $libdir"
  real=$(readlink -f "$staged")
  # The path gdb computes in the installed system: the real file, without the stage.
  check "$stage$datadir/gdb/auto-load${real#"$stage"}-gdb.py" "auto-load for $lib ($(basename "$real"))"
done
echo "gdb_install: PASS"
