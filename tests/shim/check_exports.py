#!/usr/bin/env python3
"""check_exports.py: libweft_preload.so exports exactly the symbols of interpose.def (and the
runtime's few data symbols gen_exports.py --runtime lists), and each hook is defined in the shim
file the table names for it.

Usage: check_exports.py LIB interpose.def gen_exports.py

The second check reads the library's compiled objects (meson keeps them in LIB + ".p", one
FILE.cpp.o per shim source): each row's symbol must be defined, as a global, in the object of
its file and in no other shim object.
"""
import os
import subprocess
import sys


def defined_globals(path):
    out = subprocess.run(["nm", "--defined-only", "-g", path], check=True, capture_output=True,
                         text=True).stdout
    return {parts[2] for parts in (line.split() for line in out.splitlines())
            if len(parts) == 3 and parts[1] in "TWi"}


def main():
    lib, table, gen = sys.argv[1:4]
    listing = subprocess.run([sys.executable, gen, "--where", table], check=True,
                             capture_output=True, text=True).stdout
    where = dict(line.split() for line in listing.splitlines())
    want = set(where)
    runtime = set(subprocess.run([sys.executable, gen, "--runtime"], check=True,
                                 capture_output=True, text=True).stdout.split())
    out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True, capture_output=True,
                         text=True).stdout
    have = {line.split()[-1].split("@")[0] for line in out.splitlines() if line.strip()}
    missing, extra = sorted((want | runtime) - have), sorted(have - want - runtime)
    if missing:
        print("in the table but not exported:", " ".join(missing))
    if extra:
        print("exported but not in the table:", " ".join(extra))

    objdir = lib + ".p"
    if not os.path.isdir(objdir):
        sys.exit(f"no object directory {objdir}: cannot check which file defines each hook")
    defs = {}
    for name in sorted(os.listdir(objdir)):
        if name.endswith(".cpp.o"):
            for sym in defined_globals(os.path.join(objdir, name)) & want:
                defs.setdefault(sym, []).append(name[: -len(".cpp.o")])
    misplaced = []
    for sym, file in sorted(where.items()):
        found = defs.get(sym, [])
        if found != [file]:
            misplaced.append(f"{sym}: the table says shim/{file}.cpp, defined in "
                             f"{', '.join('shim/' + f + '.cpp' for f in found) or 'no shim file'}")
    for line in misplaced:
        print("misplaced:", line)
    if missing or extra or misplaced:
        sys.exit(1)
    print(f"ok: {len(have)} exports, exactly the table's and {len(runtime)} of the runtime's, each "
          "hook defined in the file it names")


if __name__ == "__main__":
    main()
