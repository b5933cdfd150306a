#!/usr/bin/env bash
# deps.sh installs the Debian packages weft needs to build, test, benchmark and demo.
#
# It asks dpkg which packages are missing and does nothing else when none are, so it is cheap to
# run before every build. Otherwise it installs the missing ones with apt-get (through sudo when
# not root), refreshing the package lists first only if the plain install fails.
#
# Usage: scripts/deps.sh [--check]
#   --check   only report what is missing; exit 1 if anything is.
set -euo pipefail

# kPackages lists what the project needs, with the reason for each.
kPackages=(
  build-essential       # g++ and make
  meson                 # build system (>= 1.0)
  ninja-build           # meson's backend
  pkg-config            # finds liburing; the install test uses weft.pc
  cmake                 # the install test builds a program with find_package(weft) (skips without)
  groff-base            # the man test renders docs/weftrun.1 with groff -ww (skips without)
  liburing-dev          # io_uring reactor
  libelf-dev            # weftrun reads a program's ELF headers (a static program ignores LD_PRELOAD)
  libboost-context-dev  # fiber context switches
  libboost-fiber-dev    # comparison benchmark
  libdw-dev             # elfutils' libdw headers: symbolised stacks in stall reports and fiber dumps (libdw1, loaded with dlopen at the first report, comes with it)
  libgtest-dev          # unit tests (GoogleTest)
  libgmock-dev          # unit tests (GoogleMock matchers)
  gnuplot-nox           # benchmark plots
  procps                # ps, pgrep for tests and the demo
  util-linux            # taskset pins server and client in the demo and benchmarks
  time                  # GNU time: peak RSS of the programs bench/shim_bench.sh runs
  python3               # test summary (scripts/test_summary.py)
  libpython3.11-testsuite  # CPython's test_socket sendfile tests (cpython_sendfile), test_signal and test_threadsignals (cpython_signal_*, cpython_threadsignals_*) under weftrun
  openssh-client        # ssh_closefrom: a real program that closes every fd above 2 (skips without)
  curl                  # real_http, real_lighttpd: the client of the real servers under weftrun
  git                   # real_git: git clone of a local repository (children, pipes, threads)
  redis-server          # real_redis: a jemalloc-linked server with background threads
  redis-tools           # real_redis: redis-cli, jemalloc-linked too
  xz-utils              # real_xz: xz -T4, liblzma's worker threads
  zstd                  # real_zstd: zstd -T4, its own thread pool
  pigz                  # real_pigz: pigz -p 4, a pthread per block
  daemonize             # real_daemonize: a daemonizer that closes every fd above 2
  lighttpd              # real_lighttpd: an event-loop server that answers with sendfile(2)
  socat                 # real_socat: a relay that forks a child per connection
  ripgrep               # real_rg: a Rust program
  nginx-light           # real_nginx: a master in sigsuspend forking workers, SIGHUP reload, SIGQUIT
  tini                  # real_tini: an init that forwards signals from sigtimedwait
  dumb-init             # real_dumbinit: an init that forwards signals from sigwait
  gdb                   # tests/gdb: weft-gdb.py (info fibers, fiber bt) over live processes and core files (skipped without)
  valgrind              # its headers let the runtime register fiber stacks; memcheck suite
  rustc                 # builds tests/shim/rust_sync.rs (Rust's std::sync on futexes under weftrun); tls_rust.rs (real_rust_threads: std keeps the current thread in TLS)
  libjemalloc2          # the shim's differential suite runs again with jemalloc preloaded
  libjemalloc-dev       # a shim test program linked with -ljemalloc
  libtcmalloc-minimal4  # the shim's differential suite runs again with tcmalloc preloaded
  libmimalloc2.0        # the shim's differential suite runs again with mimalloc preloaded
  openjdk-17-jdk-headless  # real_java_*: HotSpot keeps its current thread in TLS; the JDK (77 MB over the JRE's 188 MB) for the source launcher's compiler
  ruby                  # real_ruby_threads: Ruby keeps each thread's execution context in TLS (~28 MB with libruby3.1)
  liburcu-dev           # real_urcu_threads: liburcu keeps each reader's registration in TLS (1.4 MB)
  golang-go             # bench/go_echo: the Go echo server (a goroutine per connection) echo_bench.sh builds and measures weft against; skipped without it
)

check_only=false
case "${1:-}" in
  --check) check_only=true ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

# missing_packages prints, one per line, each needed package dpkg does not report as installed.
missing_packages() {
  # One dpkg-query call for all packages keeps the common case fast. Unknown packages make
  # dpkg-query exit non-zero and print nothing for them, so anything not listed as "ii" counts
  # as missing.
  local installed
  installed=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "${kPackages[@]}" 2>/dev/null |
              awk '$1 == "ii" { print $2 }' | sed 's/:.*//' || true)
  local p
  for p in "${kPackages[@]}"; do
    grep -qxF "$p" <<<"$installed" || echo "$p"
  done
}

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "deps.sh: dpkg-query not found; this script supports Debian and Ubuntu only." >&2
  echo "deps.sh: install by hand: ${kPackages[*]}" >&2
  exit 1
fi

mapfile -t missing < <(missing_packages)
if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "deps.sh: missing packages: ${missing[*]}"
if $check_only; then
  exit 1
fi

# Installing needs root: use sudo when we are not root, and say clearly when neither works.
sudo=()
if ((EUID != 0)); then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
  elif command -v sudo >/dev/null 2>&1 && [[ -t 0 ]]; then
    sudo=(sudo)  # interactive: let sudo ask for the password
  else
    echo "deps.sh: installing packages needs root, and sudo is not available without a password." >&2
    echo "deps.sh: run as root:  apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
apt_get=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q
         -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# run_quiet runs a command with its output in $log, and shows that output only if it fails.
run_quiet() {
  local rc=0
  "$@" >"$log" 2>&1 || rc=$?
  ((rc == 0)) && return 0
  echo "deps.sh: failed (exit $rc): $*" >&2
  tail -n 30 "$log" >&2
  return "$rc"
}

# Try straight away first: on a machine whose lists are fresh this skips a slow network round.
# A fresh machine or container often has no lists at all, so update first in that case.
if compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null &&
   "${apt_get[@]}" install --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
  :
else
  echo "deps.sh: refreshing package lists (apt-get update)"
  run_quiet "${apt_get[@]}" update
  run_quiet "${apt_get[@]}" install --no-install-recommends "${missing[@]}"
fi

mapfile -t still < <(missing_packages)
if ((${#still[@]} != 0)); then
  echo "deps.sh: still missing after install: ${still[*]}" >&2
  exit 1
fi
echo "deps.sh: installed ${missing[*]}"
