"""connection: Connection, a process's handle to a server (a CID), and the
ways to get one: by name, or by SID."""
import ctypes
from typing import NamedTuple

from ._lib import c_scalar_reply, c_sid, lib, name_bytes, timeout_ms, u32
from .errors import check


class Sid(NamedTuple):
    """A server ID: 128 random bits as four 32-bit words. Knowing a SID is
    the capability to connect to its server; its words fit the four
    arguments of a Scalar (conn.send_scalar(OP, *sid)), which is how a
    process hands its server to another. str() is 32 hex digits, as xnsctl
    shows it."""
    w0: int
    w1: int
    w2: int
    w3: int

    def __str__(self):
        return "%08x%08x%08x%08x" % self

    @classmethod
    def from_hex(cls, text):
        """The SID that str() printed as text (32 hex digits)."""
        if len(text) != 32:
            raise ValueError("a SID is 32 hex digits, not %r" % (text,))
        return cls(*(int(text[i:i + 8], 16) for i in range(0, 32, 8)))

    def _c(self):
        return c_sid((ctypes.c_uint32 * 4)(*(u32(w, "a SID word") for w in self)))

    @classmethod
    def _from_c(cls, sid):
        return cls(*sid.w)


class Connection:
    """A connection to a server: a CID, valid in every thread of this
    process. Connecting twice to the same server gives the same CID, so
    several Connection objects may share one; disconnect() gives it back
    for all of them. Nothing is disconnected implicitly but at the end of a
    `with` block.

    The sends, one per message kind. Scalar and Move return once the message
    is on its way; BlockingScalar, Borrow and MutableBorrow wait for the
    server's answer, for ever or at most timeout seconds (a float), after
    which they raise xous.TimeoutError (also the built-in TimeoutError). A
    server that goes away before answering raises ServerNotFoundError.
    Waiting holds no lock: other threads run meanwhile. opcodes and
    arguments are 32-bit words.
    """

    def __init__(self, cid):
        self.cid = cid

    def __repr__(self):
        return "<xous.Connection cid=%d>" % self.cid

    def send_scalar(self, id, a1=0, a2=0, a3=0, a4=0):
        """Scalar: opcode id and four words; returns once posted, without
        waiting for the server. A Scalar that could not be delivered (its
        server gone) is reported by the next send_scalar on this CID."""
        check(lib.xous_send_scalar(self.cid, *_words(id, a1, a2, a3, a4)), "send_scalar")

    def try_send_scalar(self, id, a1=0, a2=0, a3=0, a4=0):
        """As send_scalar, but raises ServerQueueFullError instead of waiting
        for room in a full queue."""
        check(lib.xous_try_send_scalar(self.cid, *_words(id, a1, a2, a3, a4)), "try_send_scalar")

    def blocking_scalar(self, id, a1=0, a2=0, a3=0, a4=0, timeout=None):
        """BlockingScalar: waits for the server's answer and returns it, a
        tuple of 1, 2 or 5 words. InternalError if the server dropped the
        message without answering."""
        reply = c_scalar_reply()
        words = _words(id, a1, a2, a3, a4)
        if timeout is None:
            e = lib.xous_blocking_scalar(self.cid, *words, ctypes.byref(reply))
        else:
            e = lib.xous_blocking_scalar_timeout(self.cid, *words, ctypes.byref(reply), timeout_ms(timeout))
        check(e, "blocking_scalar")
        return tuple(reply.v[:reply.count])

    def send(self, id, buf, offset=0, valid=None):
        """Move: gives buf (a Buffer) to the server, with offset and valid
        (default: the rest of the buffer after offset). Returns once queued;
        then the buffer is the server's and freed here (buf.freed). On an
        error it is still yours."""
        valid = _valid(buf, offset, valid)
        e = lib.xous_send(self.cid, u32(id, "id"), buf._pointer_to_give("sending the buffer"), offset, valid)
        check(e, "send")
        buf._given()

    def lend(self, id, buf, offset=0, valid=None, timeout=None):
        """Borrow: lends buf to the server, read-only there, until it drops
        the envelope; waits until then. valid defaults to the rest of the
        buffer after offset. After a timeout, buf stays lent (buf.busy)
        until the server drops it."""
        valid = _valid(buf, offset, valid)
        if timeout is None:
            e = lib.xous_lend(self.cid, u32(id, "id"), buf._pointer(), offset, valid)
        else:
            e = lib.xous_lend_timeout(self.cid, u32(id, "id"), buf._pointer(), offset, valid, timeout_ms(timeout))
        check(e, "lend")

    def lend_mut(self, id, buf, offset=0, valid=None, timeout=None):
        """MutableBorrow: lends buf to the server, which may write it, until
        it drops the envelope; waits until then and returns the (offset,
        valid) the server set. valid defaults to the rest of the buffer
        after offset. After a timeout, buf stays lent (buf.busy) until the
        server drops it, and the server may still write it until then."""
        c_offset = ctypes.c_uint32(offset)
        c_valid = ctypes.c_uint32(_valid(buf, offset, valid))
        if timeout is None:
            e = lib.xous_lend_mut(self.cid, u32(id, "id"), buf._pointer(), ctypes.byref(c_offset),
                                  ctypes.byref(c_valid))
        else:
            e = lib.xous_lend_mut_timeout(self.cid, u32(id, "id"), buf._pointer(), ctypes.byref(c_offset),
                                          ctypes.byref(c_valid), timeout_ms(timeout))
        check(e, "lend_mut")
        return c_offset.value, c_valid.value

    def disconnect(self):
        """Gives the CID back (for every Connection object sharing it)."""
        check(lib.xous_disconnect(self.cid), "disconnect")

    close = disconnect

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.disconnect()


def _words(id, a1, a2, a3, a4):
    return (u32(id, "id"), u32(a1, "a1"), u32(a2, "a2"), u32(a3, "a3"), u32(a4, "a4"))


def _valid(buf, offset, valid):
    u32(offset, "offset")
    if valid is None:
        valid = max(len(buf) - offset, 0)
    return u32(valid, "valid")


def connect(name):
    """A connection to the server registered as name (xous_request_connection).
    ServerNotFoundError when no server has that name, AccessDeniedError when
    the name has handed out all its connections."""
    cid = ctypes.c_uint32()
    check(lib.xous_request_connection(name_bytes(name), ctypes.byref(cid)), "connect(%r)" % (name,))
    return Connection(cid.value)


def connect_blocking(name):
    """As connect, but waits until a server registers name."""
    cid = ctypes.c_uint32()
    check(lib.xous_request_connection_blocking(name_bytes(name), ctypes.byref(cid)),
          "connect_blocking(%r)" % (name,))
    return Connection(cid.value)


def connect_sid(sid):
    """A connection to the server with SID sid (a Sid, or four words),
    waiting until that server exists (xous_connect)."""
    cid = ctypes.c_uint32()
    check(lib.xous_connect(Sid(*sid)._c(), ctypes.byref(cid)), "connect_sid")
    return Connection(cid.value)


def try_connect_sid(sid):
    """As connect_sid, without waiting: ServerNotFoundError for a SID that no server has."""
    cid = ctypes.c_uint32()
    check(lib.xous_try_connect(Sid(*sid)._c(), ctypes.byref(cid)), "try_connect_sid")
    return Connection(cid.value)


def trusted_init_done():
    """True when every name registered with a connection limit has handed out
    all its connections (Xous's trust on first use)."""
    done = ctypes.c_bool()
    check(lib.xous_trusted_init_done(ctypes.byref(done)), "trusted_init_done")
    return done.value
