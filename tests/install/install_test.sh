#!/usr/bin/env bash
# install_test.sh checks that an installed weft is usable on its own, and still after its install
# tree has been moved to another prefix.
#
# It stages `meson install` of a build dir into a temporary DESTDIR, then, using only the staged
# copy:
#   1. checks that weft.pc, the CMake package (<libdir>/cmake/weft), every public header and
#      weftrun's man page were installed, that no installed .pc or .cmake file names an absolute path (the configured
#      prefix, or the build machine's Boost archive), and that each header compiles on its own;
#   2. builds tests/install/hello.cpp with `pkg-config --cflags --libs weft` against the shared
#      library, runs it, and compares its output; if a static libweft.a was installed too, links
#      it with `pkg-config --static --libs weft` (only works if weft.pc lists the runtime's own
#      dependencies: liburing, Boost.Context, threads);
#   3. builds hello with CMake: find_package(weft 0.1 CONFIG REQUIRED), target_link_libraries(
#      hello PRIVATE weft::weft) (and weft::weft_static where libweft.a is installed), and checks that a request for an older 0.x series is refused;
#   4. runs the installed weftrun on a program (cat /proc/self/maps): it must preload the staged
#      libweft_preload.so; weftrun must not contain the configured library path;
#   5. moves the staged prefix to another directory (nothing remains where it was) and does 2, 3
#      and 4 again from there: plain pkg-config, pkg-config --define-prefix, CMake, weftrun; and
#      checks that weftrun, its library removed, fails with status 127, naming where it looked.
# No -std= flag is added: what weft.pc gives, on top of the compiler's default, must be enough.
#
# Usage: install_test.sh BUILD_DIR SOURCE_DIR   (meson passes both; see meson.build here)
# Exits 0 on success, 77 (meson's "skipped") if pkg-config or a C++ compiler is missing, or if
# the build uses a sanitizer. Without cmake the CMake steps are skipped, with a message.
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
have_cmake=true
if ! command -v cmake >/dev/null 2>&1; then
  have_cmake=false
  echo "install_test: cmake not found (Debian: cmake): the CMake package is not checked"
fi

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

# The configured directories, as meson knows them (absolute; libdir may be multiarch).
read -r prefix bindir libdir_rel includedir_rel < <(meson introspect "$build" --buildoptions |
  python3 -c 'import json, os.path, sys
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
p = o["prefix"]
print(p, os.path.join(p, o["bindir"]), os.path.relpath(os.path.join(p, o["libdir"]), p),
      os.path.relpath(os.path.join(p, o["includedir"]), p))')
staged_prefix=$stage$prefix
[[ -d "$staged_prefix" ]] || fail "nothing was installed under the prefix $prefix"

mapfile -t pcs < <(find "$stage" -name weft.pc -path '*/pkgconfig/*')
((${#pcs[@]} == 1)) || fail "expected one installed weft.pc, found ${#pcs[@]}" \
  "(packaging/meson.build writes it)"
[[ "${pcs[0]}" == "$staged_prefix/$libdir_rel/pkgconfig/weft.pc" ]] ||
  fail "weft.pc was installed at ${pcs[0]}, not in <libdir>/pkgconfig"
echo "--- installed weft.pc:"
cat "${pcs[0]}"
echo "---"

cmake_files=()
if [[ -d "$staged_prefix/$libdir_rel/cmake/weft" ]]; then
  mapfile -t cmake_files < <(find "$staged_prefix/$libdir_rel/cmake/weft" -name '*.cmake')
fi
((${#cmake_files[@]} == 2)) || fail "expected weftConfig.cmake and weftConfigVersion.cmake in" \
  "<libdir>/cmake/weft, found: ${cmake_files[*]:-nothing}"

# Relocatable means no installed package file names the configured prefix, or any absolute path
# other than the pkg-config and CMake machinery's own (a "-L/usr/lib/..."" or "/usr/lib/...a").
for f in "${pcs[0]}" "${cmake_files[@]}"; do
  if grep -nE "(^|[^A-Za-z0-9_.{}])/(usr|opt|home|tmp|lib|nix)/" "$f" | grep -v '^[0-9]*:#'; then
    fail "$f names an absolute path (above): an installed tree could not be moved"
  fi
  if [[ "$prefix" != / ]] && grep -n -F "$prefix" "$f" | grep -v '^[0-9]*:#'; then
    fail "$f names the configured prefix $prefix (above)"
  fi
done
step "weft.pc and the CMake package name no absolute path"

# weftrun's man page, where weftrun is (sanitizer builds have neither).
if [[ -x "$staged_prefix/${bindir#"$prefix"/}/weftrun" ]]; then
  [[ -n "$(find "$staged_prefix" -path '*/man1/weftrun.1')" ]] ||
    fail "weftrun was installed without its man page weftrun.1 (docs/meson.build)"
fi

# Every public header must be installed.
includedir=$staged_prefix/$includedir_rel
missing=0
for header in "$source"/include/weft/*.hpp; do
  name=$(basename "$header")
  if [[ ! -f "$includedir/weft/$name" ]]; then
    echo "install_test: public header weft/$name was not installed" >&2
    missing=1
  fi
done
((missing == 0)) || fail "public headers missing from the install (install_subdir in runtime/)"

expected=$'slept 60 ms: yes\norder: fast,slow\nresult: 42'

# check_hello EXE KIND LIBDIR runs a built hello and checks its output; LIBDIR, if not empty, is
# where it must have loaded libweft.so from (found by its rpath or LD_LIBRARY_PATH=LIBDIR).
check_hello() {
  local exe=$1 kind=$2 want_libdir=$3 out rc=0
  out=$(cd "$tmp" && LD_LIBRARY_PATH="$want_libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        timeout 60 "$exe" 2>"$tmp/hello.err") || rc=$?
  if ((rc != 0)) || [[ "$out" != "$expected" ]]; then
    echo "--- expected:"; echo "$expected"
    echo "--- got (exit status $rc):"; echo "$out"; cat "$tmp/hello.err"
    fail "[$kind] hello did not behave as expected"
  fi
  if [[ -n "$want_libdir" ]]; then
    local used
    used=$(LD_LIBRARY_PATH="$want_libdir" ldd "$exe" | awk '/libweft/ { print $3 }')
    [[ -n "$used" && "$(realpath "$used")" == "$(realpath "$want_libdir")"/* ]] ||
      fail "[$kind] hello loads libweft from '$used', not from $want_libdir"
  elif ldd "$exe" | grep -q libweft; then
    fail "[$kind] hello, linked statically, still loads libweft.so"
  fi
  step "[$kind] hello ran and printed what it should"
}

# pkgconfig_builds TAG PREFIX PKG_CONFIG_ARGS... builds and runs hello against the install at
# PREFIX with pkg-config (given the extra arguments), shared and, where installed, static.
pkgconfig_builds() {
  local tag=$1 at=$2
  shift 2
  local pc=("$pkg_config" "$@") lib=$at/$libdir_rel cflags libs
  export PKG_CONFIG_PATH=$lib/pkgconfig
  # The .pc file's paths are relative to itself: wherever it is, they must point there.
  local pc_libdir pc_includedir
  pc_libdir=$("${pc[@]}" --variable=libdir weft) || fail "[$tag] pkg-config cannot read weft.pc"
  pc_includedir=$("${pc[@]}" --variable=includedir weft)
  [[ "$(realpath "$pc_libdir")" == "$(realpath "$lib")" ]] ||
    fail "[$tag] weft.pc's libdir is $pc_libdir, not $lib"
  [[ "$(realpath "$pc_includedir")" == "$(realpath "$at/$includedir_rel")" ]] ||
    fail "[$tag] weft.pc's includedir is $pc_includedir, not $at/$includedir_rel"
  read -r -a cflags <<<"$("${pc[@]}" --cflags weft)"
  if [[ $tag == staged ]]; then
    local header
    for header in "$at/$includedir_rel"/weft/*.hpp; do
      echo "#include <weft/$(basename "$header")>" | "$cxx" -fsyntax-only -x c++ "${cflags[@]}" - \
        || fail "installed header <weft/$(basename "$header")> does not compile on its own"
    done
    step "each installed header compiles alone"
  fi
  if [[ -e $lib/libweft.so ]]; then
    read -r -a libs <<<"$("${pc[@]}" --libs weft)"
    step "[$tag pkg-config $*] $cxx hello.cpp ${cflags[*]} ${libs[*]}"
    "$cxx" -O1 -o "$tmp/hello-$tag" "$source/tests/install/hello.cpp" "${cflags[@]}" "${libs[@]}" \
      || fail "[$tag pkg-config] building hello.cpp against the installed weft failed"
    check_hello "$tmp/hello-$tag" "$tag pkg-config" "$lib"
  fi
  if [[ -e $lib/libweft.a ]]; then
    read -r -a libs <<<"$("${pc[@]}" --static --libs weft)"
    # -l:libweft.a picks the archive even when libweft.so sits beside it.
    local i
    for i in "${!libs[@]}"; do
      [[ "${libs[$i]}" != -lweft ]] || libs[i]=-l:libweft.a
    done
    step "[$tag pkg-config --static $*] $cxx hello.cpp ${cflags[*]} ${libs[*]}"
    "$cxx" -O1 -o "$tmp/hello-$tag-static" "$source/tests/install/hello.cpp" "${cflags[@]}" \
      "${libs[@]}" || fail "[$tag pkg-config --static] linking hello.cpp with libweft.a failed"
    check_hello "$tmp/hello-$tag-static" "$tag static" ""
  elif [[ $tag == staged ]]; then
    step "no libweft.a installed (default_library=shared): static link not checked"
  fi
  unset PKG_CONFIG_PATH
}

# cmake_build TAG PREFIX configures and builds hello with CMake against the install at PREFIX
# and runs it; it also checks that find_package(weft 0.0.1) refuses this 0.1 install.
cmake_build() {
  local tag=$1 at=$2
  $have_cmake || return 0
  local src=$tmp/cmake-src bin=$tmp/cmake-$tag
  mkdir -p "$src"
  cp "$source/tests/install/hello.cpp" "$src/"
  cat >"$src/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.16)
project(hello CXX)
find_package(weft ${WANT} CONFIG REQUIRED)
add_executable(hello hello.cpp)
target_link_libraries(hello PRIVATE weft::weft)
if(TARGET weft::weft_static)
  add_executable(hello_static hello.cpp)
  target_link_libraries(hello_static PRIVATE weft::weft_static)
endif()
CMAKE
  step "[$tag cmake] cmake -S ... -DCMAKE_PREFIX_PATH=$at"
  if ! cmake -S "$src" -B "$bin" -DCMAKE_PREFIX_PATH="$at" -DCMAKE_CXX_COMPILER="$cxx" \
       -DWANT=0.1 >"$tmp/cmake.log" 2>&1 ||
     ! cmake --build "$bin" >>"$tmp/cmake.log" 2>&1; then
    cat "$tmp/cmake.log" >&2
    fail "[$tag cmake] building hello with find_package(weft) and weft::weft failed"
  fi
  local weft_dir
  weft_dir=$(sed -n 's/^weft_DIR:PATH=//p' "$bin/CMakeCache.txt")
  [[ "$(realpath "$weft_dir")" == "$(realpath "$at/$libdir_rel/cmake/weft")" ]] ||
    fail "[$tag cmake] CMake found weft in $weft_dir, not under $at"
  # weft::weft is the shared library, or the archive where only that was installed.
  if [[ -e $at/$libdir_rel/libweft.so ]]; then
    check_hello "$bin/hello" "$tag cmake" "$at/$libdir_rel"
  else
    check_hello "$bin/hello" "$tag cmake (weft::weft is the archive)" ""
  fi
  if [[ -e $at/$libdir_rel/libweft.a ]]; then
    [[ -x $bin/hello_static ]] || fail "[$tag cmake] libweft.a is installed but not weft::weft_static"
    check_hello "$bin/hello_static" "$tag cmake static" ""
  fi
  # 0.0.1 <= 0.1.0, but while weft is 0.x each minor version is a series of its own.
  if cmake -S "$src" -B "$tmp/cmake-$tag-old" -DCMAKE_PREFIX_PATH="$at" \
       -DCMAKE_CXX_COMPILER="$cxx" -DWANT=0.0.1 >"$tmp/cmake.log" 2>&1; then
    fail "[$tag cmake] find_package(weft 0.0.1) accepted a 0.1 install (0.x: the minor is the series)"
  fi
  step "[$tag cmake] find_package(weft 0.0.1) refuses this 0.1 install, as it should"
}

# weftrun_runs TAG PREFIX runs PREFIX's weftrun on cat /proc/self/maps: the program must run
# and have PREFIX's libweft_preload.so mapped.
weftrun_runs() {
  local tag=$1 at=$2 maps rc=0
  local exe=$at/${bindir#"$prefix"/}/weftrun
  [[ -x $exe ]] || { step "no weftrun installed (sanitizer build?): not checked"; return 0; }
  maps=$(env -u LD_PRELOAD timeout 60 "$exe" -- cat /proc/self/maps 2>"$tmp/weftrun.err") || rc=$?
  if ((rc != 0)); then
    cat "$tmp/weftrun.err" >&2
    fail "[$tag weftrun] $exe -- cat /proc/self/maps exited with status $rc"
  fi
  local mapped
  mapped=$(awk '/libweft_preload\.so/ { print $NF; exit }' <<<"$maps")
  [[ -n $mapped ]] || fail "[$tag weftrun] cat ran without libweft_preload.so mapped"
  [[ "$mapped" == "$(realpath "$at")"/* ]] ||
    fail "[$tag weftrun] the program preloaded $mapped, not the library under $at"
  step "[$tag weftrun] cat ran under weftrun with $mapped"
}

# --- 2-4. the staged install, where it was installed ---
pkgconfig_builds staged "$staged_prefix"
cmake_build staged "$staged_prefix"
weftrun_runs staged "$staged_prefix"
if [[ -x "$staged_prefix/${bindir#"$prefix"/}/weftrun" ]] &&
   grep -qaF "$prefix/$libdir_rel" "$staged_prefix/${bindir#"$prefix"/}/weftrun"; then
  fail "weftrun contains the configured library directory $prefix/$libdir_rel:" \
    "it must find its library relative to itself"
fi

# --- 5. the same tree moved elsewhere: nothing is left where it was ---
moved=$tmp/elsewhere/weft-moved
mkdir -p "$(dirname "$moved")"
mv "$staged_prefix" "$moved"
rm -rf "$stage"
step "moved the installed tree to $moved and removed the original"
pkgconfig_builds moved "$moved"
pkgconfig_builds moved-define-prefix "$moved" --define-prefix
cmake_build moved "$moved"
weftrun_runs moved "$moved"

weftrun_moved=$moved/${bindir#"$prefix"/}/weftrun
if [[ -x $weftrun_moved ]]; then
  rm "$moved/$libdir_rel/libweft_preload.so"
  rc=0
  env -u LD_PRELOAD "$weftrun_moved" -- true 2>"$tmp/weftrun.err" || rc=$?
  ((rc == 127)) || fail "weftrun without its library exited with $rc, not 127"
  grep -qF "$moved/${bindir#"$prefix"/}/" "$tmp/weftrun.err" ||
    fail "weftrun's error does not list where it looked: $(cat "$tmp/weftrun.err")"
  step "weftrun without its library: status 127, and says where it looked:"
  cat "$tmp/weftrun.err"
fi

echo "install_test: PASS"
