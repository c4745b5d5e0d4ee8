#!/usr/bin/env python3
"""caller.py: drives myservice (the C myservice-server or myservice.py) through
the four caller idioms from Python and checks every answer; exits 1 on a
wrong one."""
import os
import sys
import threading
import time

import xous
from myservice_api import (OP_ADD, OP_LOG_COUNT, OP_PRINT, OP_QUIT, OP_STATS, OP_STORE, OP_SUBSCRIBE, OP_TICK,
                           OP_UNSUBSCRIBE, OP_UPPERCASE, OP_WAIT_TICKS, SERVER_NAME, TEXT_MAX)

LISTENER_TICKS = 3      # pushes to wait for in idiom 3
LISTENER_STOP = OP_TICK + 1
TIMEOUT = 5.0           # seconds any one answer may take
WAIT_TICKS = 5          # ticks to wait for in idiom 4


class Wrong(Exception):
    """An answer that is not what the service should have said."""


def expect(condition, message):
    if not condition:
        raise Wrong(message)


def non_synchronizing(conn):
    note = b"a note for the service"
    for n in (1, 2, 3):
        conn.send_scalar(OP_LOG_COUNT, n)
    conn.send(OP_STORE, xous.Buffer.from_bytes(note), 0, len(note))     # a Move: the buffer is the service's now
    count, note_len = conn.blocking_scalar(OP_STATS, timeout=TIMEOUT)  # answered after all four, in order
    expect((count, note_len) == (6, len(note)), "OP_STATS answered %d, %d" % (count, note_len))
    print("1. non-synchronizing: 3 Scalars and a Move, none waited; then OP_STATS: counter %d, note of %d bytes"
          % (count, note_len))


def synchronous(conn, page):
    (total,) = conn.blocking_scalar(OP_ADD, 2, 3, timeout=TIMEOUT)
    expect(total == 5, "OP_ADD answered 2+3=%d" % total)
    text = b"hello, xns"
    page.write(text)
    offset, valid = conn.lend_mut(OP_UPPERCASE, page, 0, len(text), timeout=TIMEOUT)
    upper = page.read(offset, valid)
    expect(upper == b"HELLO, XNS", "OP_UPPERCASE gave back %r" % upper)
    conn.lend(OP_PRINT, page, 0, valid, timeout=TIMEOUT)
    print("2. synchronous: 2+3=%d, %r uppercased in our own buffer to %r, which the service printed"
          % (total, text.decode(), upper.decode()))


class Listener:
    """Our own anonymous server, served on a thread, to which the service pushes OP_TICK."""

    def __init__(self):
        self.server = xous.create_server()
        self.ticks = []
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self.run, name="listener")
        self.thread.start()

    def run(self):
        for env in self.server:
            with env:
                if env.id == OP_TICK and env.kind == xous.Kind.SCALAR:
                    with self.changed:
                        self.ticks.append(env.args[0])
                        self.changed.notify()
                elif (env.id, env.kind, env.sender_pid) == (LISTENER_STOP, xous.Kind.BLOCKING_SCALAR, os.getpid()):
                    env.return_scalar(1)
                    return

    def wait(self, n, timeout):
        with self.changed:
            return self.changed.wait_for(lambda: len(self.ticks) >= n, timeout)

    def stop(self):
        with self.server.connect() as conn:
            conn.blocking_scalar(LISTENER_STOP, timeout=TIMEOUT)
        self.thread.join(TIMEOUT)
        self.server.destroy()


def asynchronous(conn):
    listener = Listener()
    try:
        conn.send_scalar(OP_SUBSCRIBE, *listener.server.sid)
        received = listener.wait(LISTENER_TICKS, TIMEOUT)
        (was_subscribed,) = conn.blocking_scalar(OP_UNSUBSCRIBE, *listener.server.sid, timeout=TIMEOUT)
    finally:
        listener.stop()
    ticks = listener.ticks[:LISTENER_TICKS]
    expect(received, "only %d of %d ticks were pushed within %g s" % (len(ticks), LISTENER_TICKS, TIMEOUT))
    expect(was_subscribed == 1, "OP_UNSUBSCRIBE answered %d" % was_subscribed)
    expect(ticks == list(range(ticks[0], ticks[0] + LISTENER_TICKS)), "ticks out of order: %s" % ticks)
    print("3. asynchronous: our own server %s got ticks %s pushed by the service" % (listener.server.sid, ticks))


def deferred(conn):
    start = time.monotonic()
    first, last = conn.blocking_scalar(OP_WAIT_TICKS, WAIT_TICKS, timeout=TIMEOUT)
    expect(last - first + 1 == WAIT_TICKS, "OP_WAIT_TICKS(%d) answered ticks %d..%d" % (WAIT_TICKS, first, last))
    print("4. deferred: OP_WAIT_TICKS(%d) kept us blocked %.2f s while the service went on; ticks %d..%d"
          % (WAIT_TICKS, time.monotonic() - start, first, last))


def main():
    conn = xous.connect_blocking(SERVER_NAME)
    try:
        with xous.Buffer(TEXT_MAX) as page:     # lent for every Borrow, made once
            non_synchronizing(conn)
            synchronous(conn, page)
            asynchronous(conn)
            deferred(conn)
        expect(conn.blocking_scalar(OP_QUIT, timeout=TIMEOUT) == (1,), "OP_QUIT was not acknowledged")
    except (Wrong, xous.XousError) as e:
        print("caller.py: FAILED: %s" % e, file=sys.stderr)
        return 1
    finally:
        conn.disconnect()
    print("all four idioms gave the expected answers; the service acknowledged OP_QUIT")
    return 0


if __name__ == "__main__":
    sys.exit(main())
