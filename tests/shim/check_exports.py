#!/usr/bin/env python3
"""check_exports.py: libweft_preload.so exports exactly the symbols of interpose.def.

Usage: check_exports.py LIB interpose.def gen_exports.py
"""
import subprocess
import sys


def main():
    lib, table, gen = sys.argv[1:4]
    want = set(subprocess.run([sys.executable, gen, "--list", table], check=True,
                              capture_output=True, text=True).stdout.split())
    out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True, capture_output=True,
                         text=True).stdout
    have = {line.split()[-1].split("@")[0] for line in out.splitlines() if line.strip()}
    missing, extra = sorted(want - have), sorted(have - want)
    if missing:
        print("in the table but not exported:", " ".join(missing))
    if extra:
        print("exported but not in the table:", " ".join(extra))
    if missing or extra:
        sys.exit(1)
    print(f"ok: {len(have)} exports, exactly the table's")


if __name__ == "__main__":
    main()
