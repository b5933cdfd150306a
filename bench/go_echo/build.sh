#!/usr/bin/env bash
# build.sh: builds the Go reference echo server into a build directory.
#
#   bench/go_echo/build.sh BUILD_DIR     writes BUILD_DIR/bench/go_echo/go_echo
#
# echo_bench.sh runs this, not meson: a machine without Go must still build and test weft, and
# only the benchmark needs the Go server. Exit status 3 means there is no `go` command (the
# caller skips the server); any other failure is a real one. GO names the go command to use
# (default: go from PATH).
#
# Everything the go command writes stays under BUILD_DIR/bench/go_echo: its build cache, its
# GOPATH (the module cache; there are no third-party modules), and the configuration and
# telemetry files newer Go versions keep under the user's config directory (XDG_CONFIG_HOME);
# -buildvcs=false keeps it from running git in the source tree (git status can write the index).
# CI runs as root with HOME possibly unset, and the build must not depend on it either. The
# build is offline: GOPROXY=off, and GOTOOLCHAIN=local keeps a newer go command from fetching
# another toolchain. The go command's cache makes a rebuild of an unchanged source quick.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${1:?usage: build.sh BUILD_DIR}

go=${GO:-go}
if ! command -v "$go" >/dev/null 2>&1; then
  echo "go_echo/build.sh: no go command '$go' (install golang-go: make deps)" >&2
  exit 3
fi

mkdir -p "$build/bench/go_echo"
dir=$(cd "$build/bench/go_echo" && pwd)
mkdir -p "$dir/cache" "$dir/gopath" "$dir/config" "$dir/tmp"

cd "$here"
env GOCACHE="$dir/cache" GOPATH="$dir/gopath" GOMODCACHE="$dir/gopath/pkg/mod" \
  XDG_CONFIG_HOME="$dir/config" XDG_CACHE_HOME="$dir/cache" GOTMPDIR="$dir/tmp" \
  GOENV=off GOTELEMETRY=off GOFLAGS= GOTOOLCHAIN=local GOPROXY=off GOSUMDB=off \
  GO111MODULE=on CGO_ENABLED=0 \
  "$go" build -trimpath -buildvcs=false -o "$dir/go_echo.new" .
mv -f "$dir/go_echo.new" "$dir/go_echo"
