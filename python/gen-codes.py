#!/usr/bin/env python3
"""gen-codes.py: writes xous/_codes.py, Xous's error numbers and envelope kinds
as Python, from proto/xous-codes.h, the one list the C side takes them from.

Usage: gen-codes.py XOUS_CODES_H OUTPUT
"""
import re
import sys

ERROR_RE = re.compile(r'X\((\d+),\s*([A-Z0-9_]+),\s*"([^"]*)"\)')
KIND_RE = re.compile(r'X\((\d+),\s*([A-Z0-9_]+)\)')


def macro_body(header, macro):
    """The lines of the #define of macro, joined, without the continuation backslashes."""
    start = header.index("#define " + macro + "(X)")
    lines = []
    for line in header[start:].splitlines():
        lines.append(line.rstrip().rstrip("\\"))
        if not line.rstrip().endswith("\\"):
            break
    return " ".join(lines)


def parse(header):
    errors = [(int(n), name, text) for n, name, text in ERROR_RE.findall(macro_body(header, "XOUS_FOREACH_ERROR"))]
    kinds = [(int(n), name) for n, name in KIND_RE.findall(macro_body(header, "XOUS_FOREACH_KIND"))]
    if not errors or not kinds:
        raise SystemExit("gen-codes.py: found no errors or no kinds in the header")
    return errors, kinds


def render(errors, kinds):
    out = ['"""_codes: Xous\'s error numbers and envelope kinds. Generated from xous-codes.h by',
           'python/gen-codes.py at build time: do not edit."""', "", "# (number, NAME, what it means)", "ERRORS = ("]
    out += ["    (%d, %r, %r)," % e for e in errors]
    out += [")", "", "# (number, NAME), in Xous's order", "KINDS = ("]
    out += ["    (%d, %r)," % k for k in kinds]
    out += [")", ""]
    return "\n".join(out)


def main(argv):
    if len(argv) != 3:
        raise SystemExit("usage: gen-codes.py XOUS_CODES_H OUTPUT")
    with open(argv[1], encoding="utf-8") as f:
        errors, kinds = parse(f.read())
    with open(argv[2], "w", encoding="utf-8") as f:
        f.write(render(errors, kinds))


if __name__ == "__main__":
    main(sys.argv)
