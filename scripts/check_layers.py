#!/usr/bin/env python3
"""check_layers.py: every include in the tree respects runtime/LAYERS.

Usage: check_layers.py [ROOT]        check the tree at ROOT (default: this script's repository)
       check_layers.py --self-test   check that each kind of violation below is caught

What it checks, with runtime/LAYERS as the only source of the allowed edges:
- runtime/: every source sits in a layer folder named in LAYERS (none directly in runtime/);
  a quoted include names a layer folder ("sched/carrier.hpp"), the header exists, and its
  layer is the file's own or one the file's layer may use.
- LAYERS itself: a layer may only use layers listed above it, and each folder is a layer.
- shim/: a quoted include is a file of shim/ itself or one of the headers on LAYERS' shim line.
- examples/ and bench/: quoted includes are their own files; the runtime is reached only through
  the public headers.
- include/weft/: public headers include only <weft/...>, the C++ standard library's headers and
  <sys/types.h> (ssize_t and off_t in weft/io.hpp's signatures), never a quoted header.
Prints one line per violation ("file:line: what") and exits 1 if there is any.
"""
import os
import re
import shutil
import sys
import tempfile

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
SOURCE = re.compile(r"\.(c|cc|cpp|h|hpp)$")
# Public headers may use these besides <weft/...> and the extension-less C++ headers.
PUBLIC_SYSTEM_OK = {"sys/types.h"}


def read_layers(root):
    """Returns (ordered list of layers, {layer: allowed set}, shim surface set, errors)."""
    path = os.path.join(root, "runtime", "LAYERS")
    order, allowed, shim, errors = [], {}, set(), []
    entries = []  # (lineno, text): a line that starts with white space continues the one above
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.split("#", 1)[0]
            if not line.strip():
                continue
            if line[0] in " \t" and entries:
                entries[-1] = (entries[-1][0], entries[-1][1] + " " + line.strip())
            else:
                entries.append((lineno, line.strip()))
    for lineno, line in entries:
        name, sep, rest = line.partition(":")
        name = name.strip()
        if not sep or not re.fullmatch(r"[a-z_]+", name):
            errors.append(f"runtime/LAYERS:{lineno}: not a 'layer: layers' line: {line}")
            continue
        uses = rest.split()
        if name == "shim":
            shim.update(uses)
            continue
        for u in uses:
            if u not in allowed:
                errors.append(f"runtime/LAYERS:{lineno}: {name} uses {u}, which is not a layer "
                              "listed above it (layers only use the ones above them)")
        order.append(name)
        allowed[name] = set(uses)
    for header in sorted(shim):
        layer = header.split("/", 1)[0]
        if layer not in allowed or not os.path.isfile(os.path.join(root, "runtime", header)):
            errors.append(f"runtime/LAYERS: the shim line names {header}, which is no runtime header")
    return order, allowed, shim, errors


def includes(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            m = INCLUDE.match(line)
            if m:
                yield lineno, m.group(1), m.group(2)


def sources(folder):
    for dirpath, _, names in os.walk(folder):
        for n in sorted(names):
            if SOURCE.search(n) or n.endswith(".def"):
                yield os.path.join(dirpath, n)


def check(root):
    order, allowed, shim_surface, errors = read_layers(root)
    runtime = os.path.join(root, "runtime")
    rel = lambda p: os.path.relpath(p, root)

    for entry in sorted(os.listdir(runtime)):
        full = os.path.join(runtime, entry)
        if os.path.isdir(full) and entry not in allowed:
            errors.append(f"runtime/{entry}/: a folder that runtime/LAYERS does not name as a layer")
        elif os.path.isfile(full) and SOURCE.search(entry):
            errors.append(f"runtime/{entry}: a source outside the layer folders")
    for layer in order:
        if not os.path.isdir(os.path.join(runtime, layer)):
            errors.append(f"runtime/LAYERS: layer {layer} has no folder runtime/{layer}/")

    for layer in order:
        folder = os.path.join(runtime, layer)
        if not os.path.isdir(folder):
            continue
        for path in sources(folder):
            for lineno, kind, target in includes(path):
                if kind == "<":
                    continue
                where = f"{rel(path)}:{lineno}"
                parts = target.split("/")
                if len(parts) < 2 or parts[0] not in allowed:
                    errors.append(f'{where}: #include "{target}" does not name a layer folder '
                                  '(write "layer/file.hpp")')
                    continue
                if not os.path.isfile(os.path.join(runtime, target)):
                    errors.append(f'{where}: #include "{target}": no such runtime header')
                    continue
                if parts[0] != layer and parts[0] not in allowed[layer]:
                    errors.append(f'{where}: {layer} may not include "{target}" (runtime/LAYERS: '
                                  f"{layer} uses {' '.join(sorted(allowed[layer])) or 'nothing'})")

    shim = os.path.join(root, "shim")
    if os.path.isdir(shim):
        for path in sources(shim):
            for lineno, kind, target in includes(path):
                if kind == "<":
                    continue
                if os.path.isfile(os.path.join(shim, target)) and "/" not in target:
                    continue
                if target not in shim_surface:
                    errors.append(f'{rel(path)}:{lineno}: the shim may not include "{target}" (the '
                                  "shim line of runtime/LAYERS lists its internal surface)")

    for top in ("examples", "bench"):
        folder = os.path.join(root, top)
        if not os.path.isdir(folder):
            continue
        for path in sources(folder):
            for lineno, kind, target in includes(path):
                here = os.path.join(os.path.dirname(path), target)
                if kind == '"' and not ("/" not in target and os.path.isfile(here)):
                    errors.append(f'{rel(path)}:{lineno}: #include "{target}": {top}/ uses the '
                                  "runtime only through the public headers (<weft/...>)")

    public = os.path.join(root, "include", "weft")
    if os.path.isdir(public):
        for path in sources(public):
            for lineno, kind, target in includes(path):
                std = kind == "<" and "." not in target and "/" not in target
                if kind == "<" and (target.startswith("weft/") or std or target in PUBLIC_SYSTEM_OK):
                    continue
                errors.append(f"{rel(path)}:{lineno}: a public header includes "
                              f"{kind}{target}{'>' if kind == '<' else chr(34)}: public headers "
                              "use only <weft/...> and the standard library")
    return errors


def self_test():
    """Builds small trees with one violation each and checks that each is reported."""
    layers = "base:\nsched: base\nshim: base/a.hpp\n"
    files = {
        "runtime/LAYERS": layers,
        "runtime/base/a.hpp": "#pragma once\n",
        "runtime/base/b.hpp": "#pragma once\n",
        "runtime/sched/s.hpp": '#include "base/a.hpp"\n',
        "shim/x.cpp": '#include "base/a.hpp"\n#include "y.hpp"\n',
        "shim/y.hpp": "",
        "examples/e.cpp": "#include <weft/fiber.hpp>\n",
        "include/weft/p.hpp": "#include <vector>\n#include <sys/types.h>\n",
    }
    cases = {
        "a clean tree": ({}, None),
        "an upward include": ({"runtime/base/c.cpp": '#include "sched/s.hpp"\n'},
                              "base may not include"),
        "a bare include": ({"runtime/sched/t.cpp": '#include "s.hpp"\n'}, "does not name a layer"),
        "a continued shim line": ({"runtime/LAYERS": "base:\nsched: base\nshim: base/b.hpp\n"
                                                     "  base/a.hpp\n"}, None),
        "a layer's subfolder, from above": ({"runtime/base/arch/x.hpp": "#pragma once\n",
                                            "runtime/sched/u.cpp": '#include "base/arch/x.hpp"\n'},
                                           None),
        "a missing header": ({"runtime/sched/t.cpp": '#include "base/zz.hpp"\n'},
                             "no such runtime header"),
        "a flat source": ({"runtime/flat.cpp": ""}, "outside the layer folders"),
        "an unlisted folder": ({"runtime/misc/m.cpp": ""}, "does not name as a layer"),
        "a downward edge in LAYERS": ({"runtime/LAYERS": "base: sched\nsched: base\n"},
                                      "not a layer listed above"),
        "the shim past its surface": ({"shim/z.cpp": '#include "base/b.hpp"\n'},
                                      "the shim may not include"),
        "an example using internals": ({"examples/f.cpp": '#include "../runtime/base/a.hpp"\n'},
                                       "only through the public headers"),
        "a public header with internals": ({"include/weft/q.hpp": '#include "detail.hpp"\n'},
                                           "a public header includes"),
        "a public header with a library": ({"include/weft/q.hpp": "#include <liburing.h>\n"},
                                           "a public header includes"),
    }
    failures = 0
    for name, (extra, expect) in cases.items():
        tmp = tempfile.mkdtemp(prefix="check_layers.")
        try:
            for rel, text in {**files, **extra}.items():
                path = os.path.join(tmp, rel)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text)
            errors = check(tmp)
        finally:
            shutil.rmtree(tmp)
        ok = not errors if expect is None else any(expect in e for e in errors)
        if not ok:
            failures += 1
            print(f"self-test: {name}: expected {expect or 'no error'}, got {errors}")
    print(f"self-test: {len(cases) - failures} of {len(cases)} cases caught as expected")
    return failures == 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        sys.exit(0 if self_test() else 1)
    if len(sys.argv) > 2 or (len(sys.argv) == 2 and sys.argv[1].startswith("-")):
        sys.exit(__doc__)
    root = sys.argv[1] if len(sys.argv) == 2 else os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))
    errors = check(root)
    for e in errors:
        print(e)
    if errors:
        print(f"check_layers: {len(errors)} include(s) break runtime/LAYERS")
        sys.exit(1)
    print("check_layers: every include keeps to runtime/LAYERS")


if __name__ == "__main__":
    main()
