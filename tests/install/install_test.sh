#!/usr/bin/env bash
# install_test.sh checks that an installed weft is usable on its own.
#
# It stages `meson install` of a build dir into a temporary DESTDIR, then, using only the staged
# copy and pkg-config:
#   1. checks that weft.pc and every public header in include/weft/ were installed, and that each
#      installed header compiles on its own;
#   2. builds tests/install/hello.cpp with `pkg-config --cflags --libs weft` against the shared
#      library, runs it, and compares its output;
#   3. if a static libweft.a was installed too, links hello against it with
#      `pkg-config --static --libs weft`, which only works if weft.pc lists the runtime's own
#      dependencies (liburing, Boost.Context, threads) in Requires.private / Libs.private.
# No -std= flag is added: what weft.pc gives, on top of the compiler's default, must be enough.
# The staged weft.pc still names the real prefix, so pkg-config is told the staged one with
# --define-variable=prefix=...; that also checks the .pc file's paths are relative to ${prefix}.
#
# Usage: install_test.sh BUILD_DIR SOURCE_DIR   (meson passes both; see meson.build here)
# Exits 0 on success, 77 (meson's "skipped") if pkg-config or a C++ compiler is missing, or if
# the build uses a sanitizer.
set -euo pipefail

build=$(cd "${1:?usage: install_test.sh BUILD_DIR SOURCE_DIR}" && pwd)
source=$(cd "${2:?usage: install_test.sh BUILD_DIR SOURCE_DIR}" && pwd)
cxx=${CXX:-c++}
pkg_config=${PKG_CONFIG:-pkg-config}

fail() {
  echo "install_test: FAIL: $*" >&2
  exit 1
}
step() { echo "install_test: $*"; }

for tool in "$pkg_config" "$cxx" meson; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "install_test: SKIP: $tool not found"
    exit 77
  fi
done

# A sanitizer build's libweft needs the sanitizer runtime linked first, which weft.pc does not
# (and should not) ask for: an installed library is a release artefact. Nothing to check there.
sanitize=$(meson introspect "$build" --buildoptions 2>/dev/null |
           python3 -c 'import json, sys
print(next((o["value"] for o in json.load(sys.stdin) if o["name"] == "b_sanitize"), "none"))' \
           2>/dev/null || echo none)
if [[ -n "$sanitize" && "$sanitize" != none ]]; then
  echo "install_test: SKIP: this build uses -Db_sanitize=$sanitize"
  exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-install-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
stage=$tmp/stage

# --- 1. stage the install ---
step "meson install -C $build --destdir $stage"
if ! meson install -C "$build" --destdir "$stage" --no-rebuild --quiet >"$tmp/install.log" 2>&1; then
  cat "$tmp/install.log" >&2
  fail "meson install failed"
fi

mapfile -t pcs < <(find "$stage" -name weft.pc -path '*/pkgconfig/*')
((${#pcs[@]} == 1)) || fail "expected one installed weft.pc, found ${#pcs[@]}" \
  "(runtime/meson.build should call import('pkgconfig').generate(...) for libweft)"
pc_dir=$(dirname "${pcs[0]}")
echo "--- installed weft.pc:"
cat "${pcs[0]}"
echo "---"

export PKG_CONFIG_PATH=$pc_dir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
prefix=$("$pkg_config" --variable=prefix weft) || fail "pkg-config cannot read weft.pc"
[[ "$prefix" == /* ]] || fail "weft.pc has a relative prefix '$prefix'"
staged_prefix=$stage$prefix
[[ -d "$staged_prefix" ]] || fail "weft.pc's prefix $prefix is not where meson installed"
pc=("$pkg_config" --define-variable=prefix="$staged_prefix")

libdir=$("${pc[@]}" --variable=libdir weft)
includedir=$("${pc[@]}" --variable=includedir weft)
[[ "$libdir" == "$staged_prefix"/* ]] || fail "weft.pc's libdir ($libdir) is not under \${prefix}"
[[ "$includedir" == "$staged_prefix"/* ]] ||
  fail "weft.pc's includedir ($includedir) is not under \${prefix}"

# Every public header must be installed, and each must compile on its own from the staged copy.
missing=0
for header in "$source"/include/weft/*.hpp; do
  name=$(basename "$header")
  if [[ ! -f "$includedir/weft/$name" ]]; then
    echo "install_test: public header weft/$name was not installed" >&2
    missing=1
  fi
done
((missing == 0)) || fail "public headers missing from the install (install_headers in runtime/)"
read -r -a cflags <<<"$("${pc[@]}" --cflags weft)"
for header in "$includedir"/weft/*.hpp; do
  name=weft/$(basename "$header")
  echo "#include <$name>" | "$cxx" -fsyntax-only -x c++ "${cflags[@]}" - \
    || fail "installed header <$name> does not compile on its own"
done
step "$(find "$includedir/weft" -name '*.hpp' | wc -l) headers installed, each compiles alone"

expected=$'slept 60 ms: yes\norder: fast,slow\nresult: 42'

# run_hello builds hello.cpp with the given link flags into $tmp/$1, runs it, checks its output.
run_hello() {
  local kind=$1
  shift
  local exe=$tmp/hello-$kind
  step "[$kind] $cxx hello.cpp ${cflags[*]} $*"
  "$cxx" -O1 -o "$exe" "$source/tests/install/hello.cpp" "${cflags[@]}" "$@" \
    || fail "[$kind] building hello.cpp against the installed weft failed"
  local out rc=0
  out=$(cd "$tmp" && LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        timeout 60 "$exe" 2>"$tmp/hello.err") || rc=$?
  if ((rc != 0)) || [[ "$out" != "$expected" ]]; then
    echo "--- expected:"; echo "$expected"
    echo "--- got (exit status $rc):"; echo "$out"; cat "$tmp/hello.err"
    fail "[$kind] hello did not behave as expected"
  fi
  step "[$kind] hello ran and printed what it should"
}

# --- 2. shared library ---
has_shared=false has_static=false
[[ -e "$libdir/libweft.so" ]] && has_shared=true
[[ -e "$libdir/libweft.a" ]] && has_static=true
$has_shared || $has_static || fail "no libweft.so or libweft.a under $libdir"

if $has_shared; then
  read -r -a libs <<<"$("${pc[@]}" --libs weft)"
  run_hello shared "${libs[@]}"
  # Make sure it really used the staged library, not one installed on the system.
  lib_used=$(LD_LIBRARY_PATH="$libdir" ldd "$tmp/hello-shared" | awk '/libweft/ { print $3 }')
  [[ "$lib_used" == "$libdir"/* ]] || fail "hello loaded libweft from '$lib_used', not $libdir"
fi

# --- 3. static library: only links if weft.pc carries the private dependencies ---
if $has_static; then
  read -r -a libs <<<"$("${pc[@]}" --static --libs weft)"
  # -l:libweft.a picks the archive even when libweft.so sits beside it.
  for i in "${!libs[@]}"; do
    [[ "${libs[$i]}" != -lweft ]] || libs[i]=-l:libweft.a
  done
  run_hello static "${libs[@]}"
  if ldd "$tmp/hello-static" | grep -q libweft; then
    fail "[static] hello still loads libweft.so"
  fi
else
  step "no libweft.a installed (default_library=shared): static link not checked"
fi

echo "install_test: PASS"
