#!/usr/bin/env python3
"""cpython_diff.py: one CPython test module, natively and under weftrun, compared case by case.

CPython's own tests of a subsystem are a differential test we did not have to write: every
case that passes natively must pass under weftrun too. This script runs the module twice at
once (natively and under `WEFTRUN ARGS...`; the cases mostly sleep, so the two runs share the
machine's CPUs without slowing each other much), records every case's outcome, and compares:

- a case that passes natively and does not pass under weftrun is a difference; it fails the
  test unless the expected-differences file lists it (one line per case: `Class.test_name
  reason`, optionally `Class.test_name[c1]` to apply only on one carrier, `[c2]` on two);
- a listed case that now passes fails the test too ("now passes, remove from the list"), so the
  list stays true;
- cases that are skipped or fail natively are not judged (they measure the machine, not weft).

Outcomes come from hooks on unittest's TestResult installed in the child (`--child` below),
written to an events file one line at a time, not from parsing the verbose log: under weftrun
the log interleaves weft's own stderr with unittest's "... ok" lines. The verbose log is kept
for the humans, and the lines of each failing case are printed.

Each run has its own watchdog. A case that has not finished CASE_TIMEOUT seconds after it
started counts as TIMEOUT: the run's process group is killed (SIGKILL: a program whose signal
masks went wrong may ignore SIGTERM) and the run goes on with the cases not yet started, in a
new process. A process that dies in the middle of a case marks it CRASH, and the run likewise
goes on. regrtest's own --timeout cannot do this job: it is faulthandler's watchdog thread, which
under weftrun is one more fiber of the program, so it cannot fire while its carrier is blocked.
But that thread blocks every signal in itself, the helper-thread idiom issue 12 is about, so
--faulthandler-timeout N passes regrtest --timeout N (never reached; CPython's own `make test`
uses 1200) to run the module with that thread present, as CPython's CI does.

Usage: cpython_diff.py [--case-timeout S] [--config WORDS] MODULE EXPECTED -- WEFTRUN ARGS...
Exit: 0 no new difference, 1 a new difference or a stale list entry, 77 the module is missing.

The expected-differences file: `#` starts a comment line; each other line is a case name
(Class.test_name), optionally followed by [tags] with no space, then the reason. Tags are
c1 / c2 (only on that many carriers), epoll / io_uring / auto (only on that backend), and
`maybe`: the case fails only sometimes, so passing is not reported as stale. A `maybe` is a
confession, not a fix: the list should lose them first.
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

PYTHON = "/usr/bin/python3"
RANK = {"ok": 0, "skipped": 1, "FAIL": 2, "ERROR": 3}


def child(events_path, regrtest_args):
    """child runs regrtest in this process with every case's outcome written to events_path."""
    import unittest

    fd = os.open(events_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def emit(*words):
        os.write(fd, (" ".join(words).replace("\n", " ") + "\n").encode())

    base = unittest.TestResult
    worst = {}

    def note(test, status):
        tid = test.id()
        if RANK[status] >= RANK.get(worst.get(tid, "ok"), 0):
            worst[tid] = status

    def wrap(name, status_of):
        orig = getattr(base, name)

        def hook(self, test, *rest):
            status = status_of(*rest)
            if status is not None:
                note(test, status)
                if not hasattr(test, "_testMethodName"):
                    # A class or module fixture failed (an _ErrorHolder): no case starts.
                    emit("fixture", status, test.id())
            return orig(self, test, *rest)

        setattr(base, name, hook)

    orig_start, orig_stop = base.startTest, base.stopTest

    def start(self, test):
        emit("start", test.id())
        return orig_start(self, test)

    def stop(self, test):
        emit("end", test.id(), worst.pop(test.id(), "ok"))
        return orig_stop(self, test)

    base.startTest, base.stopTest = start, stop
    wrap("addError", lambda err: "ERROR")
    wrap("addFailure", lambda err: "FAIL")
    wrap("addSkip", lambda reason: "skipped")
    wrap("addExpectedFailure", lambda err: "ok")
    wrap("addUnexpectedSuccess", lambda: "FAIL")
    wrap("addSubTest", lambda sub, err: None if err is None else
         ("FAIL" if issubclass(err[0], self_failure()) else "ERROR"))

    from test.libregrtest import main

    sys.argv = [sys.argv[0]] + regrtest_args
    main()


def self_failure():
    import unittest
    return unittest.TestCase.failureException


class Run:
    """Run is one module's run (native or under weftrun), restarted after a hang or a crash."""

    def __init__(self, name, prefix, module, cases, workdir, case_timeout):
        self.name, self.prefix, self.module = name, prefix, module
        self.cases, self.case_timeout = cases, case_timeout
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir)
        self.log = os.path.join(self.dir, "verbose.log")
        self.result = {}  # case id -> (status, detail)
        self.notes = []  # what went wrong outside any case
        self.restarts = 0
        self.regrtest_args = []
        self.seconds = 0.0

    def run(self):
        began = time.monotonic()
        while True:
            remaining = [c for c in self.cases if c not in self.result]
            if not remaining:
                break
            if not self.one_process(remaining):
                for c in remaining:
                    self.result.setdefault(c, ("NOTRUN", "the module ran no case"))
                break
        self.seconds = time.monotonic() - began

    def one_process(self, remaining):
        """one_process runs the cases left in one process; False when it started none."""
        n = self.restarts
        self.restarts += 1
        matchfile = os.path.join(self.dir, f"match{n}")
        events = os.path.join(self.dir, f"events{n}")
        with open(matchfile, "w") as f:
            f.write("\n".join(remaining) + "\n")
        cmd = self.prefix + [PYTHON, os.path.abspath(__file__), "--child", events,
                             "-v", self.module, "--matchfile", matchfile] + self.regrtest_args
        with open(self.log, "a") as log:
            log.write(f"\n#### {' '.join(cmd)}\n")
            log.flush()
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd=self.dir,
                                    start_new_session=True)
        started, current, since, offset = 0, None, time.monotonic(), 0
        killed = None
        while True:
            exited = proc.poll() is not None
            try:
                with open(events) as f:
                    f.seek(offset)
                    chunk = f.read()
            except FileNotFoundError:
                chunk = ""
            lines = chunk.split("\n")
            offset += len(chunk) - len(lines[-1])
            for line in lines[:-1]:
                words = line.split(" ")
                if words[0] == "start":
                    started += 1
                    current, since = words[1], time.monotonic()
                elif words[0] == "end":
                    self.result[words[1]] = (words[2], "")
                    current, since = None, time.monotonic()
                elif words[0] == "fixture":
                    self.notes.append(f"{words[2]}: {words[1]}")
            if exited:
                break
            if time.monotonic() - since > self.case_timeout:
                killed = current
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                break
            time.sleep(0.2)
        how = describe_status(proc.returncode)
        if killed is not None:
            self.result[killed] = ("TIMEOUT", f"not finished after {self.case_timeout:.0f} s")
        elif current is not None:
            self.result[current] = ("CRASH", f"the process {how} in this case")
        elif proc.returncode < 0 and started and all(c in self.result for c in self.cases):
            self.notes.append(f"the process {how} after its last case")
        with open(self.log, "a") as log:
            log.write(f"#### the process {how}\n")
        return started > 0 or current is not None


def describe_status(rc):
    if rc is None:
        return "did not exit"
    if rc < 0:
        return f"was killed by signal {-rc} ({signal.Signals(-rc).name})"
    return f"exited with status {rc}"


def case_lines(log_path, case):
    """case_lines is the part of a verbose log that belongs to one case (its last attempt)."""
    method, cls = case.split(".")[-1], case.split(".")[-2]
    with open(log_path, errors="replace") as f:
        lines = f.read().split("\n")
    head = f"{method} ({case})"
    starts = [i for i, line in enumerate(lines) if line.startswith(head)]
    out = []
    if starts:
        i = starts[-1]
        out = lines[i:i + 12]
    # The traceback block unittest prints at the end: "FAIL: test_x (...)" up to the next "===".
    for tag in ("FAIL", "ERROR"):
        mark = f"{tag}: {head}"
        for i, line in enumerate(lines):
            if line.startswith(mark):
                j = i + 1
                while j < len(lines) and not lines[j].startswith(("=====", "-----\n")) \
                        and j < i + 40:
                    j += 1
                out += lines[i:j]
    return [line for line in out if line.strip()][:40]


def load_expected(path, config):
    """load_expected reads the list of expected differences that apply to config."""
    expected = {}
    if not os.path.exists(path):
        return expected
    with open(path) as f:
        for n, raw in enumerate(f, 1):
            line = raw.split("#", 1)[0].rstrip() if raw.lstrip().startswith("#") else raw.rstrip()
            if not line.strip():
                continue
            name, _, reason = line.strip().partition(" ")
            tags = set()
            if "[" in name and name.endswith("]"):
                name, _, t = name[:-1].partition("[")
                tags = set(t.split(","))
            maybe = "maybe" in tags
            tags.discard("maybe")
            if tags and not tags <= config:
                continue
            expected[name] = (reason.strip(), n, maybe)
    return expected


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        return child(sys.argv[2], sys.argv[3:])
    ap = argparse.ArgumentParser()
    ap.add_argument("--case-timeout", type=float, default=60)
    ap.add_argument("--config", default="", help="words an expected line's [tags] must match")
    ap.add_argument("--faulthandler-timeout", type=int, default=0,
                    help="regrtest's --timeout (default 0: none); see the docstring")
    ap.add_argument("--keep", help="keep the logs in this directory")
    ap.add_argument("module")
    ap.add_argument("expected")
    ap.add_argument("weftrun", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    prefix = a.weftrun[1:] if a.weftrun[:1] == ["--"] else a.weftrun
    if not prefix:
        ap.error("no weftrun command given")
    prefix[0] = os.path.realpath(prefix[0])
    config = set(w for w in a.config.split(",") if w)
    module = a.module

    if subprocess.run([PYTHON, "-c", f"import test.{module}"], capture_output=True).returncode:
        print(f"SKIP: {PYTHON} has no test.{module} (Debian's libpython3.11-testsuite)")
        return 77
    listed = subprocess.run([PYTHON, "-m", "test", "--list-cases", module],
                            capture_output=True, text=True)
    cases = [c for c in listed.stdout.split() if c.startswith(f"test.{module}.")]
    if listed.returncode or not cases:
        print(f"SKIP: cannot list the cases of {module}:\n{listed.stdout}{listed.stderr}")
        return 77
    short = {c: ".".join(c.split(".")[2:]) for c in cases}
    expected = load_expected(a.expected, config)

    workdir = a.keep or tempfile.mkdtemp(prefix=f"cpython_{module}.")
    if a.keep:
        os.makedirs(workdir, exist_ok=True)
    native = Run("native", [], module, cases, workdir, a.case_timeout)
    shim = Run("weftrun", prefix, module, cases, workdir, a.case_timeout)
    for r in (native, shim):
        if a.faulthandler_timeout:
            r.regrtest_args = ["--timeout", str(a.faulthandler_timeout)]
    threads = [threading.Thread(target=r.run) for r in (native, shim)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    rc = 0
    new, stale, still, unjudged = [], [], [], []
    for c in cases:
        n_status = native.result[c][0]
        s_status, s_detail = shim.result[c]
        name = short[c]
        if n_status != "ok":
            if name in expected:
                unjudged.append(f"{name}: listed, but {n_status} natively, so not judged")
            continue
        if s_status == "ok":
            if name in expected and expected[name][2]:
                unjudged.append(f"{name}: listed as [maybe], passed this time")
            elif name in expected:
                stale.append(name)
            continue
        what = s_status + (f" ({s_detail})" if s_detail else "")
        if name in expected:
            still.append((name, what, expected[name][0]))
        else:
            new.append((c, name, what))
    unknown = [n for n in expected if n not in short.values()]

    count = lambda r, s: sum(1 for v in r.result.values() if v[0] == s)
    print(f"{module}: {len(cases)} cases; "
          f"native {count(native, 'ok')} ok, {count(native, 'skipped')} skipped "
          f"in {native.seconds:.0f} s; weftrun ({' '.join(prefix[1:])}) "
          f"{count(shim, 'ok')} ok in {shim.seconds:.0f} s "
          f"({shim.restarts} process{'es' if shim.restarts > 1 else ''})")
    for r in (native, shim):
        for note in r.notes:
            print(f"note ({r.name}): {note}")
    for line in unjudged:
        print(f"note: {line}")
    if still:
        print(f"expected differences ({len(still)}, listed in {os.path.basename(a.expected)}):")
        for name, what, reason in still:
            print(f"  {name}: {what}  -- {reason}")
    if new:
        rc = 1
        print(f"NEW DIFFERENCES ({len(new)}): pass natively, not under weftrun:")
        for c, name, what in new:
            print(f"  {name}: {what}")
        for c, name, what in new:
            print(f"---- {name} under weftrun:")
            for line in case_lines(shim.log, c):
                print(f"    {line}")
    for name in stale:
        rc = 1
        print(f"now passes, remove from the list: {name}")
    for name in unknown:
        rc = 1
        print(f"{os.path.basename(a.expected)} line {expected[name][1]}: "
              f"{name} is no case of {module}")
    print(f"logs: {workdir}" if a.keep or rc else "")
    if not a.keep and rc == 0:
        subprocess.run(["rm", "-rf", workdir])
    print("FAIL" if rc else "ok", f"{module} under weftrun", " ".join(prefix[1:]))
    return rc


if __name__ == "__main__":
    sys.exit(main())
