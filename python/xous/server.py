"""server: Server, a server this process created, and the receiving of its
messages as Envelopes."""
import ctypes

from ._lib import c_sid, lib, name_bytes, timeout_ms, u32
from .connection import Sid, connect_sid
from .envelope import Envelope
from .errors import check


class Server:
    """A server this process created: register_name() (a named server) or
    create_server() (anonymous, known by its SID). .sid is its Sid, .name
    its name (None if anonymous).

    Receive its messages with receive(), try_receive(), by iterating, or
    from an event loop (fileno() and pending()):

        for env in server:              # receive() for ever
            with env:                   # dropped, that is answered, at the end
                ...

    A server is destroyed by destroy() (or unregister()) or at the end of a
    `with` block, never implicitly: it lives as long as the process does
    otherwise. Only this process may receive on it or destroy it.
    """

    def __init__(self, sid, name=None):
        self.sid = sid
        self.name = name
        self.destroyed = False

    def __repr__(self):
        return "<xous.Server %s%s%s>" % (self.sid, " %r" % self.name if self.name else "",
                                         " destroyed" if self.destroyed else "")

    def receive(self, timeout=None):
        """The next message, as an Envelope; waits (using no CPU, holding no
        lock) for ever or at most timeout seconds, then raises
        xous.TimeoutError. ServerNotFoundError once the server is destroyed."""
        pointer = ctypes.c_void_p()
        if timeout is None:
            e = lib.xous_receive_message(self.sid._c(), ctypes.byref(pointer))
        else:
            e = lib.xous_receive_message_timeout(self.sid._c(), ctypes.byref(pointer), timeout_ms(timeout))
        check(e, "receive")
        return Envelope(pointer.value)

    def try_receive(self):
        """The next message if one is queued, else None; never waits."""
        pointer = ctypes.c_void_p()
        check(lib.xous_try_receive_message(self.sid._c(), ctypes.byref(pointer)), "try_receive")
        return Envelope(pointer.value) if pointer.value else None

    def reply_and_receive_next(self, env=None):
        """Drops env (answering it; None: nothing to drop), then waits for
        the next message as receive() does: one round trip to xnsd instead
        of two."""
        pointer = ctypes.c_void_p(env._take() if env is not None else None)
        check(lib.xous_reply_and_receive_next(self.sid._c(), ctypes.byref(pointer)), "reply_and_receive_next")
        return Envelope(pointer.value)

    def fileno(self):
        """A descriptor that polls readable (level-triggered) while a message
        for this server waits, so that a Server goes into any event loop:
        selectors, asyncio's loop.add_reader(server, ...), select(). When it
        is readable, take the messages with pending(). The library owns it
        (do not read, write or close it) and closes it when the server is
        destroyed: take it out of the loop first. When xnsd goes away it
        stays readable, and the receive raises why."""
        fd = ctypes.c_int(-1)
        check(lib.xous_server_get_fd(self.sid._c(), ctypes.byref(fd)), "fileno")
        return fd.value

    def pending(self):
        """The messages waiting now, one Envelope at a time (try_receive()
        until it finds none): what an event loop takes when fileno() is
        readable. Readiness may be for a message another thread took
        first: then there is none."""
        while True:
            env = self.try_receive()
            if env is None:
                return
            yield env

    def __iter__(self):
        """Envelopes, one per receive(), for ever: leave the loop with break;
        an error (e.g. ServerNotFoundError when another thread destroys the
        server) ends it with that exception."""
        while True:
            yield self.receive()

    def connect(self):
        """A connection to this server (from this process: to itself)."""
        return connect_sid(self.sid)

    def destroy(self):
        """Destroys the server, and removes its name if it has one. Callers
        queued on it wake with ServerNotFoundError. ServerQueueFullError
        while a message received from it is unanswered: drop it first. A
        second destroy does nothing."""
        if self.destroyed:
            return
        if self.name is not None:
            check(lib.xous_unregister_server(self.sid._c()), "unregister %r" % (self.name,))
        else:
            check(lib.xous_destroy_server(self.sid._c()), "destroy_server")
        self.destroyed = True

    unregister = destroy

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.destroy()


def register_name(name, max_conns=0):
    """A new server with a random SID, registered under name (1 to 63 bytes
    of UTF-8, unique in xnsd). max_conns caps how many connections connect()
    ever hands out for the name (0: no limit). ServerExistsError if the
    name is taken, InvalidStringError for a bad name."""
    sid = c_sid()
    check(lib.xous_register_name(name_bytes(name), u32(max_conns, "max_conns"), ctypes.byref(sid)),
          "register_name(%r)" % (name,))
    return Server(Sid._from_c(sid), name)


def create_server():
    """A new anonymous server with a random SID: others reach it by its SID."""
    sid = c_sid()
    check(lib.xous_create_server(ctypes.byref(sid)), "create_server")
    return Server(Sid._from_c(sid))
