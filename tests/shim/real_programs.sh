#!/usr/bin/env bash
# real_programs.sh: unmodified programs from Debian's packages give the same output under weftrun
# as natively. Each is one test (meson registers real_NAME for each NAME below), run on one
# carrier unless told otherwise, where a call that held the carrier instead of yielding would hang
# it (timeout(1) bounds that at 60 s: status 124, which no native run has), and each exercises
# something real programs do that a small test program might not:
#   sort       GNU sort --parallel=4: threads on mutexes and condition variables (coreutils)
#   sha256sum  a plain single-threaded reader of a file
#   http       CPython's threaded http.server answering curl, both under weftrun
#   redis      redis-server and redis-cli, both linked with jemalloc: the allocator calls
#              pthread_mutex_trylock from inside malloc; the server has background threads and
#              an epoll loop; the client talks to it over a unix socket
#   xz         xz -T4 (liblzma's worker threads, condition variables), compress and decompress
#   zstd       zstd -T4 (its own thread pool), compress and decompress
#   pigz       pigz -p 4 (pthreads, one per block), compress and decompress
#   daemonize  daemonize(1): forks, calls setsid, closes every fd above 2 and execs a command
#              that writes a file
#   lighttpd   lighttpd serving a static file with sendfile(2) to curl (an event loop)
#   git        git clone of a local repository: git-upload-pack and index-pack as children,
#              pipes between them, index-pack's threads, waitpid
#   make       make -j4 with output sync: children, the jobserver's pipe, waitpid
#   socat      a socat echo service that forks a child per connection (EXEC:cat), and a socat
#              client, both under weftrun, over a unix socket
#   rg         ripgrep (a Rust program) searching this source tree with one thread (a Rust
#              program with several threads needs per-thread TLS: issue #13)
#   nginx      nginx's master process blocks its signals and waits in sigsuspend; it forks two
#              workers (epoll loops with signal handlers); curl fetches static files, SIGHUP
#              reloads a changed configuration (new workers, the old ones leave gracefully),
#              SIGQUIT ends master and workers; the exit status and the error log's signal
#              notices are compared
#   tini       tini -s, a subreaper init that blocks every signal and waits in sigtimedwait,
#              forwards SIGHUP and SIGTERM to a shell (run without the shim) whose traps print
#              them; it exits with the child's status
#   dumbinit   dumb-init, the same in sigwait (rt_sigtimedwait without a timeout), forwarding to
#              the child's process group from a new session
#   dash       dash running an entrypoint script's idiom: traps for SIGHUP and SIGTERM, a
#              background sleep, `wait` in a loop; dash's wait blocks every signal with
#              sigprocmask, sigsuspends with the old mask and unblocks with sigsetmask(0)
# Runtimes that keep the running thread's identity in thread-local storage, set once when a thread
# starts and trusted ever after (issue 13; meson registers real_NAME_1c and real_NAME_2c, on one
# and two carriers, in suite tls). Each test program has several threads that block in the ways
# the runtime offers and check after each block that they are still themselves:
#   rust_threads  tls_rust.rs, built by the build with Debian's rustc (PROGRAM): std::thread's
#                 handle and thread_local!s with destructors, mpsc, Mutex and Condvar, TCP, park,
#                 a panic caught per thread, scoped threads
#   java_version  java --version, HotSpot starting up (its GC and compiler threads)
#   java_threads  TlsThreads.java through the JDK's source launcher (javac runs in the VM first):
#                 ThreadLocal, monitors, BlockingQueue, ReentrantLock, a pipe, an executor, park
#   ruby_threads  tls_ruby.rb: Thread.current, fiber-locals and thread variables, Queue,
#                 SizedQueue, Mutex and ConditionVariable, a pipe, a Fiber in a thread, an
#                 exception taken back by Thread#value
#   urcu_threads  tls_urcu.c, built against Debian's liburcu (PROGRAM): reader registration and
#                 read-side nesting in TLS, synchronize_rcu, call_rcu's thread, rcu_barrier
# Skips (77) with a message when the program's package is missing (scripts/deps.sh installs them).
# Usage: real_programs.sh WEFTRUN DIFFERENTIAL_SH NAME [CARRIERS [PROGRAM]]
#   CARRIERS  weftrun's --carriers (default 1); PROGRAM: the test program the build made for
#             NAME, empty when the build could not make it (its package is missing)
set -uo pipefail
weftrun=$(realpath "$1") differential=$(realpath "$2") name=$3 carriers=${4:-1} program=${5:-}
[[ -n $program ]] && program=$(realpath "$program")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tree=$(cd "$here/../.." && pwd)

out=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$out"
}
trap cleanup EXIT

# need PROGRAM... skips the test unless every program is installed.
need() {
  local p
  for p in "$@"; do
    if ! command -v "$p" >/dev/null 2>&1; then
      echo "SKIP: $p is not installed (scripts/deps.sh installs it)"
      exit 77
    fi
  done
}

# same NATIVE_FILE WEFT_FILE WHAT compares two captured outputs.
same() {
  if cmp -s "$1" "$2"; then
    echo "ok: $3 under weftrun gives what it gives natively ($(wc -l <"$1") lines)"
    return 0
  fi
  echo "FAIL: $3 differs (native < > weftrun):"
  diff "$1" "$2" | head -40
  return 1
}

# diffrun PROGRAM ARGS... runs a program natively and under weftrun (differential.sh).
diffrun() {
  bash "$differential" "$weftrun" --carriers "$carriers" -- timeout 60 "$@"
}

# built WHAT: skips the test unless the build made its PROGRAM (WHAT says what was missing).
built() {
  if [[ -z $program ]]; then
    echo "SKIP: $1 is not installed, so the build did not make the test program (scripts/deps.sh installs it)"
    exit 77
  fi
}

# numbers writes a fixed pseudo-random permutation of N numbers to FILE.
numbers() {
  awk -v n="$1" 'BEGIN { x = 12345; for (i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2147483648; print x } }' >"$2"
}

# free_port prints a TCP port on 127.0.0.1 that was free a moment ago.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for CONDITION... retries a shell condition for up to 60 s.
wait_for() {
  local _
  for _ in $(seq 1 1200); do
    eval "$*" && return 0
    sleep 0.05
  done
  echo "FAIL: timed out waiting for: $*"
  return 1
}

# roundtrip COMPRESSOR: compress and decompress a file with the same threaded tool; the digest of
# the round trip and of the compressed stream (deterministic for these tools) are compared.
roundtrip() {
  numbers 400000 "$out/in"
  local run
  for run in native weft; do
    local pre=()
    [[ $run == weft ]] && pre=("$weftrun" --carriers "$carriers" --)
    timeout 60 "${pre[@]}" "$@" -c <"$out/in" >"$out/$run.z" &&
      timeout 60 "${pre[@]}" "$@" -d -c <"$out/$run.z" >"$out/$run.back" || {
      echo "FAIL: $* failed ($run)"; return 1; }
    { sha256sum <"$out/$run.z"; cmp -s "$out/in" "$out/$run.back" && echo "round trip ok"; } \
      >"$out/$run.sum"
  done
  same "$out/native.sum" "$out/weft.sum" "$*"
}

# trapper WHO COMMAND...: COMMAND followed by -c SCRIPT runs a shell script that traps SIGHUP and
# SIGTERM and waits for a background sleep with the wait builtin (an entrypoint script's idiom);
# the test sends SIGHUP to the shell (WHO=self) or to the init it runs under (WHO=parent), waits
# until the shell printed it, then sends SIGTERM, and compares what the shell printed and how
# COMMAND ended.
trapper() {
  local who=$1 run target
  shift
  for run in native weft; do
    pre=()
    [[ $run == weft ]] && pre=("$weftrun" --carriers "$carriers" --)
    rm -f "$out/ready"
    # The sleep ignores HUP and TERM (inherited from the shell's empty traps), so a signal sent
    # to the whole process group (dumb-init's way) reaches only the shell's traps; the shell
    # then ends it with SIGKILL. The ready file holds the pid to signal.
    timeout -k 10 60 "${pre[@]}" "$@" -c '
      trap "" HUP TERM
      sleep 120 & s=$!
      trap "echo shell got HUP" HUP
      trap "echo shell got TERM; kill -KILL \$s; exit 3" TERM
      if [ "$1" = self ]; then echo $$; else echo $PPID; fi >"$0.tmp" && mv "$0.tmp" "$0"
      while :; do wait $s; done' "$out/ready" "$who" >"$out/$run" 2>&1 &
    pids+=($!)
    wait_for "[[ -s '$out/ready' ]]" || exit 1
    target=$(cat "$out/ready")
    kill -HUP "$target"
    wait_for "grep -q 'shell got HUP' '$out/$run'" || { cat "$out/$run"; exit 1; }
    kill -TERM "$target"
    wait "${pids[-1]}"
    echo "$1 exit: $?" >>"$out/$run"
    unset 'pids[-1]'
  done
  same "$out/native" "$out/weft" "$1 with a shell trapping SIGHUP and SIGTERM"
}

case $name in
  sort)
    need sort
    numbers 300000 "$out/numbers"
    diffrun sort -n --parallel=4 -S 64M "$out/numbers"
    ;;
  sha256sum)
    need sha256sum
    numbers 300000 "$out/numbers"
    diffrun sha256sum "$out/numbers"
    ;;
  http)
    need python3 curl
    seq 1 200000 >"$out/numbers"
    for run in native weft; do
      pre=()
      [[ $run == weft ]] && pre=("$weftrun" --carriers "$carriers" --)
      (cd "$out" && exec timeout 120 "${pre[@]}" python3 -u -m http.server --bind 127.0.0.1 0 \
        >"$out/server.out" 2>"$out/server.err") &
      pids+=($!)
      wait_for "grep -q 'Serving HTTP' '$out/server.out'" || exit 1
      port=$(sed -n 's/^Serving HTTP on 127.0.0.1 port \([0-9]*\) .*/\1/p' "$out/server.out")
      {
        timeout 60 "${pre[@]}" curl -s "http://127.0.0.1:$port/numbers" | sha256sum
        timeout 60 "${pre[@]}" curl -s -o /dev/null -w '%{http_code}\n' \
          "http://127.0.0.1:$port/missing"
        # Eight at once: the server answers each on its own thread.
        clients=()
        for i in 1 2 3 4 5 6 7 8; do
          timeout 60 "${pre[@]}" curl -s "http://127.0.0.1:$port/numbers" |
            sha256sum >"$out/par.$i" &
          clients+=($!)
        done
        wait "${clients[@]}"
        cat "$out"/par.* | sort | uniq -c
      } >"$out/$run"
      kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null
      unset 'pids[-1]'
    done
    same "$out/native" "$out/weft" "http.server + curl"
    ;;
  redis)
    need redis-server redis-cli
    for run in native weft; do
      pre=()
      [[ $run == weft ]] && pre=("$weftrun" --carriers "$carriers" --)
      sock=$out/$run.sock
      timeout 120 "${pre[@]}" redis-server --port 0 --unixsocket "$sock" --save "" \
        --appendonly no --daemonize no --dir "$out" --loglevel warning \
        >"$out/$run.server.log" 2>&1 &
      pids+=($!)
      wait_for "[[ -S '$sock' ]] && redis-cli -s '$sock' ping >/dev/null 2>&1" || exit 1
      {
        for i in $(seq 1 300); do echo "SET key:$i value-$((i * 7))"; done
        echo "INCRBY counter 41"; echo "INCR counter"; echo "LPUSH list a b c"
        echo "LRANGE list 0 -1"; echo "DBSIZE"; echo "GET key:123"; echo "MGET key:1 key:300"
      } | timeout 60 "${pre[@]}" redis-cli -s "$sock" >"$out/$run" 2>&1
      timeout 60 "${pre[@]}" redis-cli -s "$sock" --scan --pattern 'key:2*' | sort >>"$out/$run"
      timeout 60 "${pre[@]}" redis-cli -s "$sock" shutdown nosave >/dev/null 2>&1
      wait "${pids[-1]}"
      echo "server exit: $?" >>"$out/$run"
      unset 'pids[-1]'
    done
    same "$out/native" "$out/weft" "redis-server + redis-cli (jemalloc)"
    ;;
  xz)
    need xz
    roundtrip xz -T4 -6
    ;;
  zstd)
    need zstd
    roundtrip zstd -q -T4 -3
    ;;
  pigz)
    need pigz
    roundtrip pigz -p 4 -n
    ;;
  daemonize)
    need daemonize
    for run in native weft; do
      pre=()
      [[ $run == weft ]] && pre=("$weftrun" --carriers "$carriers" --)
      # The daemon closes every fd above 2 (daemonize does), then its command works: threads of
      # sort, a pipe to sha256sum, its files.
      numbers 100000 "$out/numbers"
      timeout 60 "${pre[@]}" daemonize -c "$out" -p "$out/$run.pid" -o "$out/$run.log" \
        -e "$out/$run.err" /bin/sh -c "sort -n --parallel=2 numbers | sha256sum; echo done" || {
        echo "FAIL: daemonize failed ($run)"; exit 1; }
      wait_for "grep -q done '$out/$run.log'" || { cat "$out/$run.err"; exit 1; }
      cp "$out/$run.log" "$out/$run"
    done
    same "$out/native" "$out/weft" "daemonize"
    ;;
  lighttpd)
    need lighttpd curl python3
    head -c 3000000 /dev/urandom >"$out/blob"
    for run in native weft; do
      pre=()
      [[ $run == weft ]] && pre=("$weftrun" --carriers "$carriers" --)
      port=$(free_port)
      cat >"$out/$run.conf" <<EOF
server.document-root = "$out"
server.bind = "127.0.0.1"
server.port = $port
server.errorlog = "$out/$run.errorlog"
server.network-backend = "sendfile"
index-file.names = ( "index.html" )
mimetype.assign = ( "" => "application/octet-stream" )
EOF
      timeout 120 "${pre[@]}" lighttpd -D -f "$out/$run.conf" >"$out/$run.server.out" 2>&1 &
      pids+=($!)
      wait_for "curl -s -o /dev/null 'http://127.0.0.1:$port/'" || { cat "$out/$run.server.out"; exit 1; }
      {
        timeout 60 "${pre[@]}" curl -s "http://127.0.0.1:$port/blob" | sha256sum
        timeout 60 "${pre[@]}" curl -s -o /dev/null -w '%{http_code}\n' \
          "http://127.0.0.1:$port/missing"
        timeout 60 "${pre[@]}" curl -s -r 1000-1999 "http://127.0.0.1:$port/blob" | sha256sum
      } >"$out/$run"
      kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null
      unset 'pids[-1]'
    done
    same "$out/native" "$out/weft" "lighttpd (sendfile) + curl"
    ;;
  git)
    need git
    export GIT_CONFIG_NOSYSTEM=1 HOME=$out GIT_AUTHOR_DATE='2026-01-01T00:00:00Z'
    export GIT_COMMITTER_DATE=$GIT_AUTHOR_DATE
    git init -q "$out/src" && cd "$out/src" || exit 1
    git config user.email t@example.org && git config user.name t
    for i in $(seq 1 40); do
      numbers $((i * 500)) "file$((i % 7))"
      git add . && git commit -q -m "commit $i"
    done
    cd "$out" || exit 1
    for run in native weft; do
      pre=()
      [[ $run == weft ]] && pre=("$weftrun" --carriers "$carriers" --)
      timeout 60 "${pre[@]}" git -c pack.threads=4 clone -q --no-local "file://$out/src" \
        "$out/$run.clone" || { echo "FAIL: git clone ($run)"; exit 1; }
      {
        timeout 60 "${pre[@]}" git -C "$out/$run.clone" log --format='%H %s' | head -5
        timeout 60 "${pre[@]}" git -C "$out/$run.clone" fsck --no-progress 2>&1 && echo fsck ok
        timeout 60 "${pre[@]}" git -C "$out/$run.clone" count-objects -v | grep -v size
      } >"$out/$run"
    done
    same "$out/native" "$out/weft" "git clone"
    ;;
  make)
    need make
    mkdir "$out/proj"
    {
      echo 'all: $(patsubst %,out/%.sum,$(shell seq 1 24))'
      echo 'out/%.sum: | out'
      printf '\t@seq 1 $$((20000 * $*)) | sha256sum | sed "s/^/$*: /" > $@\n'
      printf '\t@echo built $*\n'
      echo 'out:'
      printf '\t@mkdir -p out\n'
    } >"$out/proj/Makefile"
    for run in native weft; do
      pre=()
      [[ $run == weft ]] && pre=("$weftrun" --carriers "$carriers" --)
      rm -rf "$out/proj/out"
      (cd "$out/proj" && timeout 60 "${pre[@]}" make -s -j4 --output-sync=target) |
        sort >"$out/$run" || { echo "FAIL: make ($run)"; exit 1; }
      cat "$out/proj/out"/*.sum | sort >>"$out/$run"
    done
    same "$out/native" "$out/weft" "make -j4"
    ;;
  socat)
    need socat
    numbers 20000 "$out/numbers"
    for run in native weft; do
      pre=()
      [[ $run == weft ]] && pre=("$weftrun" --carriers "$carriers" --)
      sock=$out/$run.sock
      timeout 120 "${pre[@]}" socat UNIX-LISTEN:"$sock",fork EXEC:cat >"$out/$run.server" 2>&1 &
      pids+=($!)
      wait_for "[[ -S '$sock' ]]" || exit 1
      {
        for i in 1 2 3; do
          timeout 60 "${pre[@]}" socat -t 5 - UNIX-CONNECT:"$sock" <"$out/numbers" | sha256sum
        done
      } >"$out/$run"
      kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null
      unset 'pids[-1]'
    done
    same "$out/native" "$out/weft" "socat echo service (fork per connection)"
    ;;
  rg)
    need rg
    # Sorted: ripgrep prints files in the order its walker finds them.
    for run in native weft; do
      pre=()
      [[ $run == weft ]] && pre=("$weftrun" --carriers "$carriers" --)
      timeout 60 "${pre[@]}" rg --threads 1 --no-config -c 'weft' "$tree/runtime" "$tree/shim" |
        sort >"$out/$run"
    done
    same "$out/native" "$out/weft" "ripgrep"
    ;;
  nginx)
    need nginx curl python3
    chmod 755 "$out"  # the workers run as nobody when the test runs as root
    mkdir -p "$out/www" "$out/tmp"
    head -c 1000000 /dev/urandom >"$out/www/blob"
    echo hello >"$out/www/index.html"
    chmod -R a+rX "$out/www"
    for run in native weft; do
      pre=()
      [[ $run == weft ]] && pre=("$weftrun" --carriers "$carriers" --)
      port=$(free_port)
      rm -f "$out/nginx.pid"
      conf=$out/$run.conf
      cat >"$conf" <<EOF
worker_processes 2;
pid $out/nginx.pid;
error_log $out/$run.log notice;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $out/tmp/body;
  proxy_temp_path $out/tmp/proxy;
  fastcgi_temp_path $out/tmp/fastcgi;
  uwsgi_temp_path $out/tmp/uwsgi;
  scgi_temp_path $out/tmp/scgi;
  server { listen 127.0.0.1:$port; root $out/www; location = /version { return 200 "v1\n"; } }
}
EOF
      timeout -k 10 120 "${pre[@]}" nginx -e "$out/$run.log" -p "$out" -c "$conf" -g 'daemon off;' \
        >"$out/$run.server.out" 2>&1 &
      pids+=($!)
      wait_for "[[ -s '$out/nginx.pid' ]] && curl -s -o /dev/null 'http://127.0.0.1:$port/'" ||
        { cat "$out/$run.server.out" "$out/$run.log"; exit 1; }
      master=$(cat "$out/nginx.pid")
      wait_for "[[ \$(pgrep -c -P $master) == 2 ]]" || exit 1
      old=$(pgrep -P "$master" | sort)
      {
        curl -s "http://127.0.0.1:$port/blob" | sha256sum
        curl -s "http://127.0.0.1:$port/"
        curl -s -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$port/missing"
        curl -s "http://127.0.0.1:$port/version"
        # SIGHUP: the master reads the changed configuration, starts new workers and tells the
        # old ones to finish; until they have, either may answer.
        sed -i 's/v1/v2/' "$conf"
        kill -HUP "$master"
        wait_for "[[ \$(curl -s 'http://127.0.0.1:$port/version') == v2 ]]" || exit 1
        for p in $old; do wait_for "! kill -0 $p 2>/dev/null" || exit 1; done
        echo "old workers gone"
        curl -s "http://127.0.0.1:$port/version"
        new=$(pgrep -P "$master" | sort)
        echo "workers after reload: $(wc -w <<<"$new"), replaced: $([[ $new != "$old" ]] && echo yes)"
        curl -s "http://127.0.0.1:$port/blob" | sha256sum
        # SIGQUIT: a graceful shutdown; the master waits for its workers, then exits.
        kill -QUIT "$master"
        wait "${pids[-1]}"
        echo "master exit: $?"
        left=0
        for p in $new; do kill -0 "$p" 2>/dev/null && left=$((left + 1)); done
        echo "workers left: $left"
      } >"$out/$run" || { cat "$out/$run"; exit 1; }
      unset 'pids[-1]'
      # The error log's notices about signals and workers, without times and pids. SIGCHLD and
      # SIGIO notices are left out: the kernel may merge SIGCHLDs, natively too.
      sed -E 's/^[0-9/]+ [0-9:]+ \[[a-z]+\] [0-9]+#[0-9]+: //; s/(process|from) [0-9]+/\1 N/' \
        "$out/$run.log" | grep -E 'SIGHUP|SIGQUIT|reconfiguring|gracefully|exited with|^exit$' |
        sort | uniq -c >>"$out/$run"
      cat "$out/$run.server.out" >>"$out/$run"
    done
    same "$out/native" "$out/weft" "nginx (master in sigsuspend, workers, SIGHUP reload, SIGQUIT)"
    ;;
  tini)
    # Only tini runs under weftrun; the shell runs without the shim (the dash case tests it).
    need tini
    trapper parent tini -s -- env -u LD_PRELOAD sh
    ;;
  dumbinit)
    need dumb-init
    trapper parent dumb-init env -u LD_PRELOAD sh
    ;;
  dash)
    need dash
    trapper self dash
    ;;
  rust_threads)
    built "Debian's rustc (package rustc)"
    diffrun "$program"
    ;;
  java_version)
    need java
    # --version prints to stdout (-version to stderr, where weft's stall reports go too). In
    # $out: a JVM that crashes writes its hs_err_pid file into the current directory.
    cd "$out" && diffrun java --version
    ;;
  java_threads)
    need java
    # The source launcher needs the JDK's compiler, which a JRE lacks.
    if ! java --list-modules 2>/dev/null | grep -q '^jdk\.compiler@'; then
      echo "SKIP: java has no jdk.compiler module (a JRE; scripts/deps.sh installs the JDK)"
      exit 77
    fi
    cd "$out" && diffrun java "$here/TlsThreads.java"
    ;;
  ruby_threads)
    need ruby
    diffrun ruby "$here/tls_ruby.rb"
    ;;
  urcu_threads)
    built "liburcu (package liburcu-dev)"
    diffrun "$program"
    ;;
  *)
    echo "real_programs.sh: no program named '$name'" >&2
    exit 2
    ;;
esac
