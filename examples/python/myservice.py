#!/usr/bin/env python3
"""myservice.py: the example service in Python, a drop-in for myservice-server
(same name, same opcodes, same answers): one opcode per caller idiom."""
import os
import sys
import threading

import xous
from myservice_api import (OP_ADD, OP_LOG_COUNT, OP_PRINT, OP_QUIT, OP_STATS, OP_STORE, OP_SUBSCRIBE, OP_TICK,
                           OP_TIMER, OP_UNSUBSCRIBE, OP_UPPERCASE, OP_WAIT_TICKS, SERVER_NAME, TEXT_MAX)

TICK_PERIOD = 0.1       # seconds
MAX_SUBSCRIBERS = 8

Kind = xous.Kind
# The kind each opcode must arrive as; anything else is dropped unread.
OPCODE_KIND = {
    OP_LOG_COUNT: Kind.SCALAR, OP_STORE: Kind.MOVE, OP_STATS: Kind.BLOCKING_SCALAR, OP_ADD: Kind.BLOCKING_SCALAR,
    OP_UPPERCASE: Kind.MUTABLE_BORROW, OP_PRINT: Kind.BORROW, OP_SUBSCRIBE: Kind.SCALAR,
    OP_UNSUBSCRIBE: Kind.BLOCKING_SCALAR, OP_WAIT_TICKS: Kind.BLOCKING_SCALAR, OP_QUIT: Kind.BLOCKING_SCALAR,
    OP_TIMER: Kind.SCALAR,
}


def say(text):
    print("[myservice.py] " + text, flush=True)


class Ticker:
    """The service's event source: a thread that sends it OP_TIMER every period while wanted."""

    def __init__(self, conn, period):
        self.conn, self.period = conn, period
        self.wanted = threading.Event()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, name="ticker", daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopping.is_set():
            self.wanted.wait()
            if self.stopping.wait(self.period):
                return
            if self.wanted.is_set():
                try:
                    self.conn.try_send_scalar(OP_TIMER)     # a full queue loses the tick
                except xous.ServerQueueFullError:
                    pass

    def set_running(self, running):
        if running:
            self.wanted.set()
        else:
            self.wanted.clear()

    def stop(self):
        self.stopping.set()
        self.wanted.set()
        self.thread.join(5)


class Service:
    def __init__(self, server):
        self.server = server
        self.count = 0
        self.note = b""
        self.ticks = 0
        self.subscribers = {}   # Sid -> our Connection to it
        self.waiter = None      # a parked OP_WAIT_TICKS: Rust's Option<MessageEnvelope>
        self.waiter_first = self.waiter_last = 0
        self.self_conn = server.connect()
        self.ticker = Ticker(self.self_conn, TICK_PERIOD)

    def on_log_count(self, env):
        self.count += env.args[0]
        say("OP_LOG_COUNT (Scalar) +%d: the counter is %d" % (env.args[0], self.count))

    def on_store(self, env):
        """The pages are ours now; the drop frees them."""
        text = env.payload()
        if len(text) > TEXT_MAX:
            raise ValueError("more than %d bytes" % TEXT_MAX)
        self.note = text
        say("OP_STORE (Move): kept %r (%d bytes)" % (text.decode(errors="replace"), len(text)))

    def on_stats(self, env):
        env.return_scalar(self.count, len(self.note))
        say("OP_STATS (BlockingScalar): answered counter %d, note of %d bytes" % (self.count, len(self.note)))

    def on_add(self, env):
        a, b = env.args[0], env.args[1]
        env.return_scalar((a + b) & 0xFFFFFFFF)
        say("OP_ADD (BlockingScalar): %d+%d=%d" % (a, b, (a + b) & 0xFFFFFFFF))

    def on_uppercase(self, env):
        """Changed in the caller's own buffer: it gets it back at the drop, with valid = its length."""
        text = env.payload()
        env.buf[env.offset:env.offset + len(text)] = text.upper()
        env.set_offset_valid(env.offset, len(text))
        say("OP_UPPERCASE (MutableBorrow): %r, in the caller's own buffer" % text.upper().decode(errors="replace"))

    def on_print(self, env):
        say("OP_PRINT (Borrow): %r" % env.payload().decode(errors="replace"))

    def on_subscribe(self, env):
        """try_connect_sid: a SID that names no server must not stall the loop."""
        sid = xous.Sid(*env.args)
        if sid in self.subscribers:
            return
        if len(self.subscribers) >= MAX_SUBSCRIBERS:
            say("OP_SUBSCRIBE (Scalar): no room for another subscriber, ignored")
            return
        try:
            self.subscribers[sid] = xous.try_connect_sid(sid)
        except xous.XousError as e:
            say("OP_SUBSCRIBE (Scalar): server %08x...: %s, ignored" % (sid.w0, e))
            return
        say("OP_SUBSCRIBE (Scalar): connected to the caller's server %08x..., will push OP_TICK" % sid.w0)

    def on_unsubscribe(self, env):
        conn = self.subscribers.pop(xous.Sid(*env.args), None)
        if conn:
            conn.disconnect()
        env.return_scalar(1 if conn else 0)
        say("OP_UNSUBSCRIBE (BlockingScalar): %s" % ("disconnected" if conn else "was not subscribed"))

    def on_wait_ticks(self, env):
        """Parks the envelope: defer() moves it out of the loop's `with`, which then drops nothing."""
        n = env.args[0]
        if self.waiter:
            say("OP_WAIT_TICKS (BlockingScalar): a caller is already waiting; dropped unanswered")
            return
        self.waiter_first, self.waiter_last = self.ticks + 1, self.ticks + n
        if n == 0:
            env.return_scalar(self.waiter_first, self.waiter_last)
            return
        self.waiter = env.defer()
        say("OP_WAIT_TICKS (BlockingScalar) %d: parked until tick %d; the loop goes on" % (n, self.waiter_last))

    def waiter_answer(self):
        """Takes the parked envelope back, answers it, and drops it: the caller wakes."""
        with self.waiter as env:
            self.waiter = None
            env.return_scalar(self.waiter_first, self.waiter_last)
        say("tick %d: answered the parked OP_WAIT_TICKS with ticks %d..%d"
            % (self.ticks, self.waiter_first, self.waiter_last))

    def push_tick(self):
        """try_send_scalar: a subscriber that does not keep up misses ticks; it never blocks us."""
        pushed = 0
        for sid, conn in list(self.subscribers.items()):
            try:
                conn.try_send_scalar(OP_TICK, self.ticks)
                pushed += 1
            except xous.ServerQueueFullError:
                pass
            except xous.XousError as e:
                say("subscriber %08x...: %s, dropped" % (sid.w0, e))
                del self.subscribers[sid]
                conn.disconnect()
        return pushed

    def on_timer(self, env):
        if env.sender_pid != os.getpid():
            say("OP_TIMER from pid %d, not from our ticker: ignored" % env.sender_pid)
            return
        self.ticks += 1
        pushed = self.push_tick()
        say("tick %d%s" % (self.ticks, ": pushed OP_TICK to %d subscriber(s)" % pushed if pushed else ""))
        if self.waiter and self.ticks >= self.waiter_last:
            self.waiter_answer()

    def on_quit(self, env):
        env.return_scalar(1)
        say("OP_QUIT (BlockingScalar): acked, leaving the loop")

    HANDLERS = {OP_LOG_COUNT: on_log_count, OP_STORE: on_store, OP_STATS: on_stats, OP_ADD: on_add,
                OP_UPPERCASE: on_uppercase, OP_PRINT: on_print, OP_SUBSCRIBE: on_subscribe,
                OP_UNSUBSCRIBE: on_unsubscribe, OP_WAIT_TICKS: on_wait_ticks, OP_TIMER: on_timer, OP_QUIT: on_quit}

    def dispatch(self, env):
        """Handles one message; False after OP_QUIT."""
        if OPCODE_KIND.get(env.id) != env.kind:
            say("opcode %d as %s is not in our API, dropped" % (env.id, env.kind.name))
            return True
        try:
            self.HANDLERS[env.id](self, env)
        except ValueError as e:
            say("opcode %d: %s, ignored" % (env.id, e))
        return env.id != OP_QUIT

    def run(self):
        """The event loop: each envelope is dropped, answering its caller, at the end of its pass."""
        for env in self.server:
            with env:
                if not self.dispatch(env):
                    return
            self.ticker.set_running(bool(self.subscribers) or self.waiter is not None)

    def close(self):
        """A waiter still parked is dropped unanswered: its call fails instead of hanging."""
        if self.waiter:
            self.waiter.drop()
        for conn in self.subscribers.values():
            conn.disconnect()
        self.ticker.stop()
        self.self_conn.disconnect()


def main():
    try:
        server = xous.register_name(SERVER_NAME)
    except xous.XousError as e:
        print("myservice.py: register %r: %s" % (SERVER_NAME, e), file=sys.stderr)
        return 1
    with server:
        service = Service(server)
        say("registered %r (pid %d), waiting for messages" % (SERVER_NAME, os.getpid()))
        try:
            service.run()
        finally:
            service.close()
    say("unregistered, exiting")
    return 0


if __name__ == "__main__":
    sys.exit(main())
