#!/usr/bin/env bash
# optional_deps_test.sh checks that `meson setup` works with only the runtime's own dependencies.
#
# It hides GoogleTest, GoogleMock and Boost.Fiber for real: in a private mount namespace
# (unshare --user --map-root-user --mount) the library directories that hold them are replaced
# by a view without them (a tmpfs of symlinks to every other file), their headers, sources
# (/usr/src/googletest, meson's fallback), pkg-config files and CMake packages likewise, and no
# cmake program is offered to meson. Then, setup only (nothing is built):
#   1. default options: setup succeeds, and the summary says the tests were skipped for want of
#      GoogleTest and spawn_bench for want of Boost.Fiber;
#   2. -Dtests=enabled fails, naming GoogleTest; -Dbench=enabled fails, naming Boost.Fiber;
#   3. -Dtests=disabled -Dbench=disabled succeeds and says both were switched off.
# A check inside the namespace first makes sure the hiding works (gtest cannot be linked).
#
# Usage: optional_deps_test.sh SOURCE_DIR
# Exits 0 on success, 77 (meson's "skipped") where user namespaces are not allowed (containers
# often forbid them) or meson is missing.
set -euo pipefail

source=$(cd "${1:?usage: optional_deps_test.sh SOURCE_DIR}" && pwd)

if [[ ${WEFT_OPTIONAL_DEPS_INSIDE:-} != 1 ]]; then
  for tool in meson unshare; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      echo "optional_deps_test: SKIP: $tool not found"
      exit 77
    fi
  done
  if ! unshare --user --map-root-user --mount true 2>/dev/null; then
    echo "optional_deps_test: SKIP: unprivileged user and mount namespaces are not allowed here"
    exit 77
  fi
  exec unshare --user --map-root-user --mount \
    env WEFT_OPTIONAL_DEPS_INSIDE=1 bash "${BASH_SOURCE[0]}" "$source"
fi

# --- inside the namespace: mounts made here vanish with it ---
fail() {
  echo "optional_deps_test: FAIL: $*" >&2
  exit 1
}
step() { echo "optional_deps_test: $*"; }

# The real directories are bind-mounted read-only under $mnt, which is never removed
# recursively: a recursive rm through a bind mount of /usr/lib would delete the system's files.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-optional-deps.XXXXXX")
mnt=$(mktemp -d "${TMPDIR:-/tmp}/weft-optional-deps-mnt.XXXXXX")
mounts=()
# cleanup unmounts in reverse order (the views first: every command runs through them), then
# removes the build dirs and views without crossing into any mount, then the mount points.
cleanup() {
  local i
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount "${mounts[$i]}" 2>/dev/null || true; done
  rm -rf --one-file-system "$tmp"
  rmdir "$mnt"/* "$mnt" 2>/dev/null || true
}
trap cleanup EXIT
cxx=${CXX:-c++}
hidden_re='^(lib(gtest|gmock|boost_fiber)[._]|(gtest|gmock)(_main)?\.pc$|GTest$|gtest$|gmock$|googletest$|boost_fiber-)'

# hide DIR shows DIR without the entries hidden_re matches: its real contents stay reachable
# through a read-only bind mount under $mnt, and a directory of symlinks to them (made in $tmp
# while DIR is still whole) is bind-mounted in DIR's place. Its pkgconfig and cmake
# subdirectories become such views too.
hide() {
  local dir=$1 entry name sub
  [[ -d $dir ]] || return 0
  local real=$mnt/real${#mounts[@]} view=$tmp/view${#mounts[@]}
  mkdir "$real" "$view"
  mount --bind "$dir" "$real"
  mounts+=("$real")
  mount -o remount,bind,ro "$real"
  for entry in "$real"/* "$real"/.[!.]*; do
    [[ -e $entry || -L $entry ]] || continue
    name=${entry##*/}
    [[ $name =~ $hidden_re ]] && continue
    if [[ -d $entry && ! -L $entry && ( $name == pkgconfig || $name == cmake ) ]]; then
      mkdir "$view/$name"
      for sub in "$entry"/*; do
        [[ -e $sub || -L $sub ]] || continue
        [[ ${sub##*/} =~ $hidden_re ]] && continue
        ln -s "$sub" "$view/$name/${sub##*/}"
      done
    else
      ln -s "$entry" "$view/$name"
    fi
  done
  mount --bind "$view" "$dir"
  mounts+=("$dir")
}

# Where the compiler finds libraries (and a multiarch dir), plus the usual pkg-config homes.
mapfile -t libdirs < <(
  "$cxx" -print-search-dirs | sed -n 's/^libraries: =//p' | tr ':' '\n' |
    while read -r d; do [[ -d $d ]] && realpath "$d"; done
  echo /usr/lib /usr/share /usr/local/lib /usr/local/share)
mapfile -t libdirs < <(printf '%s\n' "${libdirs[@]}" | sort -u)
for d in "${libdirs[@]}"; do
  # Only directories that hold something to hide; /usr/lib/gcc/... and the like stay as they are.
  if compgen -G "$d/libgtest*" >/dev/null || compgen -G "$d/libgmock*" >/dev/null ||
     compgen -G "$d/libboost_fiber*" >/dev/null || compgen -G "$d/pkgconfig/gtest*.pc" >/dev/null ||
     compgen -G "$d/cmake/GTest" >/dev/null; then
    hide "$d"
  fi
done
for d in /usr/src /usr/include /usr/local/include; do
  if compgen -G "$d/gtest" >/dev/null || compgen -G "$d/gmock" >/dev/null ||
     compgen -G "$d/googletest" >/dev/null; then
    hide "$d"
  fi
done
# Boost.Fiber's headers live in /usr/include/boost/fiber; its library is hidden above.
if [[ -d /usr/include/boost/fiber ]]; then
  mount -t tmpfs tmpfs /usr/include/boost/fiber
  mounts+=(/usr/include/boost/fiber)
fi

# The hiding must work, or the test proves nothing.
echo 'int main() { return 0; }' >"$tmp/probe.cpp"
for lib in gtest gmock boost_fiber; do
  if "$cxx" "$tmp/probe.cpp" -o "$tmp/probe" "-l$lib" 2>/dev/null; then
    fail "could not hide lib$lib from the compiler"
  fi
done
if echo '#include <gtest/gtest.h>' | "$cxx" -fsyntax-only -x c++ - 2>/dev/null; then
  fail "could not hide <gtest/gtest.h>"
fi
[[ ! -e /usr/src/googletest ]] || fail "could not hide /usr/src/googletest"
"$cxx" "$tmp/probe.cpp" -o "$tmp/probe" -luring -lboost_context ||
  fail "hiding the test dependencies hid the runtime's own (liburing, Boost.Context) too"
step "GoogleTest, GoogleMock and Boost.Fiber are hidden; liburing and Boost.Context are not"

# meson would otherwise ask cmake for GTest's package: offer it none.
cat >"$tmp/native.ini" <<EOF
[binaries]
cmake = 'false'
EOF

# setup NAME ARGS... runs meson setup into $tmp/NAME with ARGS; its output is in $tmp/NAME.log.
setup() {
  local name=$1
  shift
  meson setup "$tmp/$name" "$source" --native-file "$tmp/native.ini" -Db_lto=false "$@" \
    >"$tmp/$name.log" 2>&1
}

# --- 1. default options ---
if ! setup auto; then
  cat "$tmp/auto.log" >&2
  fail "meson setup failed without GoogleTest and Boost.Fiber (default options)"
fi
summary=$(sed -n '/Optional parts/,$p' "$tmp/auto.log")
echo "--- summary:"; echo "$summary"; echo "---"
grep -qE 'tests +: no: GoogleTest' <<<"$summary" ||
  fail "the summary does not say the tests were skipped for want of GoogleTest"
grep -qE 'spawn_bench \(Boost.Fiber\) *: no: Boost.Fiber not found' <<<"$summary" ||
  fail "the summary does not say spawn_bench was skipped for want of Boost.Fiber"
grep -qE '^ *bench +: YES' <<<"$summary" ||
  fail "the summary does not say the other benchmarks are built"
step "default setup succeeds and says what it skipped"

# --- 2. enabled with a missing dependency is an error that names it ---
setup tests-enabled -Dtests=enabled && fail "-Dtests=enabled succeeded without GoogleTest"
grep -q 'libgtest-dev' "$tmp/tests-enabled.log" || {
  cat "$tmp/tests-enabled.log" >&2
  fail "-Dtests=enabled failed without naming GoogleTest's package"
}
step "-Dtests=enabled fails: $(grep -m1 -i 'gtest' "$tmp/tests-enabled.log")"
setup bench-enabled -Dbench=enabled -Dtests=disabled &&
  fail "-Dbench=enabled succeeded without Boost.Fiber"
grep -q 'libboost-fiber-dev' "$tmp/bench-enabled.log" || {
  cat "$tmp/bench-enabled.log" >&2
  fail "-Dbench=enabled failed without naming Boost.Fiber's package"
}
step "-Dbench=enabled fails: $(grep -m1 -i 'fiber' "$tmp/bench-enabled.log")"

# --- 3. both switched off ---
if ! setup off -Dtests=disabled -Dbench=disabled; then
  cat "$tmp/off.log" >&2
  fail "meson setup -Dtests=disabled -Dbench=disabled failed"
fi
grep -qE 'tests +: no \(-Dtests=disabled\)' "$tmp/off.log" &&
  grep -qE 'bench +: no \(-Dbench=disabled\)' "$tmp/off.log" ||
  fail "with both disabled, the summary does not say so"
step "-Dtests=disabled -Dbench=disabled succeeds"
echo "optional_deps_test: PASS"
