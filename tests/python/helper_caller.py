#!/usr/bin/env python3
"""helper_caller.py: one memory message from a process of its own, for tests
in which the test process is the server. Prints "sent", then, once answered,
"offset valid BYTES" (the valid bytes in hex) or "error NAME".

Usage: helper_caller.py NAME OPCODE {lend|lend_mut} TEXT
"""
import sys

import xous


def main():
    name, opcode, kind, text = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4].encode()
    conn = xous.connect(name)
    with xous.Buffer.from_bytes(text) as buf:
        print("sent", flush=True)
        try:
            if kind == "lend_mut":
                offset, valid = conn.lend_mut(opcode, buf, 0, len(text), timeout=10)
            else:
                conn.lend(opcode, buf, 0, len(text), timeout=10)
                offset, valid = 0, len(text)
        except xous.XousError as e:
            print("error", e.name, flush=True)
            return 0
        print(offset, valid, buf.read(offset, valid).hex(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
