#!/usr/bin/env python3
"""gen_exports.py turns interpose.def into the linker version script of libweft_preload.so.

Usage: gen_exports.py interpose.def exports.map
The script exports exactly the symbols of the table and makes everything else local, so the
runtime linked into the library can never interpose or be interposed by the program's symbols.
With --list it prints the symbols instead, one a line (the export test compares them with nm).
"""
import re
import sys

ROW = re.compile(r"^WEFT_INTERPOSE\((\w+),\s*(\w+)\)\s*$")


def symbols(path):
    names = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("//"):
                continue
            m = ROW.match(line)
            if m is None:
                sys.exit(f"{path}:{lineno}: not a WEFT_INTERPOSE(symbol, policy) row: {line}")
            names.append(m.group(1))
    if len(set(names)) != len(names):
        sys.exit(f"{path}: a symbol is listed twice")
    return names


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--list":
        print("\n".join(symbols(sys.argv[2])))
        return
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    names = symbols(sys.argv[1])
    # An anonymous version node: the symbols stay unversioned, so they also satisfy the
    # program's versioned references (read@GLIBC_2.2.5, __libc_start_main@GLIBC_2.34).
    body = "".join(f"    {n};\n" for n in names)
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        f.write("{\n  global:\n" + body + "  local:\n    *;\n};\n")


if __name__ == "__main__":
    main()
