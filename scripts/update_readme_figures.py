#!/usr/bin/env python3
"""update_readme_figures.py rewrites README.md's figures from one `make bench` run.

The README's "Figures" section quotes a benchmark run. Copying its numbers by hand invites
mixing runs, so the parts that come from a run are generated, each between two marker comments
that stay in the README:

    <!-- bench:machine:begin -->   which machine and when (the CPU model from lscpu, the date,
    <!-- bench:machine:end -->     the kernel and the CPU count of the run), and that only the
                                   ratios carry from one machine to another
    <!-- bench:summary:begin -->   the targets table: the rows of bench/out/summary.md that
    <!-- bench:summary:end -->     kReadmeRows picks, in its order
    <!-- bench:echo:begin -->      msgs/s of every echo server at every connection count, from
    <!-- bench:echo:end -->        bench/out/echo.csv, with weft's ratio to each reference

Everything outside the markers is left byte for byte as it was (the prose that interprets the
figures is the author's to update), and bench/out/echo.png is copied to docs/img/echo.png, the
plot the README shows. The CPU model is the one bench/run.sh wrote into summary.md ("CPU: ..."),
so the line names the machine that ran the benchmarks; a summary without it falls back to
`lscpu` here, or to --cpu.

A README without all the markers, a summary without its table or an echo.csv without weft's
rows is an error: nothing is written then.

Usage: update_readme_figures.py [--out DIR] [--readme FILE] [--img FILE] [--cpu MODEL]
    --out     the run's results (default: bench/out of this tree): summary.md, echo.csv, echo.png
    --readme  the README to rewrite in place (default: README.md of this tree)
    --img     where the plot goes (default: docs/img/echo.png of this tree)
    --cpu     the CPU model to name, overriding summary.md's and lscpu's
"""

import argparse
import csv
import os
import re
import shutil
import subprocess
import sys
import textwrap

kRoot = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# kReadmeRows picks the summary rows the README shows, in this order: issue #14's targets and
# the runtime's (report) rows the README has always shown. Each pattern is searched in
# "WHAT | REFERENCE" of a summary row; a row appears once, under the first pattern it matches.
kReadmeRows = [
    r"^fiber switch \(yield ping-pong\) \|",
    r"^spawn\+join, one at a time \|",
    r"^spawn\+join, batches of 100 \|",
    r"^1-byte read from a pipe on a fiber",
    r"^RSS per parked fiber",
    r"^channel round trip",
    r"^echo, [0-9]+ conns \|",
    r"^echo scaling",
    r"^echo, [0-9]+ conns, 2 carriers",
    r"^blocking_echo under weftrun, [0-9]+ conns \| .*echo_server",
]

# kEchoServers are the echo table's columns: (server name in echo.csv, column heading).
kEchoServers = [
    ("weft", "weft"),
    ("epoll_echo", "plain epoll server"),
    ("uring_echo", "plain liburing server"),
    ("go_echo", "Go, a goroutine per connection"),
]

kMarkers = ("machine", "summary", "echo")


def fail(msg):
    print(f"update_readme_figures: {msg}", file=sys.stderr)
    sys.exit(1)


def thousands(text):
    """thousands puts commas in the whole part of every number of 4 digits or more; fractions
    and dates are left alone."""
    return re.sub(r"(?<![\d.,-])\d{4,}(?!\d|[,-]\d)", lambda m: f"{int(m.group(0)):,}", text)


def parse_summary(path):
    """parse_summary returns (rows, facts): the main table's rows as lists of 6 cells, and the
    run's date, kernel, CPU count, CPU model (if recorded) and the echo table's heading."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        fail(f"cannot read {path}: {e}")
    facts = {}
    rows = []
    in_table = False
    for line in lines:
        m = re.match(r"^(\d{4}-\d\d-\d\d)(?: [0-9:]+ UTC)?, (.+), (\d+) CPUs$", line)
        if m and "date" not in facts:
            facts.update(date=m.group(1), kernel=m.group(2), cpus=m.group(3))
            continue
        m = re.match(r"^CPU: (.+)$", line)
        if m:
            facts["cpu"] = m.group(1).strip()
            continue
        m = re.match(r"^### Echo: (.+)$", line)
        if m and "echo_heading" not in facts:
            facts["echo_heading"] = m.group(1).strip()
            continue
        if line.startswith("| what | measured | reference | ratio | target | met? |"):
            in_table = True
            continue
        if in_table:
            if line.startswith("|---"):
                continue
            if not line.startswith("| "):
                in_table = False
                continue
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            if len(cells) == 6:
                rows.append(cells)
    if not rows:
        fail(f"{path} has no summary table (| what | measured | ... |)")
    if "date" not in facts:
        fail(f"{path} has no 'DATE TIME UTC, KERNEL, N CPUs' line")
    return rows, facts


def lscpu_model():
    """lscpu_model returns lscpu's "Model name", or None."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return None


def summary_table(rows):
    picked = []
    used = set()
    for pattern in kReadmeRows:
        for i, cells in enumerate(rows):
            if i not in used and re.search(pattern, f"{cells[0]} | {cells[2]}"):
                used.add(i)
                picked.append(cells)
    if not picked:
        fail("no summary row matches kReadmeRows")
    out = ["| what | weft | reference, same run | ratio | target | met? |",
           "|---|---|---|---|---|---|"]
    for cells in picked:
        out.append("| " + " | ".join(thousands(c) for c in cells) + " |")
    return "\n".join(out)


def echo_table(path):
    try:
        with open(path, newline="", encoding="utf-8") as f:
            records = list(csv.DictReader(f))
    except OSError as e:
        fail(f"cannot read {path}: {e}")
    rate = {}
    for r in records:
        try:
            rate[(r["server"], int(r["conns"]))] = float(r["msgs_per_s"])
        except (KeyError, ValueError):
            fail(f"{path}: unreadable row {r}")
    counts = sorted({c for (s, c) in rate if s == "weft"})
    if not counts:
        fail(f"{path} has no rows for weft")
    servers = [(s, h) for (s, h) in kEchoServers if any((s, c) in rate for c in counts)]
    refs = [(s, h) for (s, h) in servers if s != "weft"]
    head = ["connections"] + [h for _, h in servers] + [f"weft / {s}" for s, _ in refs]
    out = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for c in counts:
        cells = [f"{c:,}"]
        for s, _ in servers:
            cells.append(f"{rate[(s, c)]:,.0f}" if (s, c) in rate else "-")
        w = rate[("weft", c)]
        for s, _ in refs:
            ref = rate.get((s, c))
            cells.append(f"{w / ref:.2f}x" if ref else "-")
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def machine_text(facts, cpu):
    text = (f"Measured with `make bench` on {cpu}, {facts['cpus']} CPUs, {facts['kernel']}, "
            f"{facts['date']}. Every ratio compares programs measured in the same run; only the "
            "ratios carry from one machine to another (the absolute figures, ns and msgs/s, "
            "change with the CPU, the kernel and what else the machine runs).")
    return textwrap.fill(text, width=100, break_on_hyphens=False, break_long_words=False)


def replace_between(text, name, body):
    begin, end = f"<!-- bench:{name}:begin -->", f"<!-- bench:{name}:end -->"
    if text.count(begin) != 1 or text.count(end) != 1:
        fail(f"the README needs exactly one '{begin}' and one '{end}'")
    i, j = text.index(begin) + len(begin), text.index(end)
    if i > j:
        fail(f"'{end}' comes before '{begin}'")
    return text[:i] + "\n\n" + body + "\n\n" + text[j:]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(kRoot, "bench", "out"))
    ap.add_argument("--readme", default=os.path.join(kRoot, "README.md"))
    ap.add_argument("--img", default=os.path.join(kRoot, "docs", "img", "echo.png"))
    ap.add_argument("--cpu")
    args = ap.parse_args()

    rows, facts = parse_summary(os.path.join(args.out, "summary.md"))
    cpu = args.cpu or (facts.get("cpu") if facts.get("cpu") != "unknown" else None)
    cpu = cpu or lscpu_model()
    if not cpu:
        fail("no CPU model: summary.md has no 'CPU:' line and lscpu gave none (use --cpu)")
    png = os.path.join(args.out, "echo.png")
    if not os.path.isfile(png):
        fail(f"no plot {png} (is gnuplot installed?)")

    try:
        with open(args.readme, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        fail(f"cannot read {args.readme}: {e}")
    text = replace_between(text, "machine", machine_text(facts, cpu))
    text = replace_between(text, "summary", summary_table(rows))
    echo = echo_table(os.path.join(args.out, "echo.csv"))
    if "echo_heading" in facts:
        echo = f"Echo: {facts['echo_heading']}.\n\n{echo}"
    text = replace_between(text, "echo", echo)

    # Everything is computed before anything is written.
    tmp = args.readme + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, args.readme)
    os.makedirs(os.path.dirname(os.path.abspath(args.img)), exist_ok=True)
    shutil.copyfile(png, args.img)
    print(f"update_readme_figures: rewrote {args.readme} ({', '.join(kMarkers)}) and {args.img}")


if __name__ == "__main__":
    main()
