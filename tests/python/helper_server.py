#!/usr/bin/env python3
"""helper_server.py: a Python xous server for the tests, in a process of its
own: registers NAME, prints "ready SID", and serves helper_api's opcodes
until QUIT.

Usage: helper_server.py NAME
"""
import sys
import zlib

import xous
from helper_api import Op


class Helper:
    def __init__(self):
        self.count = 0
        self.stored = b""
        self.borrow = (0, 0, 0)
        self.parked = []

    def borrowed(self, env):
        """A Borrow's bytes, and whether the read-only view refused a write."""
        crc = zlib.crc32(env.payload())
        try:
            env.buf[0] = 0
            refused = 0
        except TypeError:
            refused = 1
        self.borrow = (crc, refused, len(env.buf))

    def uppercase(self, env):
        text = env.payload()
        env.buf[env.offset:env.offset + len(text)] = text.upper()
        env.set_offset_valid(env.offset + 1, len(text) - 1)

    def release(self, env):
        n = len(self.parked)
        for parked in self.parked:
            parked.drop()
        self.parked = []
        env.return_scalar(n)

    def handle(self, env):
        """One message; False after QUIT."""
        op, a = env.id, env.args
        if op == Op.REPLY1:
            env.return_scalar((a[0] + a[1]) & 0xFFFFFFFF)
        elif op == Op.REPLY2:
            env.return_scalar(a[1], a[0])
        elif op == Op.REPLY5:
            env.return_scalar(a[0], a[1], a[2], a[3], sum(a) & 0xFFFFFFFF)
        elif op == Op.COUNT:
            self.count += a[0]
        elif op == Op.GET_COUNT:
            env.return_scalar(self.count)
        elif op == Op.STORE:
            self.stored = env.payload()
        elif op == Op.GET_STORED:
            env.return_scalar(len(self.stored), zlib.crc32(self.stored))
        elif op == Op.BORROW:
            self.borrowed(env)
        elif op == Op.GET_BORROW:
            env.return_scalar(*self.borrow, 0, 0)
        elif op == Op.UPPER:
            self.uppercase(env)
        elif op == Op.HOLD:
            self.parked.append(env.defer())
            print("held", env.kind.name, flush=True)
        elif op == Op.RELEASE:
            self.release(env)
        elif op == Op.QUIT:
            env.return_scalar(1)
            return False
        return True     # UNANSWERED, and anything else: dropped unanswered


def main():
    helper = Helper()
    with xous.register_name(sys.argv[1]) as server:
        print("ready", server.sid, flush=True)
        for env in server:
            with env:
                if not helper.handle(env):
                    break
    return 0


if __name__ == "__main__":
    sys.exit(main())
