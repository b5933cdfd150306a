#!/usr/bin/env python3
"""gdb_test.py: weft-gdb.py shows every fiber and its frames, live and in a core file.

Usage: gdb_test.py api SCRIPT gdb_fibers
       gdb_test.py weftrun SCRIPT gdb_threads WEFTRUN

It starts the program (api: gdb_fibers, linked with libweft.so; weftrun: the plain pthread
program gdb_threads under weftrun, on two carriers), waits for it to say "ready", then, with the
build tree's weft-gdb.py and no other gdb setup (-nx):
  1. live (gdb -batch -p PID): `info fibers` until every fiber shows the state and wait it is
     parked in (the program's threads count themselves before they wait, so the test looks
     again, for up to 30 s, until they are there);
  2. live: `fiber bt N` of each fiber shows its distinctive frame (wait_in_gdb_test_*); `fiber N`
     then `bt` does too, `fiber restore` puts the thread's pc back, a `fiber N` left selected at
     `detach` is restored by the hook (the process goes on and a second look finds it
     unchanged); the same gdb writes a core file (generate-core-file);
  3. auto-load: gdb finds the script by its installed name (the library's real file name +
     "-gdb.py") under an auto-load scripts-directory, with no -x;
  4. gdb's core file: the same fibers, or, where gdb could not copy the fiber stacks (its gcore
     stops copying a mapping at the first guard region, which weft's stack slabs have on Linux
     6.13+), `info fibers` saying so and how to take a core that has them;
  5. the kernel's core file (SIGABRT, RLIMIT_CORE raised), where core_pattern writes a file
     rather than piping to a handler: the same `info fibers` (durations relative to the newest
     wait) and the same frames.
The programs and weft are release builds: no debug info for weft's types.
Exits 77 (skipped) where gdb, its Python, or ptrace attach is missing, or not on x86-64.
"""
import os
import glob
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

# name: (state pattern, frame in its backtrace or None)
EXPECT = {
    "api": {
        "chan": (r"blocked in \S+", "wait_in_gdb_test_channel"),
        "sleeper": (r"blocked in sleep for \d+", "wait_in_gdb_test_sleep"),
        "locker": (r"blocked in \S+", "wait_in_gdb_test_mutex"),
        "reader": (r"blocked in read fd \d+", "wait_in_gdb_test_read"),
        "yielder": (r"ready", "wait_in_gdb_test_yield"),
        "fresh": (r"not started", None),
        "main": (r"running", "run_in_gdb_test_pause"),
    },
    "weftrun": {
        "cond": (r"blocked in \S+", "wait_in_gdb_test_cond"),
        "sleeper": (r"blocked in \S*sleep\S* for \d+", "wait_in_gdb_test_sleep"),
        "locker": (r"blocked in \S+", "wait_in_gdb_test_mutex"),
        "reader": (r"blocked in read fd \d+", "wait_in_gdb_test_read"),
    },
}
# weftrun: main blocks in pthread_join; its fiber's name is the program's.
MAIN_FRAME = "wait_in_gdb_test_join"

LINE = re.compile(r'^fiber (\d+) "([^"]*)" carrier (\d+) \(LWP (\d+)(?:, thread (\d+))?\): (.*)$')


def skip(msg):
    print(f"gdb_test: SKIP: {msg}")
    sys.exit(77)


def fail(msg, out=None):
    if out is not None:
        print("--- gdb said:\n" + out)
    print(f"gdb_test: FAIL: {msg}")
    sys.exit(1)


def gdb(script, *args, use_script=True):
    cmd = ["gdb", "-batch", "-nx"]
    if use_script:
        cmd += ["-x", script]
    cmd += list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    return r.stdout + r.stderr


def fibers(out):
    """fibers() maps each listed fiber's name to (id, state text, carrier, lwp, thread)."""
    found = {}
    for line in out.splitlines():
        m = LINE.match(line.strip())
        if m:
            found.setdefault(m.group(2), []).append(
                (int(m.group(1)), m.group(6), int(m.group(3)), int(m.group(4)), m.group(5)))
    return found


def check_list(out, expect, main_name):
    """check_list() returns what is not as expected in an `info fibers` listing, or ''."""
    got = fibers(out)
    for name, (state, _) in expect.items():
        if name not in got:
            return f"no fiber named {name}"
        if len(got[name]) != 1:
            return f"{len(got[name])} fibers named {name}"
        if not re.fullmatch(state + r".*", got[name][0][1]):
            return f"fiber {name}: '{got[name][0][1]}', expected /{state}/"
    if main_name is not None:
        if main_name not in got:
            return f"no main fiber named {main_name}"
    return ""


def bt_sections(out):
    """bt_sections() splits `fiber bt` outputs by their "Fiber N" headers: {id: text}."""
    parts = {}
    cur = None
    for line in out.splitlines():
        m = re.match(r'^Fiber (\d+) "', line)
        if m:
            cur = int(m.group(1))
            parts[cur] = ""
        elif cur is not None:
            parts[cur] += line + "\n"
    return parts


def check_bts(out, ids, expect):
    secs = bt_sections(out)
    for name, (_, frame) in expect.items():
        fid = ids[name]
        text = secs.get(fid)
        if text is None:
            return f"no `fiber bt {fid}` output ({name})"
        if frame is None:
            if "not started" not in text:
                return f"fiber bt {fid} ({name}): expected 'not started'"
        elif not re.search(r"\b" + frame + r"\b", text):
            return f"fiber bt {fid} ({name}): no frame {frame}"
    return ""


def main():
    mode, script, prog = sys.argv[1], os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
    weftrun = os.path.abspath(sys.argv[4]) if len(sys.argv) > 4 else None
    if shutil.which("gdb") is None:
        skip("gdb is not installed (scripts/deps.sh installs it)")
    if os.uname().machine != "x86_64":
        skip("weft-gdb.py reads saved fiber frames of x86-64 only")
    if "ok" not in gdb(script, "-ex", "python print('ok')", use_script=False):
        skip("this gdb has no Python")
    expect = dict(EXPECT[mode])
    tmp = tempfile.mkdtemp(prefix="weft-gdb-test.")
    proc = None
    try:
        out_path = os.path.join(tmp, "out")
        with open(out_path, "w") as out_f, open(os.path.join(tmp, "err"), "w") as err_f:
            cmd = [prog] if mode == "api" else [weftrun, "--carriers", "2", "--", prog]
            started = time.time()
            proc = subprocess.Popen(
                cmd, stdout=out_f, stderr=err_f, stdin=subprocess.DEVNULL, cwd=tmp,
                preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_CORE, (-1, -1)))
        deadline = time.monotonic() + 30
        while "ready" not in open(out_path).read():
            if proc.poll() is not None:
                fail(f"{prog} ended ({proc.returncode}) before it was ready: "
                     + open(os.path.join(tmp, "err")).read())
            if time.monotonic() > deadline:
                fail(f"{prog} did not say ready within 30 s")
            time.sleep(0.05)
        pid = proc.pid
        lib = "libweft.so" if mode == "api" else "libweft_preload.so"
        maps = open(f"/proc/{pid}/maps").read()
        libpath = next((ln.split()[-1] for ln in maps.splitlines()
                        if os.path.basename(ln.split()[-1]).startswith(lib + ".")
                        or ln.endswith("/" + lib)), None)
        if libpath is None:
            fail(f"the program has no {lib} mapped")

        # 1. live listing, until every fiber is parked where it should be.
        deadline = time.monotonic() + 30
        while True:
            out = gdb(script, "-p", str(pid), "-ex", "info fibers")
            if "ptrace: Operation not permitted" in out:
                skip("gdb may not attach to the test's process (ptrace)")
            main_name = None
            problem = check_list(out, expect, main_name)
            if not problem:
                break
            if time.monotonic() > deadline:
                fail("live `info fibers`: " + problem, out)
            time.sleep(0.5)
        print("gdb_test: live info fibers:\n" + out)
        listed = fibers(out)
        ids = {name: listed[name][0][0] for name in listed}
        if mode == "weftrun":
            # The program's main thread: the fiber that is none of the named ones.
            others = [n for n in listed if n not in expect]
            if len(others) != 1:
                fail(f"expected one more fiber (main), found {others}", out)
            expect[others[0]] = (r"blocked in \S+", MAIN_FRAME)
        for name, rows in listed.items():
            fid, _, carrier, lwp, thread = rows[0]
            if thread is None:
                fail(f"fiber {name}: carrier {carrier}'s LWP {lwp} is no gdb thread", out)

        # 2. live frames, switching, the detach hook, and the core file.
        core = os.path.join(tmp, "core")
        some = next(n for n, (_, fr) in expect.items() if fr and n != "main"
                    and not re.match(r"running", expect[n][0]))
        args = ["-p", str(pid)]
        for name in expect:
            args += ["-ex", f"fiber bt {ids[name]}"]
        args += ["-ex", "echo PC-BEFORE\\n", "-ex", "p/x $pc",
                 "-ex", f"fiber {ids[some]}", "-ex", "echo SWITCHED\\n", "-ex", "bt",
                 "-ex", "fiber restore", "-ex", "echo PC-AFTER\\n", "-ex", "p/x $pc",
                 "-ex", f"generate-core-file {core}",
                 "-ex", f"fiber {ids[some]}", "-ex", "detach"]
        out = gdb(script, *args)
        problem = check_bts(out, ids, expect)
        if problem:
            fail("live: " + problem, out)
        m = re.search(r"PC-BEFORE\n\$1 = (0x[0-9a-f]+)", out)
        m2 = re.search(r"PC-AFTER\n\$2 = (0x[0-9a-f]+)", out)
        if not m or not m2 or m.group(1) != m2.group(1):
            fail("fiber restore did not give the thread its pc back", out)
        switched = out.split("SWITCHED", 1)[1].split("PC-AFTER", 1)[0]
        if not re.search(r"\b" + expect[some][1] + r"\b", switched):
            fail(f"after `fiber {ids[some]}`, bt does not show {expect[some][1]}", out)
        if not os.path.exists(core):
            fail("generate-core-file wrote no core", out)
        print(f"gdb_test: live: every fiber's frames shown; switch and restore kept the pc")
        # The hook restored the registers at detach: the process still runs, unchanged.
        time.sleep(0.2)
        if proc.poll() is not None:
            fail(f"the program died after detach (status {proc.returncode}): a switched thread "
                 "kept the fiber's registers")
        out = gdb(script, "-p", str(pid), "-ex", "info fibers")
        problem = check_list(out, expect, None)
        if problem:
            fail("after detach with a fiber selected: " + problem, out)
        print("gdb_test: detach with a fiber selected left the process as it was")

        # 3. auto-load by the installed name, no -x.
        autoload = os.path.join(tmp, "auto-load")
        real = os.path.realpath(libpath)
        dest = autoload + real + "-gdb.py"
        os.makedirs(os.path.dirname(dest))
        shutil.copy(script, dest)
        out = gdb(script, "-iex", "set auto-load safe-path /",
                  "-iex", f"set auto-load scripts-directory {autoload}",
                  "-p", str(pid), "-ex", "info fibers", use_script=False)
        problem = check_list(out, expect, None)
        if problem:
            fail(f"auto-load of {dest}: " + problem, out)
        print(f"gdb_test: gdb auto-loaded {os.path.basename(dest)} for {real}")

        # 4. gdb's own core: complete where gdb could copy the fiber stacks, else `info fibers`
        # says why the blocks are zeros (gcore stops copying a mapping at a guard region).
        out = gdb(script, prog, core, "-ex", "info fibers")
        if "read as zeros" in out and "take the core with the kernel" in out:
            print("gdb_test: gdb's gcore lost the fiber stacks (guard regions); info fibers "
                  "said so")
        else:
            problem = check_list(out, expect, None)
            if problem:
                fail("gcore core file: " + problem, out)
            print("gdb_test: gdb's gcore core file: same fibers")

        # 5. the kernel's core (SIGABRT), where core_pattern writes a file.
        pattern = open("/proc/sys/kernel/core_pattern").read().strip()
        proc.send_signal(signal.SIGABRT)
        proc.wait(timeout=60)
        if pattern.startswith("|"):
            print(f"gdb_test: core_pattern pipes cores to a handler ({pattern.split()[0]}): "
                  "the kernel core file is not checked here")
        else:
            if not pattern.startswith("/"):
                pattern = os.path.join(tmp, pattern)
            pat = re.sub(r"%.", "*", pattern) + "*"
            cores = [c for c in glob.glob(pat) if str(pid) in os.path.basename(c)
                     or "%p" not in pattern]
            cores = [c for c in cores if os.path.getmtime(c) >= started - 1]
            if not cores:
                fail(f"no kernel core file matching {pat} after SIGABRT")
            kcore = max(cores, key=os.path.getmtime)
            args = [prog, kcore, "-ex", "info fibers"]
            for name in expect:
                args += ["-ex", f"fiber bt {ids[name]}"]
            out = gdb(script, *args)
            os.unlink(kcore)
            problem = check_list(out, expect, None) or check_bts(out, ids, expect)
            if problem:
                fail("kernel core file: " + problem, out)
            if "before T" not in out:
                fail("core file: durations are not marked relative to the newest wait", out)
            print("gdb_test: kernel core file: same fibers, same frames:\n"
                  + out.split("Fiber ", 1)[0])
        print("gdb_test: PASS")
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
