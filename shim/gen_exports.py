#!/usr/bin/env python3
"""gen_exports.py turns interpose.def into the linker version script of libweft_preload.so.

Usage: gen_exports.py interpose.def exports.map
The script exports exactly the symbols of the table, and RUNTIME_EXPORTS (data a debugger looks
up, never a function), and makes everything else local, so the runtime linked into the library
can never interpose or be interposed by the program's symbols.
With --list it prints the symbols instead, one a line; with --where, "symbol file" lines (the
export test compares both with nm); with --runtime, RUNTIME_EXPORTS.
"""
import re
import sys

ROW = re.compile(r"^WEFT_INTERPOSE\((\w+),\s*(\w+),\s*(\w+)\)\s*$")

# RUNTIME_EXPORTS are the runtime's own symbols the library exports besides the table, none a
# hook: weft_debug_info, the descriptor the gdb extension reads (runtime/sched/debug_info.hpp).
# --runtime lists them, for the export test.
RUNTIME_EXPORTS = ["weft_debug_info"]


def rows(path):
    """Returns the table's rows as (symbol, policy, file) tuples, in order."""
    found = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("//"):
                continue
            m = ROW.match(line)
            if m is None:
                sys.exit(f"{path}:{lineno}: not a WEFT_INTERPOSE(symbol, policy, file) row: {line}")
            found.append(m.groups())
    names = [r[0] for r in found]
    if len(set(names)) != len(names):
        sys.exit(f"{path}: a symbol is listed twice")
    return found


def symbols(path):
    return [r[0] for r in rows(path)]


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--list":
        print("\n".join(symbols(sys.argv[2])))
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--where":
        print("\n".join(f"{sym} {file}" for sym, _, file in rows(sys.argv[2])))
        return
    if len(sys.argv) == 2 and sys.argv[1] == "--runtime":
        print("\n".join(RUNTIME_EXPORTS))
        return
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    names = symbols(sys.argv[1]) + RUNTIME_EXPORTS
    # An anonymous version node: the symbols stay unversioned, so they also satisfy the
    # program's versioned references (read@GLIBC_2.2.5, __libc_start_main@GLIBC_2.34).
    body = "".join(f"    {n};\n" for n in names)
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        f.write("{\n  global:\n" + body + "  local:\n    *;\n};\n")


if __name__ == "__main__":
    main()
