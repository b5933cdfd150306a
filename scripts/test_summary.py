#!/usr/bin/env python3
"""test_summary.py counts what `meson test` runs did, case by case, and prints one closing line.

It reads meson's testlog.json files (one JSON object per test program; one file per run, e.g.
testlog.json and testlog-epoll.json for the run in meson's `epoll` test setup, whose programs
are listed as "[epoll] name") and, for each program whose
output is GoogleTest's, counts the individual test cases from that output; any other program
counts as one test. It works whether tests/meson.build registers a program with
`protocol : 'gtest'` or as a plain exit-code test, because GoogleTest prints the same lines
either way and meson keeps a program's whole output in the log.

Counting rules:
    - a case that passed counts as passed; GTEST_SKIP() and DISABLED_ cases count as skipped;
    - a case that failed, or that was running when its program crashed or timed out, is failed;
    - a program that meson calls failed although all its cases passed (a leak check at exit, a
        sanitizer report, a hang after the last case) adds one failure of its own;
    - a program meson skipped (exit 77) counts as skipped.

The last line printed is `N passed, N failed, N skipped`. The exit status is 1 if anything failed
or nothing ran at all, else 0.

Usage: test_summary.py TESTLOG_JSON... [--meson-rc N]
"""

import argparse
import json
import re
import sys

kOkResults = {"OK", "EXPECTEDFAIL"}
kSkipResults = {"SKIP"}

kSuiteStart = re.compile(r"\[==========\] Running \d+ tests?")
kSuiteEnd = re.compile(r"\[==========\] \d+ tests? from .* ran\.")
kRun = re.compile(r"\[ RUN      \] (\S+)")
kOk = re.compile(r"\[       OK \] ([^\s,]+)")
kCaseFailed = re.compile(r"\[  FAILED  \] ([^\s,]+)(?:, where .*)? \(\d+ ms\)")
kCaseSkipped = re.compile(r"\[  SKIPPED \] ([^\s,]+) \(\d+ ms\)")
kDisabled = re.compile(r"\[ DISABLED \] (\S+)")
kSumPassed = re.compile(r"\[  PASSED  \] (\d+) tests?\.")
kSumSkipped = re.compile(r"\[  SKIPPED \] (\d+) tests?, listed below:")
kSumFailed = re.compile(r"\[  FAILED  \] (\d+) tests?, listed below:")
kSumFailedName = re.compile(r"\[  FAILED  \] ([^\s,]+)")
kSumDisabled = re.compile(r"YOU HAVE (\d+) DISABLED TESTS?")


class Count:
    """Count holds the tallies of one test program."""

    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.skipped = 0
        self.failed_names = []
        self.gtest = False


def count_gtest(output: str) -> Count:
    """count_gtest tallies GoogleTest cases from a program's output; gtest is False if there were none.

    Each `[==========] Running` ... `ran.` block is one iteration (more with --gtest_repeat); its
    closing summary is authoritative. An iteration with no summary was cut short, so its cases are
    counted from their own lines and the one left running counts as failed.
    """
    c = Count()
    in_summary = False
    running = {}  # name -> still running, for the iteration in progress
    part = Count()  # per-case tallies of the iteration in progress
    disabled_seen = 0
    for line in output.splitlines():
        if kSuiteStart.search(line):
            c.gtest = True
            in_summary = False
            running, part, disabled_seen = {}, Count(), 0
            continue
        if kSuiteEnd.search(line):
            c.gtest = True
            in_summary = True
            running, part = {}, Count()
            continue
        if in_summary:
            if m := kSumPassed.search(line):
                c.passed += int(m.group(1))
            elif m := kSumSkipped.search(line):
                c.skipped += int(m.group(1))
            elif m := kSumFailed.search(line):
                c.failed += int(m.group(1))
            elif m := kSumDisabled.search(line):
                c.skipped += int(m.group(1))
            elif m := kSumFailedName.search(line):
                c.failed_names.append(m.group(1))
            continue
        if m := kRun.search(line):
            c.gtest = True
            running[m.group(1)] = True
        elif m := kOk.search(line):
            running.pop(m.group(1), None)
            part.passed += 1
        elif m := kCaseFailed.search(line):
            running.pop(m.group(1), None)
            part.failed += 1
            part.failed_names.append(m.group(1))
        elif m := kCaseSkipped.search(line):
            running.pop(m.group(1), None)
            part.skipped += 1
        elif kDisabled.search(line):
            disabled_seen += 1
    if not in_summary and (running or part.passed or part.failed or part.skipped):
        # The last iteration never printed its summary: the program crashed or was killed.
        c.passed += part.passed
        c.skipped += part.skipped + disabled_seen
        c.failed += part.failed + len(running)
        c.failed_names += part.failed_names
        c.failed_names += [f"{name} (did not finish)" for name in running]
    return c


def count_test(entry: dict) -> Count:
    """count_test tallies one meson test from its testlog.json entry."""
    result = entry.get("result", "ERROR")
    output = (entry.get("stdout") or "") + "\n" + (entry.get("stderr") or "")
    c = count_gtest(output)
    bad = result not in kOkResults and result not in kSkipResults
    if c.gtest and result != "EXPECTEDFAIL":
        if bad and c.failed == 0:
            c.failed += 1
            what = "timed out" if result == "TIMEOUT" else f"exit status {entry.get('returncode')}"
            c.failed_names.append(f"(the program failed after its cases: {what})")
        return c
    c = Count()
    if result in kOkResults:
        c.passed = 1
    elif result in kSkipResults:
        c.skipped = 1
    else:
        c.failed = 1
        what = "timed out" if result == "TIMEOUT" else f"exit status {entry.get('returncode')}"
        c.failed_names.append(f"({result.lower()}: {what})")
    return c


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("testlog", nargs="+")
    ap.add_argument("--meson-rc", type=int, default=0)
    args = ap.parse_args()

    entries = []  # (label, entry)
    for path in args.testlog:
        m = re.search(r"testlog-([^/]+)\.json$", path)
        label = f"[{m.group(1)}] " if m else ""
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    line = line.strip()
                    if line:
                        try:
                            entries.append((label, json.loads(line)))
                        except json.JSONDecodeError:
                            print(f"test_summary: unreadable line in {path}", file=sys.stderr)
        except FileNotFoundError:
            print(f"test_summary: {path} not found: meson ran no test", file=sys.stderr)

    total = Count()
    rows = []
    for label, e in entries:
        c = count_test(e)
        name = label + e.get("name", "?")
        rows.append((name, c))
        total.passed += c.passed
        total.failed += c.failed
        total.skipped += c.skipped
        total.failed_names += [f"{name}: {n}" for n in c.failed_names]

    if rows:
        width = max(len(name) for name, _ in rows)
        print()
        print(f"Test cases per program ({len(rows)} programs, "
              f"{sum(1 for _, c in rows if c.gtest)} of them GoogleTest):")
        for name, c in rows:
            kind = "cases" if c.gtest else "program"
            print(f"  {name:<{width}}  {c.passed:5} passed {c.failed:4} failed {c.skipped:4} skipped"
                  f"  ({kind})")
    if total.failed_names:
        print("Failed:")
        for n in total.failed_names:
            print(f"  {n}")

    status = 0
    if args.meson_rc != 0 and total.failed == 0:
        # meson failed without a failing test in its log (a build error, an interrupt...).
        print(f"test_summary: meson test exited {args.meson_rc} without a failed test in its log; "
              "counting that as one failure", file=sys.stderr)
        total.failed += 1
    if total.failed:
        status = 1
    if total.passed + total.failed == 0:
        print("test_summary: no test ran (or every test was skipped)", file=sys.stderr)
        status = 1
    sys.stdout.flush()
    sys.stderr.flush()
    print(f"{total.passed} passed, {total.failed} failed, {total.skipped} skipped")
    return status


if __name__ == "__main__":
    sys.exit(main())
